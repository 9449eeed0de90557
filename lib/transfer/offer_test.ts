// The offer phase over in-memory connections: parsing as the pieces
// arrive, refusing early, turns for the event loop, and a hostile result.

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
import { receiveFiles } from "./receive.ts";
import { sendFiles } from "./send.ts";
import { channels, tempDir } from "./_test_utils.ts";

const MiB = 1024 * 1024;

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

/** Reads the offer's pieces as a receiver; returns the bytes. */
async function takeOffer(channel: Channel): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for (;;) {
    const msg = await next(channel);
    if (msg.type !== "offer") throw new Error(`expected offer, got ${msg.type}`);
    pieces.push(msg.piece.slice());
    if (!msg.more) break;
  }
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  pieces.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

Deno.test("receiveFiles() reads a manifest of many pieces, larger than the window, as they come", async () => {
  const manifest = manyFiles(200_000);
  const out = await tempDir();
  try {
    const [a, b] = channels();
    const pieces: boolean[] = [];
    let decodedEntries = 0;
    const receiving = receiveFiles(b, {
      out,
      confirm: (offered) => {
        decodedEntries = offered.entries.length;
        return false;
      },
    });
    const sender = spy(a, { sent: (m) => m[0] === 0x01 && pieces.push(m[1] === 1) });
    const sending = sendFiles(sender, { manifest, sources: [], warnings: [] });
    await rejects(receiving, (e) => e instanceof TransferError && e.code === "refused");
    await rejects(sending, (e) => e instanceof TransferError && e.code === "refused");
    // About 11 MiB in 1 MiB pieces, more than the connection's 8 MiB window.
    ok(pieces.length > 8, `${pieces.length} pieces`);
    deepEqual(pieces, [...Array(pieces.length - 1).fill(true), false]);
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

/** A receiver that takes the offer and accepts it, for the test below. */
async function accepting(channel: Channel): Promise<void> {
  await takeOffer(channel);
  await channel.send(encodeMessage({ type: "answer", accept: true }));
}

Deno.test("sendFiles() refuses a result before done", async () => {
  const src = await tempDir();
  try {
    await Deno.writeFile(join(src, "f"), new Uint8Array(3 * MiB));
    const manifest: Manifest = {
      entries: [{ path: "f", kind: "file", size: 3 * MiB, mode: 0o644 }],
      files: 1,
      bytes: 3 * MiB,
    };
    const [a, b] = channels();
    const sending = sendFiles(a, { manifest, sources: [join(src, "f")], warnings: [] });
    sending.catch(() => {});
    // A hostile receiver: it says `result` at once, and then says nothing
    // more (it keeps reading, so sends never wait).
    await accepting(b);
    await b.send(encodeMessage({ type: "result", files: 1, bytes: 3 * MiB }));
    (async () => {
      while (await b.receive().catch(() => null) !== null) { /* read on */ }
    })();
    const error = await within(sending.then(() => undefined, (e) => e), 10_000, "sendFiles()");
    ok(error instanceof TransferError && error.code === "protocol", String(error));
    equal(error.message, "Unexpected result from the receiver");
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});
