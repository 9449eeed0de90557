/**
 * Test helpers: what a terminal shows for printed lines, as pixels, and the
 * QR code a real reader (jsQR, via lib/qr/_test_utils.ts) finds in them.
 * Nothing here comes from the encoder: the lines are read as a screen would
 * draw them.
 *
 * @module
 */

import { readQr } from "../lib/qr/_test_utils.ts";

export type Rgb = [number, number, number];

/** A terminal theme: its default text and ground colours. */
export interface Theme {
  foreground: Rgb;
  background: Rgb;
}
export const DARK: Theme = { foreground: [204, 204, 204], background: [30, 30, 30] };
export const LIGHT: Theme = { foreground: [40, 40, 40], background: [250, 250, 250] };
/** xterm's 16 colours: black, red, …, white, then the bright ones. */
const PALETTE: Rgb[] = [
  [0, 0, 0],
  [205, 0, 0],
  [0, 205, 0],
  [205, 205, 0],
  [0, 0, 238],
  [205, 0, 205],
  [0, 205, 205],
  [229, 229, 229],
  [127, 127, 127],
  [255, 0, 0],
  [0, 255, 0],
  [255, 255, 0],
  [92, 92, 255],
  [255, 0, 255],
  [0, 255, 255],
  [255, 255, 255],
];
/** Which halves of a cell each glyph fills with the text colour: top, bottom. */
const HALVES: Record<string, [boolean, boolean]> = {
  " ": [false, false],
  "▀": [true, false],
  "▄": [false, true],
  "█": [true, true],
};

/**
 * What a terminal shows for the lines, as RGBA pixels: a cell `scale` wide
 * and twice as tall (a terminal's usual 1:2 cell), a margin of the theme's
 * ground around the printed text, and the SGR colour codes honoured.
 */
export function screen(lines: string[], theme: Theme, scale = 3) {
  const margin = 6;
  const cells = lines.map((line) => {
    const row: { top: Rgb; bottom: Rgb }[] = [];
    let fg = theme.foreground;
    let bg = theme.background;
    // deno-lint-ignore no-control-regex
    for (const [, params, glyph] of line.matchAll(/\x1b\[([0-9;]*)m|(.)/gsu)) {
      if (glyph === undefined) {
        for (const code of params!.split(";").map(Number)) {
          if (code === 0) [fg, bg] = [theme.foreground, theme.background];
          else if (code === 39) fg = theme.foreground;
          else if (code === 49) bg = theme.background;
          else if (code >= 30 && code <= 37) fg = PALETTE[code - 30]!;
          else if (code >= 90 && code <= 97) fg = PALETTE[code - 90 + 8]!;
          else if (code >= 40 && code <= 47) bg = PALETTE[code - 40]!;
          else if (code >= 100 && code <= 107) bg = PALETTE[code - 100 + 8]!;
          else throw new Error(`unexpected SGR ${code}`);
        }
        continue;
      }
      const halves = HALVES[glyph];
      if (!halves) throw new Error(`unexpected glyph ${JSON.stringify(glyph)}`);
      row.push({ top: halves[0] ? fg : bg, bottom: halves[1] ? fg : bg });
    }
    return row;
  });
  const columns = Math.max(...cells.map((row) => row.length)) + 2 * margin;
  const rows = cells.length + 2 * margin;
  const width = columns * scale;
  const height = rows * 2 * scale;
  const pixels = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const cell = cells[Math.floor(y / (2 * scale)) - margin]?.[Math.floor(x / scale) - margin];
      const colour = cell === undefined
        ? theme.background
        : (y % (2 * scale)) < scale
        ? cell.top
        : cell.bottom;
      pixels.set([...colour, 255], (y * width + x) * 4);
    }
  }
  return { pixels, width, height };
}

/** What jsQR reads on the screen showing `lines`, if anything; `invert` tries light on dark too. */
export function readScreen(lines: string[], theme: Theme, invert = false) {
  const { pixels, width, height } = screen(lines, theme);
  return readQr(pixels, width, height, invert)?.data;
}

/** A line drawn of half blocks only (its colour codes around it), as wide as the smallest code. */
// deno-lint-ignore no-control-regex
const QR_LINE = /^(\x1b\[[0-9;]*m)?[ ▀▄█]{21,}(\x1b\[0m)?$/u;

/** The QR code's lines in a program's output: the first run of half-block lines. */
export function qrLinesIn(output: string): string[] {
  const lines = output.split("\n");
  const start = lines.findIndex((line) => QR_LINE.test(line));
  if (start < 0) return [];
  const end = lines.findIndex((line, i) => i > start && !QR_LINE.test(line));
  return lines.slice(start, end < 0 ? undefined : end);
}
