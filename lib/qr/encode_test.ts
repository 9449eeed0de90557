import { deepEqual, equal, ok, throws } from "node:assert/strict";
// Test-only: a second, independent encoder to compare modules with.
import qrcodeGenerator from "npm:qrcode-generator@1.4.4";
import {
  byteCapacity,
  dataCodewords,
  encodeQr,
  formatBits,
  MAX_QR_VERSION,
  QrCode,
  totalCodewords,
  versionBits,
} from "./encode.ts";
import { readQr } from "./_test_utils.ts";

const URL_WITH_CODE = "https://punch.example/#4812-velvet-harbor";

/** The symbol as RGBA pixels, `scale` per module, black on white, with a 4-module quiet zone. */
function raster(qr: QrCode, scale = 4): { data: Uint8ClampedArray; width: number } {
  const width = (qr.size + 8) * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  for (let y = 0; y < width; y++) {
    for (let x = 0; x < width; x++) {
      if (!qr.isDark(Math.floor(y / scale) - 4, Math.floor(x / scale) - 4)) continue;
      data.fill(0, (y * width + x) * 4, (y * width + x) * 4 + 3);
    }
  }
  return { data, width };
}

function decode(qr: QrCode): string | undefined {
  const { data, width } = raster(qr);
  return readQr(data, width, width)?.data;
}

Deno.test("encodeQr() sizes match ISO/IEC 18004's tables for level M, versions 1 to 10", () => {
  const versions = Array.from({ length: MAX_QR_VERSION }, (_, i) => i + 1);
  // Table 1 (all codewords), Table 9 (data codewords at M), Table 7 (bytes at M).
  deepEqual(versions.map(totalCodewords), [26, 44, 70, 100, 134, 172, 196, 242, 292, 346]);
  deepEqual(versions.map(dataCodewords), [16, 28, 44, 64, 86, 108, 124, 154, 182, 216]);
  deepEqual(versions.map(byteCapacity), [14, 26, 42, 62, 84, 106, 122, 152, 180, 213]);
});

Deno.test("formatBits() and versionBits() match ISO/IEC 18004's Annex C and D", () => {
  deepEqual(
    Array.from({ length: 8 }, (_, mask) => formatBits(mask).toString(2).padStart(15, "0")),
    [
      "101010000010010",
      "101000100100101",
      "101111001111100",
      "101101101001011",
      "100010111111001",
      "100000011001110",
      "100111110010111",
      "100101010100000",
    ],
  );
  deepEqual([7, 8, 9, 10].map(versionBits), [0x07c94, 0x085bc, 0x09a99, 0x0a4d3]);
});

Deno.test("encodeQr() makes the same modules as qrcode-generator for every mask and version", () => {
  for (let version = 1; version <= MAX_QR_VERSION; version++) {
    const text = `https://punch.example/#${"4812-velvet-harbor".repeat(20)}`.slice(
      0,
      byteCapacity(version),
    );
    const other = qrcodeGenerator(version as Parameters<typeof qrcodeGenerator>[0], "M");
    other.addData(text, "Byte");
    other.make();
    // The other encoder picks its own mask: one of ours must be it, module for module.
    const matches = [];
    for (let mask = 0; mask < 8; mask++) {
      const ours = encodeQr(text, { mask, minVersion: version });
      equal(ours.version, version);
      equal(other.getModuleCount(), ours.size);
      let same = true;
      for (let row = 0; row < ours.size && same; row++) {
        for (let column = 0; column < ours.size && same; column++) {
          same = ours.isDark(row, column) === other.isDark(row, column);
        }
      }
      if (same) matches.push(mask);
    }
    equal(matches.length, 1, `version ${version}: masks matching ${matches}`);
  }
});

Deno.test("encodeQr() output is read back by jsQR: every mask, short, typical and ~200-byte URLs", () => {
  for (
    const text of ["https://p.example/", URL_WITH_CODE, `https://punch.example/#${"x".repeat(190)}`]
  ) {
    for (let mask = 0; mask < 8; mask++) equal(decode(encodeQr(text, { mask })), text);
    const best = encodeQr(text);
    equal(decode(best), text);
  }
  equal(encodeQr(URL_WITH_CODE).version, 3);
  equal(encodeQr("x".repeat(213)).version, 10);
  equal(decode(encodeQr("punch ✓ 日本")), "punch ✓ 日本");
});

Deno.test("encodeQr() picks the mask with the lowest penalty, and keeps the function patterns", () => {
  const qr = encodeQr(URL_WITH_CODE);
  ok(qr.mask >= 0 && qr.mask < 8);
  equal(qr.size, 29);
  // Finder corners, the separator, the timing row and the dark module.
  ok(qr.isDark(0, 0) && qr.isDark(0, 28) && qr.isDark(28, 0) && qr.isDark(3, 3));
  ok(!qr.isDark(7, 7) && !qr.isDark(1, 1));
  deepEqual(
    Array.from({ length: 13 }, (_, i) => qr.isDark(6, 8 + i)),
    Array.from({ length: 13 }, (_, i) => i % 2 === 0),
  );
  ok(qr.isDark(qr.size - 8, 8));
  ok(!qr.isDark(-1, 0) && !qr.isDark(0, qr.size));
});

Deno.test("encodeQr() rejects data past version 10 and options out of range", () => {
  throws(() => encodeQr("x".repeat(214)), { name: "RangeError", message: /214 bytes exceed 213/ });
  throws(() => encodeQr("x", { mask: 8 }), RangeError);
  throws(() => encodeQr("x", { minVersion: 11 }), RangeError);
  equal(encodeQr("x", { minVersion: 4 }).version, 4);
});
