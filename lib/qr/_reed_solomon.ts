/**
 * Reed–Solomon error correction over GF(256), as QR codes use it (ISO/IEC
 * 18004, 7.5.2).
 *
 * - The field: bytes, added by XOR, multiplied modulo the polynomial
 *   x⁸ + x⁴ + x³ + x² + 1 (0x11d), whose root α = 2 generates every
 *   non-zero element.
 * - A block of data codewords d is a polynomial (first codeword the highest
 *   power). Its n error-correction codewords are the remainder of d(x)·xⁿ
 *   divided by the generator g(x) = (x − α⁰)(x − α¹)…(x − αⁿ⁻¹), so the
 *   whole block, data then remainder, is a multiple of g and vanishes at
 *   α⁰ … αⁿ⁻¹ (a reader's syndromes are zero when nothing is damaged).
 *
 * @module
 */

/** The field's reducing polynomial, x⁸ + x⁴ + x³ + x² + 1. */
const FIELD_POLYNOMIAL = 0x11d;

/** αⁱ for i in [0, 510): doubled, so a product's exponent sum needs no reduction. */
const EXP = new Uint8Array(510);
/** The exponent of each non-zero element (LOG[0] is unused). */
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++) {
  EXP[i] = EXP[i + 255] = x;
  LOG[x] = i;
  x <<= 1;
  if (x & 0x100) x ^= FIELD_POLYNOMIAL;
}

/** The product of two field elements. */
export function gfMultiply(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

/** αⁱ, for i in [0, 255). */
export function gfPower(i: number): number {
  return EXP[i % 255]!;
}

/**
 * The generator polynomial of `degree` error-correction codewords, highest
 * power first, without its leading coefficient (always 1).
 */
export function generatorPolynomial(degree: number): Uint8Array {
  if (!Number.isInteger(degree) || degree < 1 || degree > 254) {
    throw new RangeError(`Cannot make generator: degree ${degree} is not from 1 to 254`);
  }
  // Coefficients of the product so far, highest power first, leading 1 included.
  let product = new Uint8Array([1]);
  for (let i = 0; i < degree; i++) {
    // product · (x − αⁱ); in GF(2⁸) minus is plus.
    const next = new Uint8Array(product.length + 1);
    for (let j = 0; j < product.length; j++) {
      next[j]! ^= product[j]!;
      next[j + 1]! ^= gfMultiply(product[j]!, EXP[i]!);
    }
    product = next;
  }
  return product.subarray(1);
}

/** The error-correction codewords of one block of data codewords. */
export function reedSolomonRemainder(data: Uint8Array, generator: Uint8Array): Uint8Array {
  const remainder = new Uint8Array(generator.length);
  for (const byte of data) {
    // Long division, one step per codeword: shift in the byte, subtract g times the lead.
    const factor = byte ^ remainder[0]!;
    remainder.copyWithin(0, 1);
    remainder[remainder.length - 1] = 0;
    for (let i = 0; i < generator.length; i++) {
      remainder[i]! ^= gfMultiply(generator[i]!, factor);
    }
  }
  return remainder;
}
