/**
 * Completing a code as it is typed: `4812-velv` and Tab gives
 * `4812-velvet-`. Shared by `punch receive`'s prompt and `punch completions`
 * (and any code field the browser page shows).
 *
 * - Digits alone complete to the nameplate and its `-`: the server lists no
 *   nameplates (that would show every waiting sender's), so there is nothing
 *   more to offer.
 * - After the nameplate, the word being typed completes from
 *   {@linkcode WORDS}: a prefix that only one word starts with becomes that
 *   word (and a `-` after the first), an ambiguous one grows to what all its
 *   candidates share, and the candidates are returned to be listed. Since no
 *   two words share their first 4 letters, 4 letters always name one word.
 * - Separators are those `parseCode()` forgives (`-`, space, `_`, `.`, `/`).
 *
 * @module
 */

import { WORDS } from "./words.ts";

/** How many words follow the nameplate (as in phrase.ts). */
const WORD_COUNT = 2;
/** What may stand between the parts of a typed code (as in phrase.ts). */
const SEPARATOR = /[\s\-_./]/;

/** What Tab does to a partly typed code. */
export interface CodeCompletion {
  /** The text after completion (the input itself when nothing could be added). */
  text: string;
  /**
   * The words the part being typed may still become, when more than one; empty when it
   * completed to one word or nothing matches.
   */
  candidates: readonly string[];
}

/**
 * The words of {@linkcode WORDS} that start with `prefix` (lowercase), in
 * order: all of them for an empty prefix.
 *
 * @example Usage
 * ```ts
 * import { wordsStartingWith } from "./complete.ts";
 * wordsStartingWith("velv"); // ["velvet"]
 * wordsStartingWith("abs"); // ["absent", "absorb", "abstract", "absurd"]
 * ```
 */
export function wordsStartingWith(prefix: string): string[] {
  // The list is sorted: binary search for the first word >= prefix, then walk.
  let low = 0;
  let high = WORDS.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (WORDS[middle]! < prefix) low = middle + 1;
    else high = middle;
  }
  const found: string[] = [];
  for (let i = low; i < WORDS.length && WORDS[i]!.startsWith(prefix); i++) found.push(WORDS[i]!);
  return found;
}

/**
 * Completes a partly typed code, as Tab does at the end of the line.
 *
 * @example Usage
 * ```ts
 * import { completeCode } from "./complete.ts";
 * completeCode("4812-velv"); // { text: "4812-velvet-", candidates: [] }
 * completeCode("4812-velvet-har"); // { text: "4812-velvet-harbor", candidates: [] }
 * completeCode("4812-ab").candidates.length; // 10: "abandon" to "abuse"
 * ```
 */
export function completeCode(input: string): CodeCompletion {
  const unchanged = { text: input, candidates: [] };
  const start = input.length - input.trimStart().length;
  const nameplate = /^[0-9]+/.exec(input.slice(start))?.[0];
  if (nameplate === undefined) return unchanged;
  const afterNameplate = start + nameplate.length;
  if (afterNameplate === input.length) return { text: `${input}-`, candidates: [] };
  if (!SEPARATOR.test(input[afterNameplate]!)) return unchanged;
  const parts = input.slice(afterNameplate).split(SEPARATOR);
  // parts[0] is the empty text before the first separator; empty parts are runs of separators.
  const words = parts.slice(1, -1).filter((part) => part !== "");
  const typed = parts[parts.length - 1]!;
  if (words.length >= WORD_COUNT) return unchanged;
  const candidates = wordsStartingWith(typed.toLowerCase());
  const head = input.slice(0, input.length - typed.length);
  if (candidates.length === 1) {
    const more = words.length + 1 < WORD_COUNT ? "-" : "";
    return { text: head + candidates[0]! + more, candidates: [] };
  }
  if (candidates.length === 0) return unchanged;
  return { text: head + sharedPrefix(candidates, typed), candidates };
}

/** What all the candidates start with, in the case `typed` was written in so far. */
function sharedPrefix(candidates: readonly string[], typed: string): string {
  const first = candidates[0]!;
  const last = candidates[candidates.length - 1]!;
  // Sorted: what the first and the last share, all share.
  let length = 0;
  while (length < first.length && first[length] === last[length]) length++;
  return typed + first.slice(typed.length, length);
}
