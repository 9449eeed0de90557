import { equal, ok } from "node:assert/strict";
import { DARK, qrLinesIn, readScreen } from "../tests/_qr_screen.ts";
import { humanReporter, jsonReporter, type ReporterOptions } from "./report.ts";

const URL = "http://192.168.1.20:41234/#4812-velvet-harbor";

/** What a human reporter writes for a code event with a URL. */
function shown(options: ReporterOptions): string {
  let text = "";
  humanReporter({ ...options, stderr: (t) => text += t }).report({
    type: "code",
    code: "4812-velvet-harbor",
    url: URL,
  });
  return text;
}

Deno.test("humanReporter() draws a code's URL as a QR code on a terminal, else gives the URL only", () => {
  const terminal = shown({ terminal: true });
  ok(terminal.includes(`Or scan this, or open in a browser: ${URL}\n`), terminal);
  // Painted (colour) or in the text colour (NO_COLOR), the lines read back on a dark theme.
  equal(readScreen(qrLinesIn(terminal), DARK), URL);
  for (const options of [{ terminal: false }, { terminal: true, qr: false }]) {
    const text = shown(options);
    equal(qrLinesIn(text).length, 0, text);
    ok(text.endsWith(`\nOr open in a browser: ${URL}\n`), text);
  }
  // Version 4 (33 modules, 41 with the quiet zone): 21 lines.
  equal(qrLinesIn(shown({ terminal: false, qr: true })).length, 21);
});

Deno.test("humanReporter() gives a URL too long to draw as text only", () => {
  let text = "";
  const url = `https://${"x".repeat(240)}.example/#4812-velvet-harbor`;
  humanReporter({ terminal: true, stderr: (t) => text += t }).report({
    type: "code",
    code: "4812-velvet-harbor",
    url,
  });
  ok(text.endsWith(`\nOr open in a browser: ${url}\n`), text);
});

Deno.test("jsonReporter() gives the code event's url as a field", () => {
  let out = "";
  jsonReporter({ stdout: (t) => out += t }).report({ type: "code", code: "1-a-b", url: URL });
  equal(out, `{"type":"code","code":"1-a-b","url":"${URL}"}\n`);
});
