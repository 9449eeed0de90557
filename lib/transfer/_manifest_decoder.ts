/**
 * A strict streaming parser for exactly the manifest's JSON shape
 * (docs/protocol/transfer.md, "Manifest"): it reads the bytes as they
 * arrive, keeps only the known fields, checks each entry as it closes
 * ({@linkcode EntryChecker}), and skips unknown fields without keeping
 * anything of them. What a peer can make it hold is therefore the entries
 * themselves, never junk: JSON.parse() of a hostile 64 MiB manifest took
 * the receiver to 2.4-3.3 GB here.
 *
 * Bounds: {@linkcode MAX_MANIFEST_BYTES} in all, {@linkcode MAX_MANIFEST_DEPTH}
 * levels of nesting, {@linkcode MAX_MANIFEST_VALUES} values, kept strings of
 * at most a path's length; integers written as plain digits.
 *
 * @module
 */

import {
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_DEPTH,
  MAX_MANIFEST_ENTRIES,
  MAX_MANIFEST_VALUES,
} from "./defaults.ts";
import { EntryChecker, type Manifest, show } from "./_manifest_check.ts";
import { MAX_PATH_BYTES } from "./_path_rules.ts";
import { PathError } from "./paths.ts";

// What an open container is.
const TOP = 1;
const ENTRIES = 2;
const ENTRY = 3;
const SKIP_OBJECT = 4;
const SKIP_ARRAY = 5;

// What the next value is for.
const V_TOP = 0;
const V_ENTRIES = 1;
const V_ENTRY = 2;
const V_FILES = 3;
const V_BYTES = 4;
const V_PATH = 5;
const V_KIND = 6;
const V_SIZE = 7;
const V_MODE = 8;
const V_SKIP = 9;
const V_KEY = 10;

// What the parser expects next.
const ST_VALUE = 0;
const ST_OBJECT_OPEN = 1;
const ST_KEY = 2;
const ST_COLON = 3;
const ST_AFTER = 4;
const ST_ARRAY_OPEN = 5;
const ST_STRING = 6;
const ST_NUMBER = 7;
const ST_LITERAL = 8;
const ST_END = 9;

// Skipped numbers, by the JSON grammar: where in `-0.5e+3` the parser is.
const N_MINUS = 0;
const N_ZERO = 1;
const N_INT = 2;
const N_DOT = 3;
const N_FRACTION = 4;
const N_E = 5;
const N_E_SIGN = 6;
const N_EXPONENT = 7;

/** The widest raw JSON string a path of MAX_PATH_BYTES can take: `\u0041` is 6 bytes for 1. */
const MAX_PATH_RAW_BYTES = 6 * MAX_PATH_BYTES;
/** Longer keys and kinds are none of the known ones. */
const MAX_WORD_RAW_BYTES = 16;
/** Kept strings up to this long are copied and built byte by byte, without a subarray. */
const SHORT_COPY_BYTES = 24;
/** Arrays of each short length, to build a short ASCII string in one call. */
const CODES: number[][] = Array.from(
  { length: SHORT_COPY_BYTES + 1 },
  (_, n) => new Array(n).fill(0),
);
/** 2^53-1 has 16 digits. */
const MAX_INTEGER_DIGITS = 16;

/** The known keys of the manifest object and of an entry, and what their values are for. */
const KEYS_TOP: [Uint8Array, number][] = [["entries", V_ENTRIES], ["files", V_FILES], [
  "bytes",
  V_BYTES,
]].map(([key, slot]) => [new TextEncoder().encode(key as string), slot as number]);
const KEYS_ENTRY: [Uint8Array, number][] = [
  ["path", V_PATH],
  ["kind", V_KIND],
  ["size", V_SIZE],
  ["mode", V_MODE],
].map(([key, slot]) => [new TextEncoder().encode(key as string), slot as number]);
const KIND_FILE = new TextEncoder().encode("file");
const KIND_DIR = new TextEncoder().encode("dir");
const LITERALS: Record<number, Uint8Array> = {
  0x74: new TextEncoder().encode("true"),
  0x66: new TextEncoder().encode("false"),
  0x6e: new TextEncoder().encode("null"),
};
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** Messages for a value of the wrong type, by what it is for; `n` is the entry's index. */
const WRONG_TYPE: Record<number, (n: number) => string> = {
  [V_TOP]: () => "it is not a JSON object",
  [V_ENTRIES]: () => '"entries" is not an array',
  [V_ENTRY]: (n) => `entry ${n} is not an object`,
  [V_FILES]: () => '"files" is not an integer from 0 to 2^53-1',
  [V_BYTES]: () => '"bytes" is not an integer from 0 to 2^53-1',
  [V_PATH]: (n) => `entry ${n} has no string "path"`,
  [V_KIND]: (n) => `entry ${n} has a "kind" other than "file", "dir", "stream" or "text"`,
  [V_SIZE]: (n) => `entry ${n} has a "size" that is not an integer from 0 to 2^53-1`,
  [V_MODE]: (n) => `entry ${n} has a "mode" that is not an integer from 0 to 0o7777`,
};

/**
 * Reads a manifest piece by piece: {@linkcode ManifestDecoder.push} each
 * piece as it arrives (it checks as far as it can, and throws the first
 * problem), then {@linkcode ManifestDecoder.finish}. Once it has thrown, it
 * throws the same error again.
 */
export class ManifestDecoder {
  readonly #checker = new EntryChecker("decode");
  #state = ST_VALUE;
  #slot = V_TOP;
  readonly #stack: number[] = [];
  #size = 0;
  #values = 0;
  #error: unknown;

  // The string being read.
  #stringSlot = V_SKIP;
  #keep = 0; // the most raw bytes kept; 0: nothing kept
  #raw = new Uint8Array(MAX_PATH_RAW_BYTES);
  #rawLength = 0;
  #overflow = false;
  #escaped = false;
  #escape = 0; // 1 after a backslash, 2-5: hex digits of \uXXXX still to come, plus 1
  #utf8Need = 0;
  #utf8Low = 0x80;
  #utf8High = 0xbf;

  // The number being read.
  #numberSlot = V_SKIP;
  #number = 0;
  #digits = 0;
  #numberState = N_INT;

  // The literal being read.
  #literal: Uint8Array = LITERALS[0x74]!;
  #literalAt = 0;

  // The key just read: what its value is for.
  #keySlot = V_SKIP;

  // Fields of the manifest and of the entry being read; `#seen` marks known keys read.
  #topSeen = 0;
  #entrySeen = 0;
  #files: number | undefined;
  #bytes: number | undefined;
  #path: string | undefined;
  #kind: string | undefined;
  #entrySize: number | undefined;
  #mode: number | undefined;

  /** Bytes pushed so far. */
  get size(): number {
    return this.#size;
  }

  /** Entries read and checked so far. */
  get entries(): number {
    return this.#checker.count;
  }

  /**
   * Reads the next piece.
   *
   * @throws {ManifestError} If the bytes so far cannot begin a manifest.
   * @throws {PathError} If a path is not safe.
   */
  push(piece: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error;
    try {
      this.#push(piece);
    } catch (error) {
      this.#error = error;
      throw error;
    }
  }

  /**
   * Checks that the manifest is complete and its totals match, and returns it.
   *
   * @throws {ManifestError} If it is not.
   */
  finish(): Manifest {
    if (this.#error !== undefined) throw this.#error;
    try {
      if (this.#state !== ST_END) {
        throw this.#notJson(this.#size === 0 ? "it is empty" : "it ends before it is complete");
      }
      if (!(this.#topSeen & (1 << V_ENTRIES))) throw this.#fail('"entries" is not an array');
      return this.#checker.finish(this.#files, this.#bytes);
    } catch (error) {
      this.#error = error;
      throw error;
    }
  }

  #fail(detail: string): Error {
    return this.#checker.fail(detail);
  }

  #notJson(detail: string): Error {
    return this.#fail(`it is not UTF-8 JSON: ${detail}`);
  }

  #unexpected(piece: Uint8Array, at: number): Error {
    const byte = piece[at]!;
    const what = byte >= 0x21 && byte < 0x7f
      ? `"${String.fromCharCode(byte)}"`
      : `byte 0x${byte.toString(16).padStart(2, "0")}`;
    return this.#notJson(`unexpected ${what} at byte ${this.#size - piece.length + at}`);
  }

  #wrongType(slot: number): Error {
    return this.#fail(WRONG_TYPE[slot]!(this.#checker.count));
  }

  #push(piece: Uint8Array): void {
    this.#size += piece.length;
    if (this.#size > MAX_MANIFEST_BYTES) {
      throw this.#fail(`it takes more than the ${MAX_MANIFEST_BYTES} bytes allowed`);
    }
    const n = piece.length;
    let i = 0;
    while (i < n) {
      const state = this.#state;
      if (state === ST_STRING) {
        i = this.#readString(piece, i);
        continue;
      }
      if (state === ST_NUMBER) {
        i = this.#readNumber(piece, i);
        continue;
      }
      if (state === ST_LITERAL) {
        i = this.#readLiteral(piece, i);
        continue;
      }
      const byte = piece[i]!;
      if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) {
        i++;
        continue;
      }
      switch (state) {
        case ST_VALUE:
          this.#startValue(piece, i);
          i++;
          break;
        case ST_OBJECT_OPEN:
          if (byte === 0x7d) this.#closeObject();
          else if (byte === 0x22) this.#startKey();
          else throw this.#unexpected(piece, i);
          i++;
          break;
        case ST_KEY:
          if (byte !== 0x22) throw this.#unexpected(piece, i);
          this.#startKey();
          i++;
          break;
        case ST_COLON:
          if (byte !== 0x3a) throw this.#unexpected(piece, i);
          this.#state = ST_VALUE;
          this.#slot = this.#keySlot;
          i++;
          break;
        case ST_AFTER: {
          const context = this.#stack[this.#stack.length - 1]!;
          const inArray = context === ENTRIES || context === SKIP_ARRAY;
          if (byte === 0x2c) {
            if (inArray) {
              this.#state = ST_VALUE;
              this.#slot = context === ENTRIES ? V_ENTRY : V_SKIP;
            } else this.#state = ST_KEY;
          } else if (byte === 0x7d && !inArray) this.#closeObject();
          else if (byte === 0x5d && inArray) this.#closeArray();
          else throw this.#unexpected(piece, i);
          i++;
          break;
        }
        case ST_ARRAY_OPEN: {
          if (byte === 0x5d) {
            this.#closeArray();
            i++;
          } else {
            const context = this.#stack[this.#stack.length - 1]!;
            this.#state = ST_VALUE;
            this.#slot = context === ENTRIES ? V_ENTRY : V_SKIP;
          }
          break;
        }
        default:
          throw this.#unexpected(piece, i);
      }
    }
  }

  #open(context: number): void {
    if (this.#stack.length >= MAX_MANIFEST_DEPTH) {
      throw this.#fail(`it nests deeper than the ${MAX_MANIFEST_DEPTH} levels allowed`);
    }
    this.#stack.push(context);
  }

  /** Starts the value whose first byte is `piece[at]`, for `#slot`. */
  #startValue(piece: Uint8Array, at: number): void {
    const byte = piece[at]!;
    const slot = this.#slot;
    if (++this.#values > MAX_MANIFEST_VALUES) {
      throw this.#fail(`it holds more than the ${MAX_MANIFEST_VALUES} JSON values allowed`);
    }
    if (byte === 0x7b) {
      if (slot === V_TOP) this.#open(TOP);
      else if (slot === V_ENTRY) {
        if (this.#checker.count >= MAX_MANIFEST_ENTRIES) {
          throw this.#fail(`it lists more than the ${MAX_MANIFEST_ENTRIES} entries allowed`);
        }
        this.#open(ENTRY);
        this.#entrySeen = 0;
        this.#path =
          this.#kind =
          this.#entrySize =
          this.#mode =
            undefined;
      } else if (slot === V_SKIP) this.#open(SKIP_OBJECT);
      else throw this.#wrongType(slot);
      this.#state = ST_OBJECT_OPEN;
    } else if (byte === 0x5b) {
      if (slot === V_ENTRIES) this.#open(ENTRIES);
      else if (slot === V_SKIP) this.#open(SKIP_ARRAY);
      else throw this.#wrongType(slot);
      this.#state = ST_ARRAY_OPEN;
    } else if (byte === 0x22) {
      if (slot === V_PATH) this.#startString(slot, MAX_PATH_RAW_BYTES);
      else if (slot === V_KIND) this.#startString(slot, MAX_WORD_RAW_BYTES);
      else if (slot === V_SKIP) this.#startString(slot, 0);
      else throw this.#wrongType(slot);
    } else if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) {
      const integer = slot === V_FILES || slot === V_BYTES || slot === V_SIZE ||
        slot === V_MODE;
      if (!integer && slot !== V_SKIP) throw this.#wrongType(slot);
      if (integer && byte === 0x2d) throw this.#wrongType(slot);
      this.#numberSlot = slot;
      this.#number = byte - 0x30;
      this.#digits = 1;
      this.#numberState = byte === 0x2d ? N_MINUS : byte === 0x30 ? N_ZERO : N_INT;
      this.#state = ST_NUMBER;
    } else if (LITERALS[byte] !== undefined) {
      if (slot !== V_SKIP) throw this.#wrongType(slot);
      this.#literal = LITERALS[byte]!;
      this.#literalAt = 1;
      this.#state = ST_LITERAL;
    } else {
      throw this.#unexpected(piece, at);
    }
  }

  #startKey(): void {
    const context = this.#stack[this.#stack.length - 1];
    this.#startString(V_KEY, context === SKIP_OBJECT ? 0 : MAX_WORD_RAW_BYTES);
  }

  #startString(slot: number, keep: number): void {
    this.#stringSlot = slot;
    this.#keep = keep;
    this.#rawLength = 0;
    this.#overflow = false;
    this.#escaped = false;
    this.#state = ST_STRING;
  }

  /** Reads string bytes from `piece[i]` on; returns where it stopped. */
  #readString(piece: Uint8Array, i: number): number {
    const n = piece.length;
    const start = i;
    for (;;) {
      while (i < n && (this.#escape !== 0 || this.#utf8Need !== 0)) {
        this.#continueSequence(piece, i);
        i++;
      }
      // The common case: printable ASCII other than `"` and `\`.
      while (i < n) {
        const byte = piece[i]!;
        if (byte < 0x20 || byte >= 0x80 || byte === 0x22 || byte === 0x5c) break;
        i++;
      }
      if (i === n) break;
      const byte = piece[i]!;
      if (byte === 0x22) {
        this.#keepBytes(piece, start, i);
        this.#endString();
        return i + 1;
      }
      if (byte === 0x5c) {
        this.#escape = 1;
        this.#escaped = true;
      } else if (byte < 0x20) {
        throw this.#notJson(
          `a control character in a string at byte ${this.#size - piece.length + i}`,
        );
      } else this.#startSequence(piece, i);
      i++;
    }
    this.#keepBytes(piece, start, n);
    return n;
  }

  /** A byte of an escape or a UTF-8 sequence in a string. */
  #continueSequence(piece: Uint8Array, at: number): void {
    const byte = piece[at]!;
    if (this.#escape === 1) {
      if (byte === 0x75) this.#escape = 5; // \u: four hex digits follow
      else if (
        byte === 0x22 || byte === 0x5c || byte === 0x2f || byte === 0x62 || byte === 0x66 ||
        byte === 0x6e || byte === 0x72 || byte === 0x74
      ) this.#escape = 0;
      else throw this.#unexpected(piece, at);
    } else if (this.#escape > 1) {
      const hex = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) ||
        (byte >= 0x61 && byte <= 0x66);
      if (!hex) throw this.#unexpected(piece, at);
      this.#escape = this.#escape === 2 ? 0 : this.#escape - 1;
    } else {
      if (byte < this.#utf8Low || byte > this.#utf8High) throw this.#badUtf8(piece, at);
      this.#utf8Low = 0x80;
      this.#utf8High = 0xbf;
      this.#utf8Need--;
    }
  }

  /** The first byte of a UTF-8 sequence of two to four bytes: no overlong form, no surrogate. */
  #startSequence(piece: Uint8Array, at: number): void {
    const byte = piece[at]!;
    if (byte < 0xc2 || byte > 0xf4) throw this.#badUtf8(piece, at);
    if (byte < 0xe0) {
      this.#utf8Need = 1;
    } else if (byte < 0xf0) {
      this.#utf8Need = 2;
      if (byte === 0xe0) this.#utf8Low = 0xa0;
      if (byte === 0xed) this.#utf8High = 0x9f;
    } else {
      this.#utf8Need = 3;
      if (byte === 0xf0) this.#utf8Low = 0x90;
      if (byte === 0xf4) this.#utf8High = 0x8f;
    }
  }

  #pathTooLong(): PathError {
    return new PathError(
      `Cannot accept the path of entry ${this.#checker.count}: it is more than ${MAX_PATH_BYTES} bytes long`,
      "",
    );
  }

  #badUtf8(piece: Uint8Array, at: number): Error {
    return this.#notJson(`it is not valid UTF-8 at byte ${this.#size - piece.length + at}`);
  }

  /** Keeps `piece[from..to]` of a string whose value matters, up to its limit. */
  #keepBytes(piece: Uint8Array, from: number, to: number): void {
    if (this.#keep === 0 || this.#overflow || to === from) return;
    let length = this.#rawLength;
    if (length + (to - from) > this.#keep) {
      // No path is that long: refuse now rather than read on to its end.
      if (this.#stringSlot === V_PATH) throw this.#pathTooLong();
      this.#overflow = true;
      return;
    }
    const raw = this.#raw;
    // Most kept strings are short: a loop beats making a subarray to set().
    if (to - from > SHORT_COPY_BYTES) raw.set(piece.subarray(from, to), length);
    else for (let i = from; i < to; i++) raw[length + i - from] = piece[i]!;
    length += to - from;
    this.#rawLength = length;
  }

  /** The kept string. */
  #text(): string {
    const raw = this.#raw;
    const length = this.#rawLength;
    let text: string;
    if (length <= SHORT_COPY_BYTES && this.#ascii()) {
      const codes = CODES[length]!;
      for (let i = 0; i < length; i++) codes[i] = raw[i]!;
      text = String.fromCharCode.apply(null, codes);
    } else text = UTF8.decode(raw.subarray(0, length));
    // Escapes are rare; the bytes are a checked JSON string body.
    return this.#escaped ? JSON.parse(`"${text}"`) : text;
  }

  #ascii(): boolean {
    const raw = this.#raw;
    for (let i = 0; i < this.#rawLength; i++) if (raw[i]! >= 0x80) return false;
    return true;
  }

  /** Whether the kept bytes, without escapes, are `word`. */
  #is(word: Uint8Array): boolean {
    if (this.#rawLength !== word.length || this.#escaped || this.#overflow) return false;
    for (let i = 0; i < word.length; i++) if (this.#raw[i] !== word[i]) return false;
    return true;
  }

  #endString(): void {
    const slot = this.#stringSlot;
    this.#state = ST_AFTER;
    if (slot === V_KEY) {
      this.#state = ST_COLON;
      this.#keySlot = this.#keyFor();
    } else if (slot === V_PATH) {
      this.#path = this.#text();
    } else if (slot === V_KIND) {
      this.#kind = this.#is(KIND_FILE)
        ? "file"
        : this.#is(KIND_DIR)
        ? "dir"
        : this.#overflow
        ? ""
        : this.#text();
    }
    if (this.#state === ST_AFTER && this.#stack.length === 0) this.#state = ST_END;
  }

  /** What the value of the key just read is for; refuses a known key twice. */
  #keyFor(): number {
    const context = this.#stack[this.#stack.length - 1];
    const keys = context === TOP ? KEYS_TOP : context === ENTRY ? KEYS_ENTRY : undefined;
    if (keys === undefined || this.#keep === 0 || this.#overflow) return V_SKIP;
    // An escaped key (`"\u0070ath"`) is still the key it spells.
    const text = this.#escaped ? this.#text() : undefined;
    let slot = V_SKIP;
    let key: Uint8Array | undefined;
    for (let i = 0; i < keys.length; i++) {
      const word = keys[i]![0];
      if (text === undefined ? this.#is(word) : text === UTF8.decode(word)) {
        slot = keys[i]![1];
        key = word;
      }
    }
    if (slot === V_SKIP) return slot;
    const bit = 1 << slot;
    const name = show(UTF8.decode(key));
    if (context === TOP) {
      if (this.#topSeen & bit) throw this.#fail(`it has the key ${name} twice`);
      this.#topSeen |= bit;
    } else {
      if (this.#entrySeen & bit) {
        throw this.#fail(`entry ${this.#checker.count} has the key ${name} twice`);
      }
      this.#entrySeen |= bit;
    }
    return slot;
  }

  /** Reads number bytes from `piece[i]` on; returns where it stopped. */
  #readNumber(piece: Uint8Array, i: number): number {
    const n = piece.length;
    const slot = this.#numberSlot;
    if (slot !== V_SKIP) {
      while (i < n) {
        const byte = piece[i]!;
        if (byte >= 0x30 && byte <= 0x39) {
          // No leading zero, no more digits than 2^53-1 has.
          if (this.#numberState === N_ZERO || ++this.#digits > MAX_INTEGER_DIGITS) {
            throw this.#wrongType(slot);
          }
          this.#number = this.#number * 10 + (byte - 0x30);
          i++;
        } else if (byte === 0x2e || byte === 0x65 || byte === 0x45) {
          throw this.#wrongType(slot);
        } else {
          if (this.#number > Number.MAX_SAFE_INTEGER) throw this.#wrongType(slot);
          this.#endInteger(slot, this.#number);
          return i;
        }
      }
      return n;
    }
    while (i < n) {
      const byte = piece[i]!;
      const digit = byte >= 0x30 && byte <= 0x39;
      const state = this.#numberState;
      if (digit) {
        if (state === N_MINUS) this.#numberState = byte === 0x30 ? N_ZERO : N_INT;
        else if (state === N_ZERO) throw this.#unexpected(piece, i);
        else if (state === N_DOT) this.#numberState = N_FRACTION;
        else if (state === N_E || state === N_E_SIGN) this.#numberState = N_EXPONENT;
      } else if (byte === 0x2e && (state === N_ZERO || state === N_INT)) {
        this.#numberState = N_DOT;
      } else if (
        (byte === 0x65 || byte === 0x45) &&
        (state === N_ZERO || state === N_INT || state === N_FRACTION)
      ) {
        this.#numberState = N_E;
      } else if ((byte === 0x2b || byte === 0x2d) && state === N_E) {
        this.#numberState = N_E_SIGN;
      } else {
        if (state === N_MINUS || state === N_DOT || state === N_E || state === N_E_SIGN) {
          throw this.#unexpected(piece, i);
        }
        this.#endValue();
        return i;
      }
      i++;
    }
    return n;
  }

  #endInteger(slot: number, value: number): void {
    if (slot === V_FILES) this.#files = value;
    else if (slot === V_BYTES) this.#bytes = value;
    else if (slot === V_SIZE) this.#entrySize = value;
    else this.#mode = value;
    this.#endValue();
  }

  #readLiteral(piece: Uint8Array, i: number): number {
    const literal = this.#literal;
    while (i < piece.length && this.#literalAt < literal.length) {
      if (piece[i] !== literal[this.#literalAt]) throw this.#unexpected(piece, i);
      this.#literalAt++;
      i++;
    }
    if (this.#literalAt === literal.length) this.#endValue();
    return i;
  }

  #endValue(): void {
    this.#state = this.#stack.length === 0 ? ST_END : ST_AFTER;
  }

  #closeObject(): void {
    const context = this.#stack.pop();
    if (context === ENTRY) {
      this.#checker.add(this.#path, this.#kind, this.#entrySize, this.#mode);
    }
    this.#endValue();
  }

  #closeArray(): void {
    this.#stack.pop();
    this.#endValue();
  }
}
