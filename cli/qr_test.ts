import { equal, ok } from "node:assert/strict";
import { DARK, LIGHT, readScreen as read } from "../tests/_qr_screen.ts";
import { qrLines } from "./qr.ts";

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
