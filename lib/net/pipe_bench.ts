/**
 * Throughput of {@linkcode socketPipe} on loopback, 1 MiB writes, one
 * process; Deno's own TCP streams for comparison.
 *
 *   deno run -A lib/net/pipe_bench.ts [MiB] [rounds]   prints MB/s per case
 *   deno bench -A lib/net/pipe_bench.ts        the same, as benchmarks
 *
 * @module
 */

import { connect, createServer, type Socket } from "node:net";
import { listenReusable } from "./listen.ts";
import { socketPipe } from "./pipe.ts";
import { connectedPair } from "./_test_utils.ts";

const MIB = 1024 * 1024;

/** Sends `mib` MiB from `writable` to `readable`; resolves with the bytes read. */
async function transfer(
  writable: WritableStream<Uint8Array>,
  readable: ReadableStream<Uint8Array>,
  mib: number,
): Promise<number> {
  const chunk = new Uint8Array(MIB).fill(0x5a);
  const writing = (async () => {
    const writer = writable.getWriter();
    for (let i = 0; i < mib; i++) {
      await writer.ready;
      void writer.write(chunk);
    }
    await writer.close();
  })();
  let read = 0;
  for await (const part of readable) read += part.byteLength;
  await writing;
  return read;
}

/** socketPipe over sockets this module makes: FFI dial, FFI accept, 1 MiB reads. */
async function punchSockets(mib: number): Promise<number> {
  await using listener = await listenReusable({ hostname: "127.0.0.1" });
  const [a, b] = await connectedPair(listener);
  return await pipeBoth(a, b, mib);
}

/** socketPipe over plain node:net sockets (64 KiB reads). */
async function nodeSockets(mib: number): Promise<number> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1" }, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const port = (server.address() as { port: number }).port;
  const a = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  const read = await pipeBoth(a, await accepted, mib);
  server.close();
  return read;
}

async function pipeBoth(a: Socket, b: Socket, mib: number): Promise<number> {
  const pa = socketPipe(a);
  const pb = socketPipe(b);
  const read = await transfer(pa.writable, pb.readable, mib);
  pa.close();
  pb.close();
  return read;
}

/** Deno.Conn streams, for comparison. */
async function denoConns(mib: number): Promise<number> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  // Each stream closes its connection when it ends.
  return await transfer(a.writable, b.readable, mib);
}

const CASES = {
  "socketPipe, sockets from dialFrom/listenReusable": punchSockets,
  "socketPipe, plain node:net sockets": nodeSockets,
  "Deno.Conn streams": denoConns,
};

if (import.meta.main) {
  // Interleaved rounds, median and best: other load on the machine skews
  // single runs by a factor of two.
  const mib = Number(Deno.args[0] ?? 512);
  const rounds = Number(Deno.args[1] ?? 5);
  const rates = new Map<string, number[]>();
  for (const run of Object.values(CASES)) await run(16); // Warm up.
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(CASES)) {
      const start = performance.now();
      const bytes = await run(mib);
      const rate = bytes / 1e6 / ((performance.now() - start) / 1000);
      rates.set(name, [...(rates.get(name) ?? []), rate]);
    }
  }
  for (const [name, list] of rates) {
    list.sort((a, b) => a - b);
    const median = list[list.length >> 1]!;
    console.log(`${name}: median ${median.toFixed(0)} MB/s, best ${list.at(-1)!.toFixed(0)} MB/s`);
  }
} else {
  for (const [name, run] of Object.entries(CASES)) {
    Deno.bench(`${name}, 256 MiB`, async () => {
      await run(256);
    });
  }
}
