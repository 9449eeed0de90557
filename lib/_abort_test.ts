import { equal } from "node:assert/strict";
import { whenAborted } from "./_abort.ts";

Deno.test("whenAborted() calls at once when its signal has aborted already", () => {
  let calls = 0;
  whenAborted(AbortSignal.abort(), () => calls++)();
  equal(calls, 1);
});

Deno.test("whenAborted() calls once on abort, and never once stopped", () => {
  let calls = 0;
  const first = new AbortController();
  whenAborted(first.signal, () => calls++);
  first.abort();
  first.abort();
  equal(calls, 1);
  const second = new AbortController();
  whenAborted(second.signal, () => calls++)();
  second.abort();
  equal(calls, 1);
});

Deno.test("whenAborted() without a signal does nothing", () => {
  whenAborted(undefined, () => {
    throw new Error("called");
  })();
});
