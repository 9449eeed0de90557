// The offer phase over in-memory channels.

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import type { Channel } from "../link/channel.ts";
import {
  decodeMessage,
  encodeMessage,
  OFFER_PIECE_BYTES,
  TransferError,
  type TransferMsg,
} from "./messages.ts";
import { receiveFiles } from "./receive.ts";
import { channels, tempDir } from "./_test_utils.ts";

/** Settles with `promise`, or fails the test if it takes longer than `ms`: a hang is a failure. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next message, decoded. */
async function next(channel: Channel): Promise<TransferMsg> {
  return decodeMessage((await channel.receive())!);
}

Deno.test("receiveFiles() refuses a hostile manifest at its first piece, before the rest comes", async () => {
  const out = await tempDir();
  try {
    for (
      const [start, fill, detail] of [
        ['{"x":', 0x5b, "it nests deeper than the 32 levels allowed"], // [[[[…
        ['{"entries":', 0x7b, '"entries" is not an array'], // {{{{…
        ['{"entries":[{"path":"', 0x61, "more than 4096 bytes long"], // aaaa…
      ] as const
    ) {
      const [a, b] = channels();
      const receiving = receiveFiles(b, { out });
      receiving.catch(() => {});
      const piece = new Uint8Array(OFFER_PIECE_BYTES).fill(fill);
      piece.set(new TextEncoder().encode(start));
      // One piece of a 64 MiB offer, and no more: the receiver must not wait for the rest.
      await a.send(encodeMessage({ type: "offer", more: true, piece }));
      const reply = await within(next(a), 10_000, "the receiver");
      equal(reply.type, "error");
      if (reply.type === "error") {
        ok(["bad_manifest", "bad_path"].includes(reply.error), reply.error);
        ok(reply.message.includes(detail), reply.message);
      }
      await rejects(receiving, TransferError);
    }
    deepEqual([...Deno.readDirSync(out)], []);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
