import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { offerStream, offerText } from "./content.ts";
import { encodeMessage, TransferError } from "./messages.ts";
import { receiveFiles } from "./receive.ts";
import { sendFiles } from "./send.ts";
import { channels, listTree, tempDir } from "./_test_utils.ts";

/** A stream of `total` bytes (byte i is `i % 251`), in reads of `step` bytes. */
function counting(total: number, step: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= total) return controller.close();
      const n = Math.min(step, total - at);
      controller.enqueue(Uint8Array.from({ length: n }, (_, i) => (at + i) % 251));
      at += n;
    },
  });
}

/** A WritableStream that keeps what it is given. */
function collector(): { stream: WritableStream<Uint8Array>; bytes: () => Uint8Array } {
  const chunks: Uint8Array[] = [];
  return {
    stream: new WritableStream({ write: (chunk) => void chunks.push(chunk.slice()) }),
    bytes: () => {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) out.set(c, (at += c.length) - c.length);
      return out;
    },
  };
}

Deno.test("offerStream() sends a stream of unknown length that arrives whole in a file", async () => {
  const out = await tempDir();
  try {
    const total = 3 * 1024 * 1024 + 12_345;
    const [a, b] = channels();
    const totals: (number | undefined)[] = [];
    const [sent, received] = await Promise.all([
      sendFiles(a, offerStream(counting(total, 65_536))),
      receiveFiles(b, { out, onProgress: (p) => totals.push(p.total) }),
    ]);
    deepEqual(sent, { files: 1, bytes: total, resumed: 0 });
    equal(received.bytes, total);
    ok(totals.every((t) => t === undefined), "a stream has no total");
    deepEqual(await listTree(out), ["stdin"]);
    const bytes = await Deno.readFile(join(out, "stdin"));
    equal(bytes.length, total);
    ok(bytes.every((byte, i) => byte === i % 251));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("receiveFiles() writes a stream or text to `output` when it gives one", async () => {
  for (const offer of [offerStream(counting(1_500_000, 4096)), offerText("hé\x1b[2J")]) {
    const out = await tempDir();
    try {
      const [a, b] = channels();
      const sink = collector();
      await Promise.all([sendFiles(a, offer), receiveFiles(b, { out, output: () => sink.stream })]);
      const expected = offer.content instanceof Uint8Array
        ? offer.content
        : Uint8Array.from({ length: 1_500_000 }, (_, i) => i % 251);
      deepEqual(sink.bytes(), expected);
      deepEqual(await listTree(out), [], "nothing written under out");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  }
});

Deno.test("receiveFiles() refuses to write several files to `output`", async () => {
  const out = await tempDir();
  const src = await tempDir();
  try {
    await Deno.writeTextFile(join(src, "a"), "a");
    await Deno.writeTextFile(join(src, "b"), "b");
    const { scanPaths } = await import("./manifest.ts");
    const [a, b] = channels();
    const sink = collector();
    await Promise.all([
      rejects(sendFiles(a, await scanPaths([join(src, "a"), join(src, "b")]))),
      rejects(
        receiveFiles(b, { out, output: () => sink.stream }),
        (e) => e instanceof TransferError && e.code === "refused" && /single file/.test(e.message),
      ),
    ]);
    equal(sink.bytes().length, 0);
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("receiveFiles() removes a stream cut short and keeps no partial file of it", async () => {
  const out = await tempDir();
  try {
    const [a, b] = channels();
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(2 * 1024 * 1024 + 7));
        controller.error(new Error("Broken pipe"));
      },
    });
    await Promise.all([
      rejects(sendFiles(a, offerStream(failing))),
      rejects(receiveFiles(b, { out }), (e) => e instanceof TransferError),
    ]);
    deepEqual(await listTree(out), []);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("receiveFiles() refuses a stream whose end gives another length than arrived", async () => {
  const out = await tempDir();
  try {
    const [a, b] = channels();
    const piece = new TextEncoder().encode(
      '{"entries":[{"path":"s","kind":"stream","size":0,"mode":420}],"files":1,"bytes":0}',
    );
    const sender = (async () => {
      await a.send(encodeMessage({ type: "offer", more: false, piece }));
      await a.receive(); // answer
      await a.send(
        encodeMessage({ type: "stream_end", index: 0, size: 5, digest: new Uint8Array(32) }),
      );
    })();
    await rejects(
      receiveFiles(b, { out }),
      (e) =>
        e instanceof TransferError && e.code === "protocol" && /ended at 0 of 5/.test(e.message),
    );
    await sender;
    deepEqual(await listTree(out), []);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("offerText() sends text that arrives as a file when no output is given", async () => {
  const out = await tempDir();
  try {
    const [a, b] = channels();
    await Promise.all([sendFiles(a, offerText("hello\n")), receiveFiles(b, { out })]);
    equal(await Deno.readTextFile(join(out, "text.txt")), "hello\n");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
