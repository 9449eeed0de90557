// The offer phase over in-memory channels: flow control, parsing as the
// pieces arrive, turns for the event loop, and the sender's timed waits.

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
import { receiveMessage, sendFiles, whileDeciding } from "./send.ts";
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

/** Reads the offer's pieces as a receiver, crediting each but the last; returns the bytes. */
async function takeOffer(channel: Channel): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for (;;) {
    const msg = await next(channel);
    if (msg.type !== "offer") throw new Error(`expected offer, got ${msg.type}`);
    pieces.push(msg.piece.slice());
    if (!msg.more) break;
    await channel.send(encodeMessage({ type: "credit", bytes: msg.piece.length }));
  }
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  pieces.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
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

/** A receiver that takes the offer and answers `accept` with `window`, for the tests below. */
async function accepting(channel: Channel, window: number): Promise<void> {
  await takeOffer(channel);
  await channel.send(encodeMessage({ type: "answer", accept: true, window }));
}

Deno.test("sendFiles() refuses a result before done, instead of waiting for credit for ever", async () => {
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
    // A hostile receiver: it grants one chunk, says `result` at once, and
    // then says nothing more (it keeps reading, so sends never wait).
    await accepting(b, MiB);
    await b.send(encodeMessage({ type: "result", files: 1, bytes: 3 * MiB }));
    (async () => {
      while (await b.receive().catch(() => null) !== null) { /* read on */ }
    })();
    const error = await within(sending.then(() => undefined, (e) => e), 10_000, "sendFiles()");
    ok(error instanceof TransferError && error.code === "protocol", String(error));
    equal(error.message, "The receiver sent result before done");
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("sendFiles() gives up on a receiver that stops reading, as stalled", async () => {
  const src = await tempDir();
  try {
    await Deno.writeFile(join(src, "f"), new Uint8Array(2 * MiB));
    const manifest: Manifest = {
      entries: [{ path: "f", kind: "file", size: 2 * MiB, mode: 0o644 }],
      files: 1,
      bytes: 2 * MiB,
    };
    // Two frames of room each way: once the receiver stops reading, a send waits.
    const [a, b] = channels(undefined, 2);
    const sending = sendFiles(a, { manifest, sources: [join(src, "f")], warnings: [] }, {
      stallMs: 300,
    });
    sending.catch(() => {});
    await accepting(b, 64 * MiB);
    // And now it neither reads nor speaks.
    const error = await within(sending.then(() => undefined, (e) => e), 10_000, "sendFiles()");
    ok(error instanceof TransferError && error.code === "stalled", String(error));
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("sendFiles() waits for the answer under its stall timer, kept alive by deciding", async () => {
  const manifest = manyFiles(10);
  // A receiver that keeps saying `deciding`, then answers: the sender waits.
  {
    const [a, b] = channels();
    const sending = sendFiles(a, { manifest, sources: [], warnings: [] }, { stallMs: 300 });
    await takeOffer(b);
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await b.send(encodeMessage({ type: "deciding" }));
    }
    await b.send(encodeMessage({ type: "answer", accept: false, reason: "no" }));
    await rejects(sending, (e) => e instanceof TransferError && e.code === "refused");
  }
  // A receiver that goes silent after the offer: the sender stops.
  {
    const [a, b] = channels();
    const sending = sendFiles(a, { manifest, sources: [], warnings: [] }, { stallMs: 300 });
    await takeOffer(b);
    await rejects(
      within(sending, 10_000, "sendFiles()"),
      (e) => e instanceof TransferError && e.code === "stalled",
    );
  }
});

Deno.test("whileDeciding() sends deciding while the work runs, and none after", async () => {
  const [a, b] = channels();
  const seen: string[] = [];
  const reading = (async () => {
    for (;;) {
      const msg = await receiveMessage(b).catch(() => null);
      if (msg === null) return;
      seen.push(msg.type);
    }
  })();
  const result = await whileDeciding(
    a,
    () => new Promise((resolve) => setTimeout(() => resolve(7), 100)),
    { everyMs: 20 },
  );
  equal(result, 7);
  await new Promise((resolve) => setTimeout(resolve, 10));
  const count = seen.length;
  ok(count >= 3 && seen.every((type) => type === "deciding"), seen.join());
  await new Promise((resolve) => setTimeout(resolve, 60));
  equal(seen.length, count);
  await a.close();
  await reading;
});
