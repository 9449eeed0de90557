/**
 * A QR code drawn in a terminal: two module rows to a character with the
 * half blocks ▀ ▄ █ and space, inside the 4-module quiet zone that readers
 * need, so a phone can open the page's URL from `punch send`'s screen.
 *
 * Colours: scanners read dark modules on a light ground (most do not try
 * the inverse). A terminal's own colours may be either way round, so by
 * default every line paints its own: black (SGR 30) on bright white (SGR
 * 107), the blocks drawing the dark modules, the same on a dark or a light
 * theme. With `NO_COLOR` (or `color: false`) no escape is written and the
 * blocks draw the light modules in the terminal's text colour: right on a
 * dark theme (light text on a dark ground), inverted on a light one, which
 * phone cameras mostly still read but strict readers do not.
 *
 * @module
 */

import { encodeQr } from "../lib/qr/encode.ts";

/** Light modules around the symbol, as ISO/IEC 18004 requires. */
export const QUIET_ZONE_MODULES = 4;

/** Black text on a bright white ground, and the reset after each line. */
const PAINT = "\x1b[30;107m";
const RESET = "\x1b[0m";

/** The glyph for a cell's top and bottom module: whether each is drawn in the text colour. */
const GLYPHS = [" ", "▄", "▀", "█"];

/** Options for {@linkcode qrLines}. */
export interface QrLinesOptions {
  /**
   * Paint black on white with SGR colours; without, draw the light modules
   * in the terminal's text colour (for a dark theme).
   *
   * @default {!Deno.noColor}
   */
  color?: boolean;
}

/**
 * The lines to print, without newlines, that show `text` (a URL) as a QR
 * code at level M, quiet zone included: `17 + 4v + 8` characters wide
 * (65 at most) and half as many lines.
 *
 * @example Usage
 * ```ts
 * import { qrLines } from "./qr.ts";
 * for (const line of qrLines("https://punch.example/#4812-velvet-harbor")) console.error(line);
 * ```
 *
 * @throws {RangeError} If `text` is longer than a version 10 code holds (213 bytes).
 */
export function qrLines(text: string, options: QrLinesOptions = {}): string[] {
  const color = options.color ?? !Deno.noColor;
  const qr = encodeQr(text);
  const side = qr.size + 2 * QUIET_ZONE_MODULES;
  // Drawn in the text colour: the dark modules on the painted ground, else the light ones.
  const inked = (row: number, column: number) =>
    qr.isDark(row - QUIET_ZONE_MODULES, column - QUIET_ZONE_MODULES) === color;
  const lines: string[] = [];
  for (let row = 0; row < side; row += 2) {
    let line = "";
    for (let column = 0; column < side; column++) {
      // Past the last row (the side is odd) is more quiet zone: light.
      const bottom = row + 1 < side ? inked(row + 1, column) : !color;
      line += GLYPHS[(inked(row, column) ? 2 : 0) + (bottom ? 1 : 0)];
    }
    lines.push(color ? PAINT + line + RESET : line);
  }
  return lines;
}
