/**
 * Making and reading codes like `4812-velvet-harbor`.
 *
 * A code has two parts. The number (`4812`) is the nameplate: the rendezvous
 * server allocates it, and anyone may see it. The two words (`velvet-harbor`)
 * are the secret: they never leave the two machines and feed the PAKE, so a
 * code is worth 22 bits of guessing to an attacker who gets one try.
 *
 * @module
 */

import { PunchError } from "../errors.ts";
import { editDistance } from "./_distance.ts";
import { WORDS } from "./words.ts";

/** A parsed code. */
export interface Code {
  /** The public part, as decimal digits: `"4812"`. */
  nameplate: string;
  /** The secret part, two words from {@linkcode WORDS}: `["velvet", "harbor"]`. */
  words: [string, string];
  /** The normalized code: `"4812-velvet-harbor"`. */
  code: string;
}

/** Options for {@linkcode generateCode}. */
export interface GenerateCodeOptions {
  /**
   * Returns a uniformly random integer in `[0, n)`. Tests pass their own to
   * get a known code.
   *
   * @default {a function using `crypto.getRandomValues()` without modulo bias}
   */
  random?: (n: number) => number;
}

/** How many words follow the nameplate. */
const WORD_COUNT = 2;
/** The longest nameplate accepted: the server hands out short numbers, 8 digits is plenty. */
const MAX_NAMEPLATE_DIGITS = 8;
/** How a code is shown in messages. */
const EXAMPLE = "4812-velvet-harbor";
/** What may stand between the parts of a typed code. */
const SEPARATORS = /[\s\-_./]+/;
/** How many letters name a word unambiguously (a property of the BIP-39 list). */
const PREFIX_LETTERS = 4;
/** How many words an error suggests at most. */
const MAX_SUGGESTIONS = 3;
/** How much of the input an error message repeats. */
const MAX_SHOWN_CHARS = 60;

const WORD_SET: ReadonlySet<string> = new Set(WORDS);
const WORD_BY_PREFIX: ReadonlyMap<string, string> = new Map(
  WORDS.map((word) => [word.slice(0, PREFIX_LETTERS), word]),
);

/**
 * Returns whether `value` is a nameplate: 1 to 8 decimal digits.
 *
 * @example Usage
 * ```ts
 * import { isValidNameplate } from "./phrase.ts";
 * isValidNameplate("4812"); // true
 * isValidNameplate("48a2"); // false
 * ```
 */
export function isValidNameplate(value: string): boolean {
  return typeof value === "string" && /^[0-9]{1,8}$/.test(value);
}

/**
 * Makes a new code from a nameplate and two random words.
 *
 * @example Usage
 * ```ts
 * import { generateCode } from "./phrase.ts";
 * const code = generateCode("4812"); // like "4812-velvet-harbor"
 * ```
 *
 * @param nameplate The number the rendezvous server allocated.
 * @param options Where randomness comes from.
 * @returns The code, like `"4812-velvet-harbor"`.
 * @throws {TypeError} If `nameplate` is not 1 to 8 decimal digits.
 * @throws {RangeError} If `options.random` returns something other than an
 * integer in `[0, n)`.
 */
export function generateCode(nameplate: string, options: GenerateCodeOptions = {}): string {
  if (!isValidNameplate(nameplate)) {
    throw new TypeError(
      `Cannot generate code: nameplate must be 1 to ${MAX_NAMEPLATE_DIGITS} decimal digits, got ${
        show(String(nameplate))
      }`,
    );
  }
  const random = options.random ?? randomBelow;
  const words: string[] = [];
  for (let i = 0; i < WORD_COUNT; i++) {
    const index = random(WORDS.length);
    if (!Number.isInteger(index) || index < 0 || index >= WORDS.length) {
      throw new RangeError(
        `Cannot generate code: random(${WORDS.length}) returned ${index}, expected an integer from 0 to ${
          WORDS.length - 1
        }`,
      );
    }
    words.push(WORDS[index]!);
  }
  return [nameplate, ...words].join("-");
}

/**
 * Reads a code as a person typed it.
 *
 * It forgives case, surrounding whitespace and any run of separators (`-`,
 * space, `_`, `.`, `/`), and expands a word from its first 4 or more letters
 * (`4812 VELV harb` is `4812-velvet-harbor`).
 *
 * @example Usage
 * ```ts
 * import { parseCode } from "./phrase.ts";
 * const { nameplate, words, code } = parseCode(" 4812 Velvet_harb ");
 * // nameplate "4812", words ["velvet", "harbor"], code "4812-velvet-harbor"
 * ```
 *
 * @param input The code as typed.
 * @returns The nameplate, the two words and the normalized code.
 * @throws {PunchError} Of kind `bad_code` if `input` is not a code; the message says what is
 * wrong and, for a mistyped word, suggests the closest words.
 */
export function parseCode(input: string): Code {
  if (typeof input !== "string") {
    throw new TypeError(`Cannot parse code: expected a string, got ${typeof input}`);
  }
  const trimmed = input.trim();
  if (trimmed === "") {
    throw new PunchError(
      "bad_code",
      `Cannot parse code: it is empty, expected something like ${EXAMPLE}`,
    );
  }
  const fail = (detail: string) =>
    new PunchError("bad_code", `Cannot parse code ${show(trimmed)}: ${detail}`);
  const parts = trimmed.toLowerCase().split(SEPARATORS).filter((part) => part !== "");
  const [nameplate, ...rest] = parts;
  if (nameplate === undefined) {
    throw fail(`it has no number and no words, expected something like ${EXAMPLE}`);
  }
  if (!/^[0-9]+$/.test(nameplate)) {
    throw fail(
      /[0-9]/.test(nameplate)
        ? `the number ${show(nameplate)} must be decimal digits only, like ${EXAMPLE}`
        : `it must start with the number, like ${EXAMPLE}`,
    );
  }
  if (nameplate.length > MAX_NAMEPLATE_DIGITS) {
    throw fail(
      `the number has ${nameplate.length} digits, at most ${MAX_NAMEPLATE_DIGITS} are allowed`,
    );
  }
  if (rest.length !== WORD_COUNT) {
    const count = rest.length === 0 ? "no words" : `${rest.length} word${plural(rest.length)}`;
    throw fail(`it has ${count} after the number, expected ${WORD_COUNT}, like ${EXAMPLE}`);
  }
  const words = rest.map((word) => {
    const found = expandWord(word);
    if (found !== undefined) return found;
    const suggestions = suggestWords(word);
    throw fail(
      suggestions.length === 0
        ? `unknown word ${show(word)}, check the code you were given`
        : `unknown word ${show(word)}, did you mean ${listOr(suggestions.map(show))}?`,
    );
  }) as [string, string];
  return { nameplate, words, code: [nameplate, ...words].join("-") };
}

/** Returns the word `typed` names, whole or by a prefix of 4 or more letters. */
function expandWord(typed: string): string | undefined {
  if (WORD_SET.has(typed)) return typed;
  if (typed.length < PREFIX_LETTERS) return undefined;
  const word = WORD_BY_PREFIX.get(typed.slice(0, PREFIX_LETTERS));
  return word !== undefined && word.startsWith(typed) ? word : undefined;
}

/** Returns the words closest to a mistyped one, best first. */
function suggestWords(typed: string): string[] {
  // Few edits for short words, or every word would be a suggestion.
  const limit = Math.max(1, Math.min(2, Math.floor(typed.length / 3)));
  const scored: { word: string; score: number }[] = [];
  for (const word of WORDS) {
    // A too-short prefix counts as close: "vel" suggests "velvet".
    const score = typed.length >= 2 && word.startsWith(typed)
      ? 0.5
      : editDistance(typed, word, limit);
    if (score <= limit) scored.push({ word, score });
  }
  scored.sort((a, b) => a.score - b.score || (a.word < b.word ? -1 : 1));
  // Only the best: one edit away hides those two edits away.
  const best = Math.ceil(scored[0]?.score ?? 0);
  return scored.filter(({ score }) => score <= best).slice(0, MAX_SUGGESTIONS)
    .map(({ word }) => word);
}

/** Returns a uniformly random integer in `[0, n)`, rejecting values that would bias it. */
function randomBelow(n: number): number {
  const RANGE = 2 ** 32;
  const limit = RANGE - (RANGE % n);
  const buffer = new Uint32Array(1);
  while (true) {
    crypto.getRandomValues(buffer);
    if (buffer[0]! < limit) return buffer[0]! % n;
  }
}

function show(text: string): string {
  const shown = text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
  return JSON.stringify(shown);
}

function plural(count: number): string {
  return count === 1 ? "" : "s";
}

function listOr(items: string[]): string {
  return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}
