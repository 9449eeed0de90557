import { equal } from "node:assert/strict";
import { sleep } from "./_sleep.ts";

// An hour-long timer left behind would fail these tests (the op sanitizer).
const HOUR_MS = 3_600_000;

Deno.test("sleep() resolves at once when its signal has aborted already", async () => {
  await sleep(HOUR_MS, AbortSignal.abort());
});

Deno.test("sleep() resolves when its signal aborts, and clears its timer", async () => {
  const stop = new AbortController();
  let done = false;
  const sleeping = sleep(HOUR_MS, stop.signal).then(() => (done = true));
  await Promise.resolve();
  equal(done, false);
  stop.abort();
  await sleeping;
  equal(done, true);
});

Deno.test("sleep() resolves after its time without an abort", async () => {
  await sleep(1, new AbortController().signal);
});
