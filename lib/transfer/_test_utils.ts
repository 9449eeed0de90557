/**
 * Helpers for the transfer tests: two connections joined in memory (a real
 * Connection each, on an in-memory relay, no direct path), and temporary
 * directories.
 *
 * @module
 */

import { join } from "node:path";
import { deriveSessionKeys, type Side } from "../crypto/keys.ts";
import { PunchConnection } from "../connection/connection.ts";
import { deriveMessageKeys } from "../connection/open.ts";
import { DEFAULT_TIMINGS } from "../connection/types.ts";
import type { FramePipe } from "../link/frames.ts";
import type { RendezvousClient } from "../rendezvous/client.ts";

/** Timings for tests: a quick close, the connection's own liveness otherwise. */
const TIMINGS = { ...DEFAULT_TIMINGS, closeWaitMs: 500 };

/**
 * Two connections, sender first, joined by an in-memory relay; `tap` may
 * rewrite or end the frames from the sender to the receiver.
 */
export function channels(
  tap?: TransformStream<Uint8Array, Uint8Array>,
): [PunchConnection, PunchConnection] {
  const isk = crypto.getRandomValues(new Uint8Array(64));
  const toReceiver = new TransformStream<Uint8Array, Uint8Array>();
  const toSender = new TransformStream<Uint8Array, Uint8Array>();
  const ends: [FramePipe, FramePipe] = [
    { readable: toSender.readable, writable: toReceiver.writable },
    {
      readable: tap ? toReceiver.readable.pipeThrough(tap) : toReceiver.readable,
      writable: toSender.writable,
    },
  ];
  const client = { release: () => Promise.resolve() } as unknown as RendezvousClient;
  const make = (side: Side, end: FramePipe) => {
    const connection = new PunchConnection("1-abandon-ability", side, client, {
      direct: "never",
      server: "memory:",
      port: 0,
      portMapping: false,
      timings: TIMINGS,
    });
    (async () => {
      const keys = await deriveSessionKeys(isk, side);
      connection.begin(keys, await deriveMessageKeys(keys, side), {
        writer: end.writable.getWriter(),
        reader: end.readable.getReader(),
      });
    })();
    return connection;
  };
  return [make("sender", ends[0]), make("receiver", ends[1])];
}

/** A new temporary directory; the test removes it. */
export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "punch-transfer-" });
}

/** Every path under `root`, relative and sorted; empty if `root` is missing. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, rel: string) {
    for await (const entry of Deno.readDir(dir)) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      out.push(relPath);
      if (entry.isDirectory) await walk(join(dir, entry.name), relPath);
    }
  }
  await walk(root, "").catch(() => {});
  return out.sort();
}

/** A tap that passes the first `frames` frames and then ends the stream. */
export function cutAfter(frames: number): TransformStream<Uint8Array, Uint8Array> {
  let n = 0;
  return new TransformStream({
    transform(frame, controller) {
      if (n++ < frames) return controller.enqueue(frame);
      try {
        controller.terminate();
      } catch { /* already closing */ }
    },
  });
}

/** A tap that passes frames until `records` records of 1 MiB of file data have gone, then ends the stream. */
export function cutAfterData(records: number): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(frame, controller) {
      if (seen === records) return;
      controller.enqueue(frame);
      if (frame.length > 1024 * 1024 && ++seen === records) controller.terminate();
    },
  });
}
