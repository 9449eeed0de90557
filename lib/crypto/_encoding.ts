// String utilities of draft-irtf-cfrg-cpace, appendix "CPace function definitions".

import { concatBytes } from "@noble/hashes/utils.js";

/** Largest length {@linkcode readLv} accepts for one field (2^28 - 1, four LEB128 bytes). */
const LV_MAX_LENGTH = 0x0fff_ffff;

/** Returns the LEB128 encoding of `length` followed by `data` (`prepend_len`). */
export function prependLen(data: Uint8Array): Uint8Array<ArrayBuffer> {
  const prefix: number[] = [];
  let length = data.length;
  do {
    const low = length & 0x7f;
    length = Math.floor(length / 128);
    prefix.push(length > 0 ? low | 0x80 : low);
  } while (length > 0);
  const out = new Uint8Array(prefix.length + data.length);
  out.set(prefix);
  out.set(data, prefix.length);
  return out;
}

/** Concatenates the `prependLen` encodings of every argument (`lv_cat`). */
export function lvCat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concat(parts.map(prependLen));
}

/** Concatenates byte strings. */
export function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concatBytes(...parts);
}

/** Whether `a` sorts after `b` in lexicographical byte order (`lexiographically_larger`). */
export function lexicographicallyLarger(a: Uint8Array, b: Uint8Array): boolean {
  const common = Math.min(a.length, b.length);
  for (let i = 0; i < common; i++) {
    const x = a[i]!, y = b[i]!;
    if (x !== y) return x > y;
  }
  return a.length > b.length;
}

/** Ordered concatenation: `b"oc"`, then the larger string, then the smaller (`o_cat`). */
export function oCat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const OC = new Uint8Array([0x6f, 0x63]);
  return lexicographicallyLarger(a, b) ? concat([OC, a, b]) : concat([OC, b, a]);
}

/**
 * Reads one length-value field at `offset`, or returns `undefined` when the
 * bytes there are not a canonical (shortest) LEB128 length followed by that
 * many bytes.
 */
export function readLv(
  bytes: Uint8Array,
  offset: number,
): { value: Uint8Array; next: number } | undefined {
  let length = 0;
  let i = offset;
  for (let shift = 1;; shift *= 128) {
    const byte = bytes[i++];
    if (byte === undefined || shift > LV_MAX_LENGTH) return undefined;
    length += (byte & 0x7f) * shift;
    if (byte < 0x80) {
      // A multi-byte encoding that ends in 0x00 is not the shortest one.
      if (byte === 0 && shift > 1) return undefined;
      break;
    }
  }
  if (length > LV_MAX_LENGTH || i + length > bytes.length) return undefined;
  return { value: bytes.subarray(i, i + length), next: i + length };
}
