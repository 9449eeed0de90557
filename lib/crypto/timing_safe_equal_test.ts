import { equal, throws } from "node:assert/strict";
import { timingSafeEqual } from "./timing_safe_equal.ts";

Deno.test("timingSafeEqual() is true for equal bytes", () => {
  equal(timingSafeEqual(new Uint8Array(), new Uint8Array()), true);
  equal(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])), true);
});

Deno.test("timingSafeEqual() is false for any differing byte or length", () => {
  const a = new Uint8Array(32).fill(7);
  for (let i = 0; i < a.length; i++) {
    const b = a.slice();
    b[i] = b[i]! ^ 0x80;
    equal(timingSafeEqual(a, b), false);
  }
  equal(timingSafeEqual(a, a.subarray(1)), false);
});

Deno.test("timingSafeEqual() rejects non-byte input", () => {
  // @ts-expect-error: testing a string
  throws(() => timingSafeEqual("ab", new Uint8Array(2)), TypeError);
});
