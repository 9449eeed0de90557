import { deepEqual, equal } from "node:assert/strict";
import type { Socket } from "node:net";
import { dialFrom } from "./dial.ts";
import { listenReusable } from "./listen.ts";
import { nextConnection } from "./_test_utils.ts";
import type { FrameReads } from "./_adopt.ts";

/** A u32 big-endian length prefix and `length` bytes of `fill`. */
function frame(length: number, fill: number): Uint8Array {
  const bytes = new Uint8Array(4 + length).fill(fill);
  new DataView(bytes.buffer).setUint32(0, length);
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/**
 * Dials a listener with reads shaped by `layout` (through FFI, or through
 * `node:net` where FFI is missing: both take the shape), has the accepted
 * socket write `wire` in pieces of `piece` bytes with a pause between them
 * (so that reads come back short) and end, and returns the chunks the dialed
 * socket's `'data'` events carried.
 */
async function chunksRead(layout: FrameReads, wire: Uint8Array, piece: number) {
  await using listener = await listenReusable({ hostname: "127.0.0.1" });
  const [reader, writer] = await Promise.all([
    dialFrom({ localPort: 0, host: "127.0.0.1", port: listener.port, frames: layout }),
    nextConnection(listener),
  ]);
  const chunks: Uint8Array[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    reader.on("data", (chunk: Uint8Array) => chunks.push(new Uint8Array(chunk)));
    reader.once("end", () => resolve());
    reader.once("error", reject);
  });
  for (let at = 0; at < wire.length; at += piece) {
    await write(writer, wire.subarray(at, at + piece));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  writer.end();
  await ended;
  reader.destroy();
  writer.destroy();
  return chunks;
}

function write(socket: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}

const LAYOUT: FrameReads = { skipBytes: 5, maxFrameBytes: 1 << 20 };

Deno.test("frame reads hand on each frame whole, in a chunk of its own", async () => {
  const frames = [frame(1 << 20, 1), frame(0, 2), frame(17, 3), frame(300_000, 4)];
  const wire = concat([Uint8Array.of(9, 9, 9, 9, 9), ...frames]);
  for (const piece of [wire.length, 65_536, 4_099]) {
    const chunks = await chunksRead(LAYOUT, wire, piece);
    deepEqual(concat(chunks), wire, `pieces of ${piece}`);
    // The skipped bytes come first, as read; then one chunk per frame.
    const skipped = chunks.findIndex((_, i) => concat(chunks.slice(0, i + 1)).length === 5);
    deepEqual(chunks.slice(skipped + 1).map((c) => c.length), frames.map((f) => f.length));
  }
});

Deno.test("frame reads hand on an over-long length as read, and the rest in large reads", async () => {
  const tooLong = frame(64, 7);
  new DataView(tooLong.buffer).setUint32(0, (1 << 20) + 1);
  const wire = concat([Uint8Array.of(1, 2, 3, 4, 5), tooLong, frame(10, 8)]);
  const chunks = await chunksRead(LAYOUT, wire, wire.length);
  deepEqual(concat(chunks), wire);
});

Deno.test("frame reads hand on a frame cut short by the end of the stream", async () => {
  for (const cut of [5 + 2, 5 + 4 + 40]) {
    const wire = concat([Uint8Array.of(1, 2, 3, 4, 5), frame(100, 6)]).subarray(0, cut);
    const chunks = await chunksRead(LAYOUT, wire, wire.length);
    deepEqual(concat(chunks), wire, `cut after ${cut} bytes`);
  }
});

Deno.test("frame reads with nothing to skip start at a frame", async () => {
  const wire = concat([frame(3, 1), frame(5, 2)]);
  const chunks = await chunksRead({ skipBytes: 0, maxFrameBytes: 16 }, wire, 1);
  deepEqual(chunks.map((c) => c.length), [7, 9]);
  equal(concat(chunks).length, wire.length);
});
