/**
 * QR codes (ISO/IEC 18004, Model 2) for short byte strings such as the URL
 * of a punch code: byte mode, error correction level M, versions 1 to
 * {@linkcode MAX_QR_VERSION}.
 *
 * How a symbol is made:
 * - The data becomes a bit stream: mode 0100 (byte), the length (8 bits up
 *   to version 9, 16 from version 10), the bytes, up to 4 zero bits of
 *   terminator, zero bits to a byte boundary, then the pad bytes 0xec 0x11
 *   in turn until the version's data capacity is full.
 * - The codewords are split into the version's blocks (the shorter blocks
 *   first), each block gets its Reed–Solomon codewords, and the blocks are
 *   interleaved: the first data codeword of each block, the second, …, then
 *   the error-correction codewords the same way.
 * - The matrix holds the function patterns (three finders with their light
 *   separators, the timing rows, the alignment patterns, the dark module, the
 *   format and version information); the codeword bits fill the rest in
 *   two-column strips from the bottom right, upwards then downwards, skipping
 *   the vertical timing column.
 * - Each of the eight masks is tried on the data modules and the one whose
 *   penalty (runs, 2×2 blocks, finder-like patterns, dark proportion; see
 *   `_mask.ts`) is lowest is kept; its number goes into the format
 *   information, written twice.
 *
 * This module uses Web APIs only: the browser page can draw a code too.
 *
 * @module
 */

import { generatorPolynomial, reedSolomonRemainder } from "./_reed_solomon.ts";
import { applyMask, MASK_COUNT, penalty } from "./_mask.ts";

/**
 * The largest version made. Version 10 is 57 modules wide, 65 with its quiet
 * zone: the widest that fits an 80-column terminal with a margin. It holds
 * 213 bytes at level M, room for a URL with a long host name.
 */
export const MAX_QR_VERSION = 10;

/** Error-correction codewords in each block at level M, by version (ISO/IEC 18004 Table 9). */
const EC_PER_BLOCK = [NaN, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26];
/** Blocks at level M, by version (Table 9). */
const BLOCKS = [NaN, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5];
/** Rows and columns of the alignment patterns' centres, by version (Annex E). */
const ALIGNMENT_CENTRES: readonly (readonly number[])[] = [
  [],
  [],
  [6, 18],
  [6, 22],
  [6, 26],
  [6, 30],
  [6, 34],
  [6, 22, 38],
  [6, 24, 42],
  [6, 26, 46],
  [6, 28, 50],
];
/** Level M's two bits in the format information. */
const LEVEL_M_BITS = 0b00;
/** The format information's BCH(15,5) generator, x¹⁰+x⁸+x⁵+x⁴+x²+x+1. */
const FORMAT_GENERATOR = 0x537;
/** XORed into the format information so that it is never all zero. */
const FORMAT_MASK = 0x5412;
/** The version information's BCH(18,6) generator, x¹²+x¹¹+x¹⁰+x⁹+x⁸+x⁵+x²+1. */
const VERSION_GENERATOR = 0x1f25;
/** Byte mode's indicator. */
const BYTE_MODE = 0b0100;
/** The pad codewords, in turn. */
const PAD_BYTES = [0xec, 0x11];

/** Options for {@linkcode encodeQr}. */
export interface EncodeQrOptions {
  /**
   * The mask, 0 to 7.
   *
   * @default {the one with the lowest penalty (the lowest number on a tie)}
   */
  mask?: number;
  /**
   * The smallest version to use.
   *
   * @default {1}
   */
  minVersion?: number;
}

/** A QR code's modules: `true` is dark. */
export class QrCode {
  /** 1 to {@linkcode MAX_QR_VERSION}. */
  readonly version: number;
  /** Modules per side: 17 + 4 × version. */
  readonly size: number;
  /** The mask applied, 0 to 7. */
  readonly mask: number;
  readonly #modules: Uint8Array;

  constructor(version: number, mask: number, modules: Uint8Array) {
    this.version = version;
    this.size = sizeOf(version);
    this.mask = mask;
    this.#modules = modules;
  }

  /** Whether the module at `row`, `column` is dark; outside the symbol (the quiet zone) it is light. */
  isDark(row: number, column: number): boolean {
    if (row < 0 || column < 0 || row >= this.size || column >= this.size) return false;
    return this.#modules[row * this.size + column] === 1;
  }
}

/**
 * Encodes bytes, or a string as UTF-8, into a QR code at level M.
 *
 * @example Usage
 * ```ts
 * import { encodeQr } from "./encode.ts";
 * const qr = encodeQr("https://punch.example/#4812-velvet-harbor");
 * qr.version; // 3
 * qr.isDark(0, 0); // true: a finder's corner
 * ```
 *
 * @param data What the code holds.
 * @param options The mask and the smallest version.
 * @returns The symbol.
 * @throws {RangeError} If the data does not fit version {@linkcode MAX_QR_VERSION}, or an
 * option is out of range.
 */
export function encodeQr(data: string | Uint8Array, options: EncodeQrOptions = {}): QrCode {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const { mask, minVersion = 1 } = options;
  if (mask !== undefined && !(Number.isInteger(mask) && mask >= 0 && mask < MASK_COUNT)) {
    throw new RangeError(`Cannot encode QR code: mask ${mask} is not from 0 to ${MASK_COUNT - 1}`);
  }
  if (!Number.isInteger(minVersion) || minVersion < 1 || minVersion > MAX_QR_VERSION) {
    throw new RangeError(
      `Cannot encode QR code: version ${minVersion} is not from 1 to ${MAX_QR_VERSION}`,
    );
  }
  let version = minVersion;
  while (byteCapacity(version) < bytes.length) {
    if (version === MAX_QR_VERSION) {
      throw new RangeError(
        `Cannot encode QR code: ${bytes.length} bytes exceed ${
          byteCapacity(MAX_QR_VERSION)
        }, the most that version ${MAX_QR_VERSION} holds at level M`,
      );
    }
    version++;
  }
  const size = sizeOf(version);
  const { modules, reserved } = functionPatterns(version);
  placeCodewords(modules, reserved, size, codewords(bytes, version));
  let best: { mask: number; modules: Uint8Array; score: number } | undefined;
  for (let m = 0; m < MASK_COUNT; m++) {
    if (mask !== undefined && m !== mask) continue;
    const masked = applyMask(modules, reserved, size, m);
    drawFormat(masked, size, formatBits(m));
    const score = mask === undefined ? penalty(masked, size) : 0;
    if (best === undefined || score < best.score) best = { mask: m, modules: masked, score };
  }
  return new QrCode(version, best!.mask, best!.modules);
}

/** Modules per side of a version. */
function sizeOf(version: number): number {
  return 17 + 4 * version;
}

/** Bits of byte mode's character count in a version. */
function countBits(version: number): number {
  return version < 10 ? 8 : 16;
}

/** All codewords of a version: the modules left after the function patterns, 8 to a codeword. */
export function totalCodewords(version: number): number {
  const { reserved } = functionPatterns(version);
  let free = 0;
  for (const r of reserved) free += 1 - r;
  return Math.floor(free / 8);
}

/** Data codewords of a version at level M. */
export function dataCodewords(version: number): number {
  return totalCodewords(version) - BLOCKS[version]! * EC_PER_BLOCK[version]!;
}

/** The most bytes a version holds in byte mode at level M. */
export function byteCapacity(version: number): number {
  return Math.floor((dataCodewords(version) * 8 - 4 - countBits(version)) / 8);
}

/** The format information of level M with a mask: 5 bits, their BCH remainder, masked. */
export function formatBits(mask: number): number {
  const data = (LEVEL_M_BITS << 3) | mask;
  return ((data << 10) | bchRemainder(data << 10, FORMAT_GENERATOR)) ^ FORMAT_MASK;
}

/** The version information: 6 bits of version and their BCH remainder. */
export function versionBits(version: number): number {
  return (version << 12) | bchRemainder(version << 12, VERSION_GENERATOR);
}

/** The remainder of `value` divided by `generator`, polynomials over GF(2). */
function bchRemainder(value: number, generator: number): number {
  const degree = 31 - Math.clz32(generator);
  for (let bit = 31 - Math.clz32(value); bit >= degree; bit--) {
    if (value & (1 << bit)) value ^= generator << (bit - degree);
  }
  return value;
}

/** The data bit stream of byte mode, padded to the version's capacity, as codewords. */
function dataStream(bytes: Uint8Array, version: number): Uint8Array {
  const out = new Uint8Array(dataCodewords(version));
  let bit = 0;
  const put = (value: number, length: number) => {
    for (let i = length - 1; i >= 0; i--, bit++) {
      if ((value >>> i) & 1) out[bit >> 3]! |= 0x80 >> (bit & 7);
    }
  };
  put(BYTE_MODE, 4);
  put(bytes.length, countBits(version));
  for (const byte of bytes) put(byte, 8);
  // The terminator and the bits to a byte boundary are zero already: skip them.
  for (let i = Math.ceil(bit / 8), pad = 0; i < out.length; i++, pad ^= 1) out[i] = PAD_BYTES[pad]!;
  return out;
}

/** The data codewords in blocks, each with its Reed–Solomon codewords, interleaved. */
function codewords(bytes: Uint8Array, version: number): Uint8Array {
  const data = dataStream(bytes, version);
  const blocks = BLOCKS[version]!;
  const ecLength = EC_PER_BLOCK[version]!;
  const generator = generatorPolynomial(ecLength);
  const shortLength = Math.floor(data.length / blocks);
  const longBlocks = data.length % blocks;
  const dataBlocks: Uint8Array[] = [];
  const ecBlocks: Uint8Array[] = [];
  for (let b = 0, start = 0; b < blocks; b++) {
    const length = shortLength + (b >= blocks - longBlocks ? 1 : 0);
    const block = data.subarray(start, start + length);
    start += length;
    dataBlocks.push(block);
    ecBlocks.push(reedSolomonRemainder(block, generator));
  }
  const out = new Uint8Array(data.length + blocks * ecLength);
  let n = 0;
  for (let i = 0; i <= shortLength; i++) {
    for (const block of dataBlocks) if (i < block.length) out[n++] = block[i]!;
  }
  for (let i = 0; i < ecLength; i++) for (const block of ecBlocks) out[n++] = block[i]!;
  return out;
}

/** The function patterns of a version, and which modules they take. */
function functionPatterns(version: number): { modules: Uint8Array; reserved: Uint8Array } {
  const size = sizeOf(version);
  const modules = new Uint8Array(size * size);
  const reserved = new Uint8Array(size * size);
  const set = (row: number, column: number, dark: boolean) => {
    if (row < 0 || column < 0 || row >= size || column >= size) return;
    modules[row * size + column] = dark ? 1 : 0;
    reserved[row * size + column] = 1;
  };
  // Timing: alternating, dark on even positions; finders and alignments overwrite the ends.
  for (let i = 0; i < size; i++) {
    set(6, i, i % 2 === 0);
    set(i, 6, i % 2 === 0);
  }
  // Finders (7×7, rings dark-light-dark around a 3×3 core) with a light separator ring.
  for (const [top, left] of [[0, 0], [0, size - 7], [size - 7, 0]] as const) {
    for (let dy = -1; dy <= 7; dy++) {
      for (let dx = -1; dx <= 7; dx++) {
        const ring = Math.max(Math.abs(dy - 3), Math.abs(dx - 3));
        set(top + dy, left + dx, ring !== 2 && ring !== 4);
      }
    }
  }
  // Alignment patterns (5×5, a dark ring and centre), except where a finder is.
  const centres = ALIGNMENT_CENTRES[version]!;
  const last = centres.length - 1;
  for (const [i, row] of centres.entries()) {
    for (const [j, column] of centres.entries()) {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) continue;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          set(row + dy, column + dx, Math.max(Math.abs(dy), Math.abs(dx)) !== 1);
        }
      }
    }
  }
  // Format information (drawn for real after masking) and the dark module beside it.
  drawFormat(modules, size, 0, reserved);
  // Version information from version 7: two 6×3 blocks beside the top-right and bottom-left finders.
  if (version >= 7) {
    const bits = versionBits(version);
    for (let i = 0; i < 18; i++) {
      const dark = ((bits >>> i) & 1) === 1;
      const a = size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      set(b, a, dark);
      set(a, b, dark);
    }
  }
  return { modules, reserved };
}

/**
 * Writes the 15 format bits (bit 0 the least significant) in their two
 * places, and the dark module; marks them reserved when given the map.
 */
function drawFormat(modules: Uint8Array, size: number, bits: number, reserved?: Uint8Array): void {
  const set = (row: number, column: number, dark: boolean) => {
    modules[row * size + column] = dark ? 1 : 0;
    if (reserved) reserved[row * size + column] = 1;
  };
  for (let i = 0; i < 15; i++) {
    const dark = ((bits >>> i) & 1) === 1;
    // Around the top-left finder: down column 8 (skipping the timing row), then left along row 8.
    if (i < 6) set(i, 8, dark);
    else if (i < 8) set(i + 1, 8, dark);
    else if (i === 8) set(8, 7, dark);
    else set(8, 14 - i, dark);
    // Along row 8 under the top-right finder, then down column 8 beside the bottom-left one.
    if (i < 8) set(8, size - 1 - i, dark);
    else set(size - 15 + i, 8, dark);
  }
  set(size - 8, 8, true);
}

/** Fills the free modules with the codewords' bits, most significant first, in two-column strips. */
function placeCodewords(
  modules: Uint8Array,
  reserved: Uint8Array,
  size: number,
  data: Uint8Array,
): void {
  let bit = 0;
  let upward = true;
  for (let right = size - 1; right > 0; right -= 2) {
    // The vertical timing pattern takes column 6: the strip left of it starts at column 5.
    if (right === 6) right = 5;
    for (let step = 0; step < size; step++) {
      const row = upward ? size - 1 - step : step;
      for (const column of [right, right - 1]) {
        const at = row * size + column;
        if (reserved[at]) continue;
        // Remainder bits past the last codeword stay light (before masking).
        if (bit < data.length * 8) modules[at] = (data[bit >> 3]! >> (7 - (bit & 7))) & 1;
        bit++;
      }
    }
    upward = !upward;
  }
}
