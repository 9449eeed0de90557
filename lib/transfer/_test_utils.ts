/**
 * Helpers for the transfer tests: two secure channels joined in memory, and
 * temporary directories.
 *
 * @module
 */

import { join } from "node:path";
import { SecureChannel } from "../link/channel.ts";
import { type FramePipe, memoryFramePipes } from "../link/frames.ts";

function keys() {
  const a = crypto.getRandomValues(new Uint8Array(32));
  const b = crypto.getRandomValues(new Uint8Array(32));
  return [{ send: a, receive: b }, { send: b, receive: a }] as const;
}

/**
 * Two secure channels joined in memory; `tap` may rewrite frames from sender
 * to receiver; each direction holds `frames` frames before a send waits.
 */
export function channels(
  tap?: TransformStream<Uint8Array, Uint8Array>,
  frames?: number,
): [SecureChannel, SecureChannel] {
  const [ka, kb] = keys();
  let [a, b]: FramePipe[] = memoryFramePipes(frames);
  if (tap) b = { readable: b!.readable.pipeThrough(tap), writable: b!.writable };
  return [new SecureChannel(a!, ka), new SecureChannel(b!, kb)];
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
