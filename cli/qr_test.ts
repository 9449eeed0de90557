import { equal, ok } from "node:assert/strict";
import { readQr } from "../lib/qr/_test_utils.ts";
import { qrLines } from "./qr.ts";

type Rgb = [number, number, number];

/** A terminal theme: its default text and ground colours. */
interface Theme {
  foreground: Rgb;
  background: Rgb;
}
const DARK: Theme = { foreground: [204, 204, 204], background: [30, 30, 30] };
const LIGHT: Theme = { foreground: [40, 40, 40], background: [250, 250, 250] };
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
function screen(lines: string[], theme: Theme, scale = 3) {
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

function read(lines: string[], theme: Theme, invert = false) {
  const { pixels, width, height } = screen(lines, theme);
  return readQr(pixels, width, height, invert)?.data;
}

const URLS = [
  "https://p.example/",
  "https://punch.example/#4812-velvet-harbor",
  `https://punch.example:8443/#4812-velvet-harbor&${"a1b2c3d4".repeat(19)}`,
];

Deno.test("qrLines() in colour reads back as the URL on a dark and a light terminal", () => {
  equal(URLS[2]!.length, 199);
  for (const url of URLS) {
    const lines = qrLines(url, { color: true });
    equal(read(lines, DARK), url);
    equal(read(lines, LIGHT), url);
  }
});

Deno.test("qrLines() without colour reads back on a dark terminal, and only inverted on a light one", () => {
  for (const url of URLS) {
    const lines = qrLines(url, { color: false });
    for (const line of lines) ok(!line.includes("\x1b"));
    equal(read(lines, DARK), url);
    equal(read(lines, LIGHT), undefined);
    equal(read(lines, LIGHT, true), url);
  }
});

Deno.test("qrLines() draws the quiet zone and two module rows a line: 37×19 for a typical URL", () => {
  const lines = qrLines("https://punch.example/#4812-velvet-harbor", { color: false });
  // Version 3: 29 modules, 37 with the quiet zone; 37 rows make 19 lines.
  equal(lines.length, 19);
  for (const line of lines) equal([...line].length, 37);
  // No colour: the quiet zone is light, drawn in the text colour.
  equal(lines[0], "█".repeat(37));
  equal(lines[1], "█".repeat(37));
  equal(lines[18], "█".repeat(37));
  const painted = qrLines("https://punch.example/#4812-velvet-harbor", { color: true });
  ok(painted.every((line) => line.startsWith("\x1b[30;107m") && line.endsWith("\x1b[0m")));
  equal(painted[0], `\x1b[30;107m${" ".repeat(37)}\x1b[0m`);
  // The widest code still fits an 80-column terminal.
  const widest = qrLines("x".repeat(213), { color: false });
  equal([...widest[0]!].length, 65);
});
