/**
 * Compares two byte strings in time that depends only on their lengths, not
 * on where they differ. Use it for secrets such as MAC tags.
 *
 * @example Usage
 * ```ts
 * import { timingSafeEqual } from "./timing_safe_equal.ts";
 *
 * timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * ```
 *
 * @param a The first byte string.
 * @param b The second byte string.
 * @returns `true` if both have the same length and bytes.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) {
    throw new TypeError("Cannot compare: both arguments must be Uint8Array");
  }
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
