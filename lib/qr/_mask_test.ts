import { equal, notDeepEqual } from "node:assert/strict";
import { applyMask, finderPenalty, MASK_COUNT, penalty, runPenalty } from "./_mask.ts";

const line = (bits: string) => Uint8Array.from(bits, Number);

Deno.test("runPenalty() counts runs of 5 or more: 3 points plus 1 for each module past 5", () => {
  equal(runPenalty(line("0101010101")), 0);
  equal(runPenalty(line("1111")), 0);
  equal(runPenalty(line("11111")), 3);
  equal(runPenalty(line("0111111100000")), 5 + 3);
});

Deno.test("finderPenalty() counts 1:1:3:1:1 with 4 light modules on a side, the edge light", () => {
  equal(finderPenalty(line("00001011101")), 40);
  equal(finderPenalty(line("10111010000")), 40);
  // At the edge: the quiet zone beyond is light.
  equal(finderPenalty(line("1011101")), 40);
  equal(finderPenalty(line("1000101110110001")), 0);
  equal(finderPenalty(line("00001011101000010111010000")), 80);
});

Deno.test("penalty() adds runs, 2×2 blocks and the dark share: an all-light 5×5 scores 178", () => {
  // N1: 10 lines of 5 (30), N2: 16 blocks (48), N4: 0 % dark is 10 steps of 5 % (100).
  equal(penalty(new Uint8Array(25), 5), 178);
  const checkerboard = Uint8Array.from({ length: 36 }, (_, i) => (Math.floor(i / 6) + i) % 2);
  equal(penalty(checkerboard, 6), 0);
});

Deno.test("applyMask() inverts only modules not reserved, each mask differently", () => {
  const size = 12;
  const reserved = new Uint8Array(size * size);
  reserved.fill(1, 0, size);
  const seen: Uint8Array[] = [];
  for (let mask = 0; mask < MASK_COUNT; mask++) {
    const masked = applyMask(new Uint8Array(size * size), reserved, size, mask);
    for (let j = 0; j < size; j++) equal(masked[j], 0);
    // Mask 0 inverts where (i + j) is even: (1, 1) yes, (1, 2) no.
    if (mask === 0) {
      equal(masked[size + 1], 1);
      equal(masked[size + 2], 0);
    }
    for (const other of seen) notDeepEqual(masked, other);
    seen.push(masked);
  }
});
