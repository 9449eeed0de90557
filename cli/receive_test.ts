import { equal, rejects } from "node:assert/strict";
import type { Manifest } from "../lib/transfer/manifest.ts";
import { TransferError } from "../lib/transfer/messages.ts";
import { confirmOnce } from "./receive.ts";

function offer(size: number): Manifest {
  return { entries: [{ path: "f", kind: "file", size, mode: 0o644 }], files: 1, bytes: size };
}

Deno.test("confirmOnce() asks once; the run after a fallback takes the same offer without asking", async () => {
  let asked = 0;
  const confirm = confirmOnce(() => Promise.resolve(++asked > 0));
  equal(await confirm(offer(5), false), true);
  equal(await confirm(offer(5), true), true);
  equal(asked, 1);
});

Deno.test("confirmOnce() refuses a different offer after a fallback", async () => {
  const confirm = confirmOnce(() => Promise.resolve(true));
  await confirm(offer(5), false);
  await rejects(
    confirm(offer(6), true),
    (error) => error instanceof TransferError && error.code === "protocol",
  );
});

Deno.test("confirmOnce() asks again after a fallback when nothing was accepted yet", async () => {
  const answers = [false, true];
  let asked = 0;
  const confirm = confirmOnce(() => Promise.resolve(answers[asked++]!));
  equal(await confirm(offer(5), false), false);
  equal(await confirm(offer(5), true), true);
  equal(asked, 2);
});
