import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { listenReusable } from "./listen.ts";
import { socketPipe } from "./pipe.ts";
import { closed, connectedPair } from "./_test_utils.ts";

/** `length` bytes of a pattern that a shifted or dropped chunk would break. */
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return bytes;
}

async function readAllBytes(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of readable) chunks.push(chunk.slice());
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

async function writeChunks(writable: WritableStream<Uint8Array>, data: Uint8Array, size: number) {
  const writer = writable.getWriter();
  for (let offset = 0; offset < data.byteLength; offset += size) {
    await writer.write(data.subarray(offset, offset + size));
  }
  await writer.close();
}

/** Sockets of both kinds: made by this module (large reads) and plain node:net. */
async function withPairs(test: (a: Socket, b: Socket) => Promise<void>): Promise<void> {
  await using listener = await listenReusable({ hostname: "127.0.0.1" });
  const [a, b] = await connectedPair(listener);
  await test(a, b);
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1" }, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const port = (server.address() as { port: number }).port;
  const c = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  await test(c, await accepted);
  server.close();
}

Deno.test("socketPipe() carries bytes both ways at once, intact", async () => {
  await withPairs(async (a, b) => {
    const pa = socketPipe(a);
    const pb = socketPipe(b);
    const ab = pattern(8 * 1024 * 1024 + 13, 1);
    const ba = pattern(3 * 1024 * 1024 + 7, 2);
    const [gotAtB, gotAtA] = await Promise.all([
      readAllBytes(pb.readable),
      readAllBytes(pa.readable),
      writeChunks(pa.writable, ab, 1024 * 1024),
      writeChunks(pb.writable, ba, 100_000),
    ]);
    ok(gotAtB.byteLength === ab.byteLength && gotAtB.every((byte, i) => byte === ab[i]));
    ok(gotAtA.byteLength === ba.byteLength && gotAtA.every((byte, i) => byte === ba[i]));
    await Promise.all([closed(a), closed(b)]);
  });
});

Deno.test("socketPipe() half-closes: the other side can still answer", async () => {
  await withPairs(async (a, b) => {
    const pa = socketPipe(a);
    const pb = socketPipe(b);
    await writeChunks(pa.writable, new TextEncoder().encode("question"), 1024);
    const question = new TextDecoder().decode(await readAllBytes(pb.readable));
    equal(question, "question");
    await writeChunks(pb.writable, new TextEncoder().encode("answer"), 1024);
    equal(new TextDecoder().decode(await readAllBytes(pa.readable)), "answer");
    await Promise.all([closed(a), closed(b)]);
  });
});

Deno.test("socketPipe() stops reading while the reader lags, so the writer waits", async () => {
  await withPairs(async (a, b) => {
    const pa = socketPipe(a);
    const pb = socketPipe(b, { readableHighWaterMark: 64 * 1024 });
    const chunk = new Uint8Array(1024 * 1024);
    const writer = pa.writable.getWriter();
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < 256; i++) {
        await writer.write(chunk);
        written += chunk.byteLength;
      }
      await writer.close();
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Kernel buffers, the socket's queue and the readable hold a few MiB;
    // without backpressure all 256 MiB would be gone by now.
    ok(written < 64 * 1024 * 1024, `${written} bytes written with nobody reading`);
    let read = 0;
    for await (const part of pb.readable) read += part.byteLength;
    await writing;
    equal(read, 256 * 1024 * 1024);
    await pb.writable.close();
    await readAllBytes(pa.readable);
    await Promise.all([closed(a), closed(b)]);
  });
});

Deno.test("socketPipe() close() errors both of its streams", async () => {
  await withPairs(async (a, b) => {
    const pa = socketPipe(a);
    const pb = socketPipe(b);
    const reading = pa.readable.getReader().read();
    pa.close();
    await rejects(reading, /Socket closed/);
    await rejects(pa.writable.getWriter().write(new Uint8Array(1)), /Socket closed/);
    // The peer sees the end.
    deepEqual(await readAllBytes(pb.readable), new Uint8Array(0));
    pb.close();
    await Promise.all([closed(a), closed(b)]);
  });
});

Deno.test("socketPipe() reports the peer's reset on writes", async () => {
  await withPairs(async (a, b) => {
    const pa = socketPipe(a);
    b.resetAndDestroy();
    const writer = pa.writable.getWriter();
    const chunk = new Uint8Array(64 * 1024);
    const error = await (async () => {
      for (let i = 0; i < 1000; i++) await writer.write(chunk);
    })().then(() => null, (error: Error) => error);
    ok(error !== null, "writes kept succeeding after the peer's reset");
    await rejects(pa.readable.getReader().read());
    await Promise.all([closed(a), closed(b)]);
  });
});

Deno.test("socketPipe() readable cancel and writable abort destroy the socket", async () => {
  await withPairs(async (a, b) => {
    await socketPipe(a).readable.cancel();
    await closed(a);
    await socketPipe(b).writable.abort();
    await closed(b);
  });
});
