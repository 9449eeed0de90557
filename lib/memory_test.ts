import { equal, notEqual } from "node:assert/strict";
import { giveBack, SPARE_BUFFER_BYTES, takeBuffer } from "./memory.ts";

Deno.test("takeBuffer() hands out a given-back buffer again, once", () => {
  const first = takeBuffer(1024 * 1024);
  equal(first.length, 1024 * 1024);
  equal(first.buffer.byteLength, SPARE_BUFFER_BYTES);
  giveBack(first.subarray(100, 200));
  giveBack(first); // twice: ignored
  const again = takeBuffer(300_000);
  equal(again.buffer, first.buffer);
  equal(again.length, 300_000);
  notEqual(takeBuffer(300_000).buffer, first.buffer);
  giveBack(again);
});

Deno.test("takeBuffer() makes small and oversized buffers afresh, and giveBack() ignores foreign ones", () => {
  const spare = takeBuffer(SPARE_BUFFER_BYTES);
  giveBack(spare);
  equal(takeBuffer(100).buffer.byteLength, 100);
  equal(takeBuffer(SPARE_BUFFER_BYTES + 1).length, SPARE_BUFFER_BYTES + 1);
  const foreign = new Uint8Array(SPARE_BUFFER_BYTES);
  giveBack(foreign);
  const next = takeBuffer(SPARE_BUFFER_BYTES);
  equal(next.buffer, spare.buffer);
  notEqual(takeBuffer(SPARE_BUFFER_BYTES).buffer, foreign.buffer);
});
