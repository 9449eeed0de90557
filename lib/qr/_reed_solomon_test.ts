import { deepEqual, equal, throws } from "node:assert/strict";
import { generatorPolynomial, gfMultiply, gfPower, reedSolomonRemainder } from "./_reed_solomon.ts";

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.split(" "), (byte) => parseInt(byte, 16));
}

/** The block as a polynomial (first codeword highest), evaluated at x. */
function evaluate(block: Uint8Array, x: number): number {
  let sum = 0;
  for (const byte of block) sum = gfMultiply(sum, x) ^ byte;
  return sum;
}

Deno.test("gfMultiply() is the field's product: α⁸ reduces by 0x11d, inverses exist", () => {
  equal(gfPower(8), 0x1d);
  equal(gfMultiply(0x80, 2), 0x1d);
  equal(gfMultiply(0, 0x53), 0);
  equal(gfPower(255), 1);
  for (let a = 0; a < 256; a++) equal(gfMultiply(a, 1), a);
  for (let a = 1; a < 256; a++) {
    let inverses = 0;
    for (let b = 1; b < 256; b++) if (gfMultiply(a, b) === 1) inverses++;
    equal(inverses, 1, `element ${a}`);
  }
});

Deno.test("generatorPolynomial() has the roots α⁰ … αⁿ⁻¹ and rejects a degree outside 1 to 254", () => {
  // ISO/IEC 18004 Annex A: the generator for 7 codewords, as exponents of α.
  deepEqual(
    Array.from(generatorPolynomial(7)),
    [87, 229, 146, 149, 238, 102, 21].map(gfPower),
  );
  const g = new Uint8Array([1, ...generatorPolynomial(10)]);
  for (let i = 0; i < 10; i++) equal(evaluate(g, gfPower(i)), 0, `root α^${i}`);
  equal(evaluate(g, gfPower(10)) === 0, false);
  throws(() => generatorPolynomial(0), RangeError);
  throws(() => generatorPolynomial(255), RangeError);
});

Deno.test("reedSolomonRemainder() matches ISO/IEC 18004's 1-M example and leaves zero syndromes", () => {
  // Annex I: "01234567" in numeric mode, version 1, level M.
  const data = hex("10 20 0c 56 61 80 ec 11 ec 11 ec 11 ec 11 ec 11");
  const ec = reedSolomonRemainder(data, generatorPolynomial(10));
  deepEqual(ec, hex("a5 24 d4 c1 ed 36 c7 87 2c 55"));
  for (const degree of [7, 16, 26, 30]) {
    const block = crypto.getRandomValues(new Uint8Array(40));
    const whole = new Uint8Array([
      ...block,
      ...reedSolomonRemainder(block, generatorPolynomial(degree)),
    ]);
    for (let i = 0; i < degree; i++) {
      equal(evaluate(whole, gfPower(i)), 0, `degree ${degree}, α^${i}`);
    }
  }
});
