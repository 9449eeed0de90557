import { deepEqual, doesNotThrow, equal, throws } from "node:assert/strict";
import { MAX_SHOWN_TEXT_BYTES } from "../lib/transfer/defaults.ts";
import type { Manifest } from "../lib/transfer/manifest.ts";
import { TransferError } from "../lib/transfer/messages.ts";
import {
  checkSendContent,
  checkStdoutOffer,
  isShortText,
  ShownText,
  stdoutStream,
} from "./content.ts";
import { UsageError } from "./errors.ts";

const ENCODER = new TextEncoder();

/** A stdoutStream() that collects what it writes, as text. */
function collecting(terminal: boolean): { stream: WritableStream<Uint8Array>; out: () => string } {
  const chunks: Uint8Array[] = [];
  const stream = stdoutStream({
    terminal,
    write: (bytes) => {
      chunks.push(bytes.slice());
      return Promise.resolve();
    },
  });
  return {
    stream,
    out: () => new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
  };
}

async function writeAll(stream: WritableStream<Uint8Array>, chunks: Uint8Array[]) {
  const writer = stream.getWriter();
  for (const chunk of chunks) await writer.write(chunk);
  await writer.close();
}

Deno.test("stdoutStream() passes bytes exactly to a pipe", async () => {
  const { stream, out } = collecting(false);
  await writeAll(stream, [ENCODER.encode("a\x1b[2J"), ENCODER.encode("\rb")]);
  equal(out(), "a\x1b[2J\rb");
});

Deno.test("stdoutStream() escapes controls for a terminal, decodes a character cut in two, ends the line", async () => {
  const { stream, out } = collecting(true);
  const e = ENCODER.encode("é");
  await writeAll(stream, [
    ENCODER.encode("x\x1b]52;c;eA==\x07\n\t"),
    e.subarray(0, 1),
    e.subarray(1),
  ]);
  equal(out(), "x\\x1b]52;c;eA==\\x07\n\té\n");
});

Deno.test("ShownText keeps the text until shown, and gives it for --json", async () => {
  const shown = new ShownText();
  await writeAll(shown.stream, [ENCODER.encode("hi "), ENCODER.encode("there")]);
  equal(shown.text(), "hi there");
  const { stream, out } = collecting(false);
  await shown.show(stream);
  equal(out(), "hi there");
});

Deno.test("checkSendContent() takes paths, - alone or --text alone", () => {
  doesNotThrow(() => checkSendContent(["a", "b"], undefined));
  doesNotThrow(() => checkSendContent(["-"], undefined));
  doesNotThrow(() => checkSendContent([], "hi"));
  throws(() => checkSendContent([], undefined), UsageError);
  throws(() => checkSendContent(["-", "a"], undefined), /goes alone/);
  throws(() => checkSendContent(["a"], "hi"), /--text sends the text alone/);
  throws(() => checkSendContent([], ""), /the text is empty/);
});

function manifest(entries: Manifest["entries"]): Manifest {
  const data = entries.filter((e) => e.kind !== "dir");
  return { entries, files: data.length, bytes: data.reduce((n, e) => n + e.size, 0) };
}

Deno.test("checkStdoutOffer() takes one file, stream or text, and refuses anything more", () => {
  for (const kind of ["file", "stream", "text"] as const) {
    doesNotThrow(() => checkStdoutOffer(manifest([{ path: "a", kind, size: 0, mode: 0o644 }])));
  }
  const two = manifest([
    { path: "a", kind: "file", size: 1, mode: 0o644 },
    { path: "b", kind: "file", size: 1, mode: 0o644 },
  ]);
  throws(
    () => checkStdoutOffer(two),
    (e) =>
      e instanceof TransferError && e.code === "refused" && /2 file\(s\) to stdout/.test(e.message),
  );
  throws(() => checkStdoutOffer(manifest([{ path: "d", kind: "dir", size: 0, mode: 0o755 }])));
});

Deno.test("isShortText() holds for one text entry up to MAX_SHOWN_TEXT_BYTES", () => {
  const text = (size: number) => manifest([{ path: "t", kind: "text", size, mode: 0o644 }]);
  deepEqual(
    [
      isShortText(text(MAX_SHOWN_TEXT_BYTES)),
      isShortText(text(MAX_SHOWN_TEXT_BYTES + 1)),
      isShortText(manifest([{ path: "t", kind: "file", size: 2, mode: 0o644 }])),
    ],
    [true, false, false],
  );
});
