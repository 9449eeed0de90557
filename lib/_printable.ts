// Text from a peer or a server, made safe to show on a terminal.

/**
 * What a terminal acts on instead of showing: C0 controls (ESC starts every
 * escape sequence; CR and LF let a line be overwritten or a fake one added),
 * DEL, and C1 controls (U+009B is CSI, U+009D OSC, in terminals that read
 * 8-bit controls); and the Unicode bidirectional controls, which make a name
 * read in another order than its bytes (`invoice‮fdp.exe`).
 */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The longest text a peer's or server's message is shown at, in UTF-16 code units. */
export const MAX_SHOWN_CHARS = 1000;

/**
 * `text` with every control and bidirectional control character written as
 * a visible escape (`\x1b`, `\u202e`), cut at `maxChars`. Used for every
 * word a peer or a server says before it reaches a terminal, and for the
 * names in an offer.
 *
 * @example Usage
 * ```ts
 * import { printable } from "./_printable.ts";
 * printable("ok\x1b[2K\rDone"); // "ok\\x1b[2K\\rDone"
 * ```
 */
export function printable(text: string, maxChars: number = MAX_SHOWN_CHARS): string {
  const cut = text.length > maxChars ? `${text.slice(0, maxChars).toWellFormed()}…` : text;
  return cut.replace(UNSAFE, (char) => {
    const code = char.charCodeAt(0);
    if (code === 0x0a) return "\\n";
    if (code === 0x0d) return "\\r";
    if (code === 0x09) return "\\t";
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** What {@linkcode printableText} escapes: {@linkcode printable}'s characters but LF and TAB. */
const UNSAFE_IN_TEXT =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text a peer sent to be read (`punch send --text`), made safe to show on
 * a terminal: as {@linkcode printable}, but line feeds and tabs are kept,
 * so that lines stay lines, and nothing is cut.
 *
 * @example Usage
 * ```ts
 * import { printableText } from "./_printable.ts";
 * printableText("a\n\tb\x1b]52;c;x\x07"); // "a\n\tb\\x1b]52;c;x\\x07"
 * ```
 */
export function printableText(text: string): string {
  return text.replace(UNSAFE_IN_TEXT, (char) => printable(char));
}
