import { equal } from "node:assert/strict";
import { MAX_SHOWN_CHARS, printable, printableText } from "./_printable.ts";

Deno.test("printable() writes C0, DEL and C1 controls as visible escapes", () => {
  equal(
    printable("a\x1b[2K\rb\nc\td\x07\x7f\u009b\u009d"),
    "a\\x1b[2K\\rb\\nc\\td\\x07\\x7f\\x9b\\x9d",
  );
});

Deno.test("printable() makes bidirectional controls visible and keeps other text", () => {
  equal(printable("invoice\u202efdp.exe"), "invoice\\u202efdp.exe");
  equal(printable("\u2066x\u2069\u200f"), "\\u2066x\\u2069\\u200f");
  equal(printable("photos/日本 ü.jpg"), "photos/日本 ü.jpg");
});

Deno.test("printable() cuts long text without splitting a surrogate pair", () => {
  equal(printable("x".repeat(MAX_SHOWN_CHARS + 5)), "x".repeat(MAX_SHOWN_CHARS) + "…");
  equal(printable("a😀", 2), "a\ufffd…");
});

Deno.test("printableText() keeps lines and tabs, escapes every other control, cuts nothing", () => {
  equal(
    printableText("a\n\tb\x1b]52;c;eA==\x07\r\u009b\u202e" + "x".repeat(2000)),
    "a\n\tb\\x1b]52;c;eA==\\x07\\r\\x9b\\u202e" + "x".repeat(2000),
  );
});
