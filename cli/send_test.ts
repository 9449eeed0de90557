import { equal, throws } from "node:assert/strict";
import { UsageError } from "./errors.ts";
import { parseSendArgs } from "./send.ts";

Deno.test("parseSendArgs() reads --qr as true and --no-qr as false, and neither as unset", () => {
  equal(parseSendArgs(["--qr", "file"]).qr, true);
  equal(parseSendArgs(["--no-qr", "file"]).qr, false);
  equal("qr" in parseSendArgs(["file"]), false);
  throws(() => parseSendArgs(["--qr", "--no-qr", "file"]), UsageError);
});
