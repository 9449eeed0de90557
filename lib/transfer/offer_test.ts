// The offer phase over in-memory channels: flow control, parsing as the
// pieces arrive, and turns for the event loop.

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import type { Channel } from "../link/channel.ts";
import { type Manifest, type ManifestEntry } from "./manifest.ts";
import {
  decodeMessage,
  encodeMessage,
  OFFER_PIECE_BYTES,
  TransferError,
  type TransferMsg,
} from "./messages.ts";
import { OFFER_WINDOW_BYTES } from "./defaults.ts";
import { receiveFiles } from "./receive.ts";
import { sendFiles } from "./send.ts";
import { channels, tempDir } from "./_test_utils.ts";

/** A manifest of `count` empty files in directories of 1000, sorted. */
function manyFiles(count: number): Manifest {
  const entries: ManifestEntry[] = [];
  for (let i = 0; i < count; i++) {
    const dir = `d${String(Math.floor(i / 1000)).padStart(4, "0")}`;
    if (i % 1000 === 0) entries.push({ path: dir, kind: "dir", size: 0, mode: 0o755 });
    entries.push({
      path: `${dir}/${String(i % 1000).padStart(3, "0")}`,
      kind: "file",
      size: 0,
      mode: 0o644,
    });
  }
  return { entries, files: count, bytes: 0 };
}

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

/** `channel`, with hooks that see each message sent and received. */
function spy(
  channel: Channel,
  hooks: { sent?: (m: Uint8Array) => void; received?: (m: Uint8Array | null) => void },
): Channel {
  return {
    send: (message) => {
      hooks.sent?.(message);
      return channel.send(message);
    },
    receive: async () => {
      const message = await channel.receive();
      hooks.received?.(message);
      return message;
    },
    close: () => channel.close(),
    abort: (reason) => channel.abort(reason),
    get sentTag() {
      return channel.sentTag;
    },
    get receivedTag() {
      return channel.receivedTag;
    },
  };
}

/** The next message, decoded. */
async function next(channel: Channel): Promise<TransferMsg> {
  return decodeMessage((await channel.receive())!);
}

Deno.test("sendFiles() has at most OFFER_WINDOW_BYTES of the offer unacknowledged", async () => {
  // 200 000 entries encode to about 11 MiB: more than the window.
  const manifest = manyFiles(200_000);
  const [a, b] = channels();
  const sending = sendFiles(a, { manifest, sources: [], warnings: [] }, { stallMs: 300 });
  sending.catch(() => {});
  // A receiver that reads the pieces but never acknowledges them, as an
  // older punch did: the sender stops at the window.
  let pieces = 0;
  let msg: TransferMsg;
  for (;;) {
    msg = await within(next(b), 10_000, "the sender");
    if (msg.type !== "offer") break;
    pieces++;
  }
  equal(pieces, OFFER_WINDOW_BYTES / OFFER_PIECE_BYTES);
  equal(msg.type, "error");
  const error = await sending.then(() => undefined, (e) => e);
  ok(error instanceof TransferError && error.code === "stalled", String(error));
  ok(error.message.includes("the receiver runs an older punch"), error.message);
});

Deno.test("receiveFiles() acknowledges each offer piece but the last, and reads a manifest over the window", async () => {
  const manifest = manyFiles(200_000);
  const out = await tempDir();
  try {
    const [a, b] = channels();
    const credits: number[] = [];
    const pieces: boolean[] = [];
    let decodedEntries = 0;
    const receiving = receiveFiles(b, {
      out,
      confirm: (offered) => {
        decodedEntries = offered.entries.length;
        return false;
      },
    });
    const sender = spy(a, {
      sent: (m) => m[0] === 0x01 && pieces.push(m[1] === 1),
      received: (m) => {
        const msg = m && decodeMessage(m);
        if (msg?.type === "credit") credits.push(msg.bytes);
      },
    });
    const sending = sendFiles(sender, { manifest, sources: [], warnings: [] });
    await rejects(receiving, (e) => e instanceof TransferError && e.code === "refused");
    await rejects(sending, (e) => e instanceof TransferError && e.code === "refused");
    // About 11 MiB in 1 MiB pieces: all but the last acknowledged, in full.
    ok(pieces.length > OFFER_WINDOW_BYTES / OFFER_PIECE_BYTES, `${pieces.length} pieces`);
    deepEqual(pieces, [...Array(pieces.length - 1).fill(true), false]);
    deepEqual(credits, Array(pieces.length - 1).fill(OFFER_PIECE_BYTES));
    equal(decodedEntries, manifest.entries.length);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("receiveFiles() refuses an offer piece before the last that is not full", async () => {
  const out = await tempDir();
  try {
    const [a, b] = channels();
    const receiving = receiveFiles(b, { out });
    await a.send(
      encodeMessage({ type: "offer", more: true, piece: new TextEncoder().encode("{") }),
    );
    await rejects(
      within(receiving, 10_000, "receiveFiles()"),
      (e) => e instanceof TransferError && e.code === "protocol",
    );
    const reply = await next(a);
    equal(reply.type === "error" && reply.error, "protocol");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

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

Deno.test("receiveFiles() gives the event loop turns while it checks an offer of 10^6 entries", async () => {
  const manifest = manyFiles(999_000);
  const out = await tempDir();
  try {
    // Part of what the checks see: directories that exist, one with files.
    await Deno.mkdir(join(out, "d0001"), { recursive: true });
    await Deno.writeFile(join(out, "d0001", "other"), new Uint8Array());
    const [a, b] = channels();
    let ticks = 0;
    let ticksAtPrompt = -1;
    let lastPiece = false;
    const ticker = setInterval(() => lastPiece && ticks++, 1);
    // Over memory, the pieces themselves arrive without a turn for timers:
    // count the turns from the last piece on, while the receiver checks.
    const sender = spy(a, { sent: (m) => m[0] === 0x01 && m[1] === 0 && (lastPiece = true) });
    const sending = sendFiles(sender, { manifest, sources: [], warnings: [] });
    const receiving = receiveFiles(b, {
      out,
      confirm: (offered) => {
        ticksAtPrompt = ticks;
        equal(offered.entries.length, 1_000_000 - 1000 + 999);
        return false;
      },
    });
    await rejects(receiving, (e) => e instanceof TransferError && e.code === "refused");
    await rejects(sending, (e) => e instanceof TransferError && e.code === "refused");
    clearInterval(ticker);
    ok(ticksAtPrompt > 0, `${ticksAtPrompt} timer turns between the last piece and the prompt`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
