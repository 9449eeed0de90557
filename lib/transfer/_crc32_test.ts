import { equal } from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32 } from "./_crc32.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("crc32() gives the check values of CRC-32/ISO-HDLC", () => {
  equal(crc32(new Uint8Array(0)), 0);
  equal(crc32(text("a")), 0xe8b7be43);
  equal(crc32(text("123456789")), 0xcbf43926);
  equal(crc32(text("The quick brown fox jumps over the lazy dog")), 0x414fa339);
});

Deno.test("crc32() agrees with zlib at every length, offset and split", () => {
  const buffer = crypto.getRandomValues(new Uint8Array(300));
  for (let offset = 0; offset < 8; offset++) {
    for (let length = 0; length + offset <= 80; length++) {
      const bytes = buffer.subarray(offset, offset + length);
      const expected = zlibCrc32(bytes) >>> 0;
      equal(crc32(bytes), expected, `offset ${offset}, length ${length}`);
      for (let split = 0; split <= length; split += 7) {
        equal(crc32(bytes.subarray(split), crc32(bytes.subarray(0, split))), expected);
      }
    }
  }
});

/** The plain algorithm, one table look-up a byte: the baseline. */
function crc32Bytewise(bytes: Uint8Array): number {
  const table = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    table[b] = c;
  }
  let crc = -1;
  for (let i = 0; i < bytes.length; i++) crc = (crc >>> 8) ^ table[(crc ^ bytes[i]!) & 0xff]!;
  return ~crc >>> 0;
}

Deno.test("crc32() speed, beside one table a byte (printed, not asserted)", () => {
  const MiB = 1 << 20;
  const bytes = new Uint8Array(64 * MiB);
  for (let at = 0; at < bytes.length; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, at + 65536));
  }
  const rate = (f: (b: Uint8Array) => number) => {
    let best = 0;
    for (let round = 0; round < 3; round++) {
      const start = performance.now();
      f(bytes);
      best = Math.max(best, bytes.length / MiB / ((performance.now() - start) / 1000));
    }
    return best;
  };
  equal(crc32(bytes), crc32Bytewise(bytes));
  console.log(
    `crc32: ${rate(crc32).toFixed(0)} MiB/s; one table a byte: ${
      rate(crc32Bytewise).toFixed(0)
    } MiB/s`,
  );
});
