import { deepEqual, equal } from "node:assert/strict";
import { describeFailure, EXIT } from "./errors.ts";
import { TransferError } from "../lib/transfer/messages.ts";

Deno.test("describeFailure() reports a broken direct connection as a network failure", () => {
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  deepEqual(describeFailure(reset), {
    error: "network",
    exit: EXIT.NETWORK,
    message: "The connection to the other side broke (read ECONNRESET)",
  });
  equal(describeFailure(new Deno.errors.BrokenPipe("broken pipe")).exit, EXIT.NETWORK);
});

Deno.test("describeFailure() keeps other errors apart", () => {
  equal(describeFailure(new Error("disk full")).error, "error");
  equal(describeFailure(Object.assign(new Error("x"), { code: "ENOSPC" })).exit, EXIT.ERROR);
  equal(describeFailure(new TransferError("stalled", "quiet")).exit, EXIT.NETWORK);
  equal(describeFailure(new TransferError("cancelled", "Cancelled")).error, "cancelled");
});
