/**
 * `punch receive` without a code asks for it: `Code: ` on stderr, a line
 * read from the terminal a key at a time, Tab completing the words.
 *
 * Keys (the terminal in cbreak mode: no echo, no line editing, but Ctrl-C
 * still sends SIGINT, so it interrupts like anywhere else in punch):
 * - Tab completes what {@linkcode completeCode} can: the `-` after the
 *   nameplate, a word from a prefix only it has (and the `-` after the first
 *   word), or the letters an ambiguous prefix's words share; a second Tab on
 *   an ambiguous prefix lists its words below the line.
 * - Backspace deletes a character, Ctrl-W a word, Ctrl-U the line.
 * - Enter accepts a code that `parseCode()` reads; otherwise its error shows
 *   below and the line stays to be corrected.
 * - Ctrl-D on an empty line gives up (the caller says a code is needed);
 *   Ctrl-C read as a byte (no SIGINT) interrupts too.
 * - Escape sequences (arrows, function keys) and non-ASCII bytes are
 *   ignored: a code is ASCII and typed at the end of the line.
 *
 * @module
 */

import { completeCode } from "../lib/code/complete.ts";
import { parseCode } from "../lib/code/phrase.ts";
import { PunchError } from "../lib/errors.ts";

/** What the prompt shows. */
export const CODE_PROMPT = "Code: ";
/**
 * The longest line taken: the longest code (8 digits, two 8-letter words) is
 * 26 characters; the rest is room for spaces typed between the parts.
 */
export const MAX_CODE_LINE_CHARS = 64;
/**
 * The most words a double Tab lists: a screen's worth at 80 columns (8 a row,
 * 12 rows). With more, it says how many and asks for another letter.
 */
export const MAX_LISTED_WORDS = 96;

const BELL = "\x07";
const CLEAR_LINE = "\r\x1b[K";

/** What a key did: text to write, and whether the prompt ends. */
interface KeyResult {
  output: string;
  /** The code, once Enter accepted one; `null` for Ctrl-D on an empty line. */
  done?: string | null;
}

/**
 * The line being typed and what each key does to it, without the terminal:
 * bytes in, text to write out.
 */
export class CodeLineEditor {
  #text = "";
  #lastWasTab = false;
  /** Inside an escape sequence: 1 after ESC, 2 inside `ESC [` or `ESC O`. */
  #escape = 0;
  readonly #columns: number;

  constructor(columns = 80) {
    this.#columns = columns;
  }

  /** The line so far. */
  get text(): string {
    return this.#text;
  }

  /**
   * Applies one input byte.
   *
   * @throws {DOMException} `AbortError` "Interrupted" for Ctrl-C.
   */
  key(byte: number): KeyResult {
    if (this.#escape > 0) {
      this.#skipEscape(byte);
      return { output: "" };
    }
    const tab = byte === 0x09;
    const wasTab = this.#lastWasTab;
    this.#lastWasTab = tab;
    if (tab) return { output: this.#complete(wasTab) };
    switch (byte) {
      case 0x03:
        throw new DOMException("Interrupted", "AbortError");
      case 0x04:
        return this.#text === "" ? { output: "\r\n", done: null } : { output: BELL };
      case 0x0d:
      case 0x0a:
        return this.#enter();
      case 0x7f:
      case 0x08:
        if (this.#text === "") return { output: BELL };
        this.#text = this.#text.slice(0, -1);
        return { output: "\b \b" };
      case 0x15:
        this.#text = "";
        return { output: CLEAR_LINE + CODE_PROMPT };
      case 0x17: {
        this.#text = this.#text.replace(/[^\s\-_./]*[\s\-_./]*$/, "");
        return { output: CLEAR_LINE + CODE_PROMPT + this.#text };
      }
      case 0x1b:
        this.#escape = 1;
        return { output: "" };
    }
    if (byte < 0x20 || byte > 0x7e) return { output: "" };
    if (this.#text.length >= MAX_CODE_LINE_CHARS) return { output: BELL };
    const char = String.fromCharCode(byte);
    this.#text += char;
    return { output: char };
  }

  #skipEscape(byte: number): void {
    if (this.#escape === 1) {
      // ESC [ and ESC O start a sequence; ESC and any other byte is a two-byte one (Alt-key).
      this.#escape = byte === 0x5b || byte === 0x4f ? 2 : 0;
    } else if (byte >= 0x40 && byte <= 0x7e) {
      this.#escape = 0;
    }
  }

  #complete(secondTab: boolean): string {
    const { text, candidates } = completeCode(this.#text);
    if (text !== this.#text) {
      const grown = text.startsWith(this.#text);
      const output = grown ? text.slice(this.#text.length) : CLEAR_LINE + CODE_PROMPT + text;
      this.#text = text;
      return output;
    }
    if (candidates.length < 2 || !secondTab) return BELL;
    return `\r\n${this.#list(candidates)}\r\n${CODE_PROMPT}${this.#text}`;
  }

  #list(words: readonly string[]): string {
    if (words.length > MAX_LISTED_WORDS) {
      return `(${words.length} words: type a letter or two of the word first)`;
    }
    const width = Math.max(...words.map((word) => word.length)) + 2;
    const perRow = Math.max(1, Math.floor(this.#columns / width));
    const rows: string[] = [];
    for (let i = 0; i < words.length; i += perRow) {
      rows.push(words.slice(i, i + perRow).map((word) => word.padEnd(width)).join("").trimEnd());
    }
    return rows.join("\r\n");
  }

  #enter(): KeyResult {
    try {
      return { output: "\r\n", done: parseCode(this.#text).code };
    } catch (error) {
      if (!(error instanceof PunchError)) throw error;
      return { output: `\r\n${error.message}\r\n${CODE_PROMPT}${this.#text}` };
    }
  }
}

/** Options for {@linkcode promptCode}; tests replace the terminal. */
export interface PromptCodeOptions {
  /** @default {Deno.stdin.read} */
  read?: (buffer: Uint8Array) => Promise<number | null>;
  /** @default {writes to Deno.stderr} */
  write?: (text: string) => void;
  /** @default {Deno.stdin.setRaw, in cbreak mode} */
  setRaw?: (raw: boolean) => void;
  /** @default {the terminal's width, else 80} */
  columns?: number;
  signal?: AbortSignal;
}

/**
 * Asks for the code on the terminal; resolves to it, normalized
 * (`4812-velvet-harbor`), or to `undefined` if the user ends the input
 * (Ctrl-D on an empty line, or end of file).
 *
 * @example Usage
 * ```ts ignore
 * import { promptCode } from "./code_prompt.ts";
 * const code = await promptCode({ signal: AbortSignal.timeout(60_000) });
 * ```
 *
 * @throws {DOMException} `AbortError` when interrupted (Ctrl-C, or the signal).
 */
export async function promptCode(options: PromptCodeOptions = {}): Promise<string | undefined> {
  const encoder = new TextEncoder();
  const read = options.read ?? ((buffer) => Deno.stdin.read(buffer));
  const write = options.write ?? ((text) => {
    const bytes = encoder.encode(text);
    for (let n = 0; n < bytes.length;) n += Deno.stderr.writeSync(bytes.subarray(n));
  });
  const setRaw = options.setRaw ?? ((raw) => Deno.stdin.setRaw(raw, { cbreak: true }));
  const columns = options.columns ?? terminalColumns();
  const { signal } = options;
  signal?.throwIfAborted();
  const editor = new CodeLineEditor(columns);
  const buffer = new Uint8Array(256);
  let stop: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    stop = () => reject(signal!.reason);
    signal?.addEventListener("abort", stop, { once: true });
  });
  aborted.catch(() => {});
  setRaw(true);
  try {
    write(CODE_PROMPT);
    for (;;) {
      const n = await Promise.race([read(buffer), aborted]);
      if (n === null) {
        write("\r\n");
        return undefined;
      }
      for (const byte of buffer.subarray(0, n)) {
        const { output, done } = editor.key(byte);
        if (output !== "") write(output);
        if (done !== undefined) return done ?? undefined;
      }
    }
  } catch (error) {
    // Ctrl-C: end the prompt's line, so what follows starts on its own.
    write("\r\n");
    throw error;
  } finally {
    setRaw(false);
    signal?.removeEventListener("abort", stop!);
  }
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}
