/**
 * QR code masks and the penalty that picks one (ISO/IEC 18004, 7.8).
 *
 * A mask inverts the data modules where its condition on the row i and
 * column j holds, so that no symbol shows large blank areas or shapes a
 * reader would take for a finder. The penalty of a masked symbol adds:
 * - N1: every run of 5 or more same-coloured modules in a row or column,
 *   3 points plus 1 for each module past 5;
 * - N2: every 2×2 block of one colour, 3 points (overlapping blocks count
 *   each);
 * - N3: every dark-light-dark-dark-dark-light-dark pattern (1:1:3:1:1) in a
 *   row or column with 4 light modules before or after it, 40 points
 *   (outside the symbol counts as light: it is the quiet zone);
 * - N4: 10 points for each full 5 % the dark modules' share is away from
 *   50 %.
 *
 * @module
 */

/** How many masks there are. */
export const MASK_COUNT = 8;

/** Each mask's condition: where it holds, a data module is inverted. */
const MASKS: readonly ((i: number, j: number) => boolean)[] = [
  (i, j) => (i + j) % 2 === 0,
  (i) => i % 2 === 0,
  (_, j) => j % 3 === 0,
  (i, j) => (i + j) % 3 === 0,
  (i, j) => (Math.floor(i / 2) + Math.floor(j / 3)) % 2 === 0,
  (i, j) => ((i * j) % 2) + ((i * j) % 3) === 0,
  (i, j) => (((i * j) % 2) + ((i * j) % 3)) % 2 === 0,
  (i, j) => (((i + j) % 2) + ((i * j) % 3)) % 2 === 0,
];

/** Points of each penalty rule. */
const N1 = 3;
const N2 = 3;
const N3 = 40;
const N4 = 10;

/** A copy of the modules with the mask applied to those not reserved. */
export function applyMask(
  modules: Uint8Array,
  reserved: Uint8Array,
  size: number,
  mask: number,
): Uint8Array {
  const condition = MASKS[mask]!;
  const out = modules.slice();
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const at = i * size + j;
      if (!reserved[at] && condition(i, j)) out[at]! ^= 1;
    }
  }
  return out;
}

/** The penalty of a masked symbol; lower is better. */
export function penalty(modules: Uint8Array, size: number): number {
  let score = 0;
  const line = new Uint8Array(size);
  for (const vertical of [false, true]) {
    for (let k = 0; k < size; k++) {
      for (let m = 0; m < size; m++) {
        line[m] = vertical ? modules[m * size + k]! : modules[k * size + m]!;
      }
      score += runPenalty(line) + finderPenalty(line);
    }
  }
  for (let i = 0; i + 1 < size; i++) {
    for (let j = 0; j + 1 < size; j++) {
      const at = i * size + j;
      const colour = modules[at];
      if (
        modules[at + 1] === colour && modules[at + size] === colour &&
        modules[at + size + 1] === colour
      ) score += N2;
    }
  }
  let dark = 0;
  for (const module of modules) dark += module;
  score += N4 * Math.floor(Math.abs((dark * 100) / modules.length - 50) / 5);
  return score;
}

/** N1 for one row or column. */
export function runPenalty(line: Uint8Array): number {
  let score = 0;
  let run = 1;
  for (let m = 1; m <= line.length; m++) {
    if (m < line.length && line[m] === line[m - 1]) {
      run++;
      continue;
    }
    if (run >= 5) score += N1 + run - 5;
    run = 1;
  }
  return score;
}

/** The 1:1:3:1:1 finder-like pattern. */
const FINDER_LIKE = [1, 0, 1, 1, 1, 0, 1];

/** N3 for one row or column. */
export function finderPenalty(line: Uint8Array): number {
  let score = 0;
  const light = (from: number, to: number) => {
    for (let m = Math.max(0, from); m < Math.min(line.length, to); m++) if (line[m]) return false;
    return true;
  };
  for (let m = 0; m + FINDER_LIKE.length <= line.length; m++) {
    if (!FINDER_LIKE.every((bit, k) => line[m + k] === bit)) continue;
    if (light(m - 4, m) || light(m + 7, m + 11)) score += N3;
  }
  return score;
}
