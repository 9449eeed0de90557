/**
 * The sending side of a transfer.
 *
 * Protocol flow:
 * - `offer {more, piece}` messages carry the manifest in pieces of 1 MiB;
 *   the receiver acknowledges each but the last with `credit` once it has
 *   parsed it, and this side never has more than
 *   {@linkcode OFFER_WINDOW_BYTES} of them unacknowledged.
 * - While the receiver checks the offer and asks its user, it sends
 *   `deciding` every 15 s; then `answer {accept, window}`.
 * - If the answer says the receiver holds the start of some files, read its
 *   `have` list, send `check` with SHA-256 of as many bytes of each file
 *   here ({@linkcode hashHeld}), and read `resume`: where each starts.
 * - For each file in manifest order: `data {index, offset, bytes}` chunks,
 *   never more unacknowledged bytes than the receiver's credit, then
 *   `file_end {index, digest}`, the digest chaining the tags of the file's
 *   data records ({@linkcode FileDigest}).
 * - `done`; the receiver checks everything and answers `result`; then the
 *   channel is closed with its final record.
 *
 * Every wait for the receiver, and every send that waits for room, gives up
 * as `stalled` after {@linkcode STALL_TIMEOUT_MS}: a receiver that stops
 * talking, or reading, cannot hold the sender for ever.
 *
 * @module
 */

import type { Channel } from "../link/channel.ts";
import { encodeManifestPieces, type Manifest, type ScanResult } from "./manifest.ts";
import {
  allocateData,
  type CheckEntry,
  DATA_HEADER_BYTES,
  decodeMessage,
  encodeMessage,
  type HaveEntry,
  OFFER_PIECE_BYTES,
  RESUME_PIECE_ENTRIES,
  type ResumeEntry,
  TransferError,
  type TransferMsg,
} from "./messages.ts";
import {
  CHUNK_BYTES,
  DECIDING_KEEPALIVE_MS,
  ERROR_SEND_TIMEOUT_MS,
  OFFER_WINDOW_BYTES,
  STALL_TIMEOUT_MS,
} from "./defaults.ts";
import { FileDigest } from "./digest.ts";
import { checkHave, checkResume, hashHeld, keepingAlive } from "./resume.ts";
import { whenAborted } from "../_abort.ts";

/**
 * Progress of a transfer, reported after every chunk: bytes moved so far
 * and in all, not counting what the receiver held already.
 */
export interface Progress {
  bytes: number;
  total: number;
}

/** What the receiver held already, and the sender will not send again. */
export interface Resumed {
  /** Files of which held bytes are kept. */
  files: number;
  bytes: number;
}

/** Options for {@linkcode sendFiles}. */
export interface SendOptions {
  /** Called after every chunk sent. */
  onProgress?: (progress: Progress) => void;
  /** Called once the receiver has accepted the offer. */
  onAccepted?: () => void;
  /** Called before hashing what the receiver says it holds. */
  onCheck?: (held: Resumed) => void;
  /** Called as those bytes are hashed. */
  onCheckProgress?: (progress: Progress) => void;
  /** Called when the receiver holds some of the files already, before sending. */
  onResume?: (resumed: Resumed) => void;
  /**
   * Gives up as `stalled` after this long without a message from the
   * receiver, or with a send waiting for room.
   * @default {STALL_TIMEOUT_MS}
   */
  stallMs?: number;
  signal?: AbortSignal;
}

/** What a finished send did. */
export interface SendResult {
  files: number;
  /** Bytes sent; held bytes the receiver kept are in `resumed`. */
  bytes: number;
  resumed: number;
}

/** Credit granted by the receiver, and the wait for more of it. */
class Credit {
  #available = 0;
  #wake: (() => void) | undefined;
  #error?: unknown;
  #watchers: (() => void)[] = [];

  grant(bytes: number): void {
    this.#available += bytes;
    this.#wake?.();
  }

  fail(error: unknown): void {
    this.#error ??= error;
    this.#wake?.();
    for (const watcher of this.#watchers) watcher();
  }

  /** `promise`, or this credit's error if that comes first. */
  watch<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        const check = () => this.#error ? reject(this.#error) : undefined;
        check();
        this.#watchers.push(check);
      }),
    ]).finally(() => this.#watchers.length = 0);
  }

  async take(bytes: number): Promise<void> {
    while (this.#available < bytes) {
      if (this.#error) throw this.#error;
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#wake = undefined;
    }
    if (this.#error) throw this.#error;
    this.#available -= bytes;
  }
}

/** The other side's `error` message as the error this side throws. */
export function peerError(
  msg: Extract<TransferMsg, { type: "error" }>,
  peer: "sender" | "receiver" = "receiver",
): TransferError {
  return new TransferError("peer_error", `The ${peer} stopped: ${msg.message} (${msg.error})`, {
    peerCode: msg.error,
  });
}

/** Sends the scanned files over a channel; resolves when the receiver confirmed them all. */
export async function sendFiles(
  channel: Channel,
  scan: ScanResult,
  options: SendOptions = {},
): Promise<SendResult> {
  const { manifest, sources } = scan;
  const stallMs = options.stallMs ?? STALL_TIMEOUT_MS;
  let answer: Extract<TransferMsg, { type: "answer"; accept: true }>;
  try {
    answer = await offer(channel, manifest, stallMs, options.signal);
  } catch (error) {
    // The receiver knows why if it stopped or declined.
    if (!(error instanceof TransferError && ["peer_error", "refused"].includes(error.code))) {
      await tell(channel, error);
    }
    throw error;
  }
  options.onAccepted?.();
  let starts: Map<number, number>;
  try {
    starts = await resumeFrom(channel, scan, answer.have ?? 0, options);
  } catch (error) {
    await tell(channel, error);
    throw error;
  }
  let resumed = 0;
  for (const start of starts.values()) resumed += start;
  if (resumed > 0) {
    const files = [...starts.values()].filter((start) => start > 0).length;
    options.onResume?.({ files, bytes: resumed });
  }
  const total = manifest.bytes - resumed;

  const credit = new Credit();
  credit.grant(answer.window);
  let done = false;
  let result: Extract<TransferMsg, { type: "result" }> | undefined;
  const listener = (async () => {
    for (;;) {
      const msg = await receiveMessage(channel, stallMs);
      if (msg.type === "credit") credit.grant(msg.bytes);
      else if (msg.type === "result") {
        // Said before `done`, it would end this listener while the sends
        // still wait for credit, with nothing left to time them.
        if (!done) throw new TransferError("protocol", "The receiver sent result before done");
        return result = msg;
      } else if (msg.type === "error") throw peerError(msg);
      else throw new TransferError("protocol", `Unexpected ${msg.type} from the receiver`);
    }
  })();
  listener.catch((error) => credit.fail(error));
  const unlisten = whenAborted(
    options.signal,
    () => credit.fail(new TransferError("cancelled", "Cancelled")),
  );

  let sent = 0;
  let pending: Promise<void> = Promise.resolve();
  /** Sends without waiting; a failure ends the send loop through the credit wait. */
  const queue = (message: Uint8Array): void => {
    pending = channel.send(message);
    pending.catch((error) => credit.fail(error));
  };
  try {
    for (const [index, entry] of manifest.entries.entries()) {
      if (entry.kind !== "file") continue;
      const digest = new FileDigest();
      // Opened synchronously: an asynchronous open is a round trip to
      // another thread, dear for many small files.
      using file = Deno.openSync(sources[index]!, { read: true });
      let offset = starts.get(index) ?? 0;
      if (offset > 0) file.seekSync(offset, Deno.SeekMode.Start);
      while (offset < entry.size) {
        const want = Math.min(CHUNK_BYTES, entry.size - offset);
        await credit.take(want);
        const message = allocateData(index, offset, want);
        const payload = message.subarray(DATA_HEADER_BYTES);
        let filled = 0;
        while (filled < want) {
          const n = await file.read(payload.subarray(filled));
          if (n === null) {
            throw new TransferError(
              "changed",
              `Cannot send ${entry.path}: it shrank from ${entry.size} to ${
                offset + filled
              } bytes while sending`,
            );
          }
          filled += n;
        }
        queue(message);
        digest.add(channel.sentTag);
        offset += want;
        sent += want;
        options.onProgress?.({ bytes: sent, total });
      }
      queue(encodeMessage({ type: "file_end", index, digest: digest.finish() }));
    }
    done = true;
    // The listener's stall timer runs meanwhile; a send that waits for room
    // has a timer of its own.
    await credit.watch(sendWithin(channel, encodeMessage({ type: "done" }), stallMs));
    await credit.watch(within(pending, stallMs));
    await listener;
  } catch (error) {
    await tell(channel, error);
    throw error;
  } finally {
    unlisten();
  }
  await within(channel.close(), stallMs);
  return { files: result?.files ?? manifest.files, bytes: sent, resumed };
}

/**
 * Sends the manifest in `offer` pieces under the offer's flow control, and
 * waits for the answer. Resolves with an answer that accepts; throws
 * `refused` for one that declines.
 */
async function offer(
  channel: Channel,
  manifest: Manifest,
  stallMs: number,
  signal: AbortSignal | undefined,
): Promise<Extract<TransferMsg, { type: "answer"; accept: true }>> {
  /** Bytes of pieces sent but not yet acknowledged. */
  let unacknowledged = 0;
  const acknowledge = (msg: TransferMsg): boolean => {
    if (msg.type !== "credit") return false;
    if (msg.bytes > unacknowledged) {
      throw new TransferError(
        "protocol",
        `The receiver acknowledged ${msg.bytes} bytes of the offer, of ${unacknowledged} sent`,
      );
    }
    unacknowledged -= msg.bytes;
    return true;
  };
  const pieces = encodeManifestPieces(manifest, { pieceBytes: OFFER_PIECE_BYTES });
  let next = pieces.next();
  while (!next.done) {
    const piece = next.value;
    next = pieces.next(); // made before this piece leaves: is it the last?
    while (unacknowledged + piece.length > OFFER_WINDOW_BYTES) {
      const msg = await receiveMessage(channel, stallMs, signal).catch((error) => {
        throw error instanceof TransferError && error.code === "stalled"
          ? new TransferError(
            "stalled",
            `The receiver acknowledged no part of the offer for ${stallMs / 1000} s: ` +
              "the connection seems dead, or the receiver runs an older punch",
          )
          : error;
      });
      if (msg.type === "error") throw peerError(msg);
      if (!acknowledge(msg)) {
        throw new TransferError("protocol", `Expected credit for the offer, got ${msg.type}`);
      }
    }
    await sendWithin(channel, encodeMessage({ type: "offer", more: !next.done, piece }), stallMs);
    if (!next.done) unacknowledged += piece.length;
  }
  for (;;) {
    const msg = await receiveMessage(channel, stallMs, signal);
    if (msg.type === "deciding" || acknowledge(msg)) continue;
    if (msg.type === "error") throw peerError(msg);
    if (msg.type !== "answer") {
      throw new TransferError("protocol", `Expected answer, got ${msg.type}`);
    }
    if (unacknowledged > 0) {
      throw new TransferError("protocol", "The receiver answered before it took the whole offer");
    }
    if (!msg.accept) {
      throw new TransferError(
        "refused",
        `The receiver declined the files${msg.reason ? `: ${msg.reason}` : ""}`,
      );
    }
    return msg;
  }
}

/** Tells the receiver why the send stops, if the channel still works and soon. */
async function tell(channel: Channel, error: unknown): Promise<void> {
  await sendWithin(
    channel,
    encodeMessage({
      type: "error",
      error: error instanceof TransferError ? error.code : "io",
      message: error instanceof Error ? error.message : String(error),
    }),
    ERROR_SEND_TIMEOUT_MS,
  ).catch(() => {});
}

/**
 * `channel.send(message)`, given up on as `stalled` when it has not
 * completed after `stallMs`. A send resolves once the carrier has room; on a
 * direct connection it waits while the other side reads nothing, and a peer
 * that stopped reading must not hold this side for ever.
 */
export function sendWithin(
  channel: Channel,
  message: Uint8Array,
  stallMs: number = STALL_TIMEOUT_MS,
): Promise<void> {
  return within(channel.send(message), stallMs);
}

/** `promise`, or a `stalled` error if it has not settled after `stallMs`. */
function within<T>(promise: Promise<T>, stallMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TransferError(
            "stalled",
            `The other side took nothing for ${stallMs / 1000} s; the connection seems dead`,
          ),
        ),
      stallMs,
    );
  });
  return Promise.race([promise, stalled]).finally(() => clearTimeout(timer));
}

/**
 * Runs `work` (checking an offer, asking the user) while sending `deciding`
 * every {@linkcode DECIDING_KEEPALIVE_MS}, so that the sender, which waits
 * for the answer under its stall timer, sees a receiver that is alive; and
 * once more when work that took that long ends, so that what follows before
 * the answer has a whole stall timeout. A keepalive that cannot go is
 * dropped: the answer then fails to go as well.
 */
export async function whileDeciding<T>(
  channel: Channel,
  work: () => Promise<T>,
  options: { everyMs?: number } = {},
): Promise<T> {
  const everyMs = options.everyMs ?? DECIDING_KEEPALIVE_MS;
  const keepalive = () => channel.send(encodeMessage({ type: "deciding" })).catch(() => {});
  const start = performance.now();
  const timer = setInterval(keepalive, everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    if (performance.now() - start >= everyMs) keepalive();
  }
}

/**
 * Reads the receiver's `have` list of `count` entries, checks it, answers
 * `check`, and reads `resume`. Returns where each listed file starts.
 */
async function resumeFrom(
  channel: Channel,
  scan: ScanResult,
  count: number,
  options: SendOptions,
): Promise<Map<number, number>> {
  if (count === 0) return new Map();
  if (count > scan.manifest.files) {
    throw new TransferError(
      "protocol",
      `The receiver lists ${count} held files of the ${scan.manifest.files} offered`,
    );
  }
  const timing = { signal: options.signal, stallMs: options.stallMs ?? STALL_TIMEOUT_MS };
  const have = await receiveEntries(channel, "have", count, "receiver", timing);
  checkHave(scan.manifest, have);
  const bytes = have.reduce((sum, entry) => sum + entry.bytes, 0);
  if (bytes > 0) options.onCheck?.({ files: have.length, bytes });
  const check = await keepingAlive(
    channel,
    (signal) => hashHeld(have, scan.sources, { signal, onProgress: options.onCheckProgress }),
    { signal: options.signal },
  );
  await sendEntries(channel, "check", check);
  const resume = await receiveEntries(channel, "resume", count, "receiver", timing);
  return checkResume(have, resume);
}

/** The entry each message that lists files to resume carries. */
interface EntryOf {
  have: HaveEntry;
  check: CheckEntry;
  resume: ResumeEntry;
}

type EntriesMsg = Extract<TransferMsg, { type: keyof EntryOf }>;

/** Sends `entries` in `type` messages of at most RESUME_PIECE_ENTRIES entries each. */
export async function sendEntries<K extends keyof EntryOf>(
  channel: Channel,
  type: K,
  entries: EntryOf[K][],
): Promise<void> {
  for (let at = 0; at < entries.length; at += RESUME_PIECE_ENTRIES) {
    const piece = entries.slice(at, at + RESUME_PIECE_ENTRIES);
    await sendWithin(channel, encodeMessage({ type, entries: piece } as EntriesMsg));
  }
}

/**
 * Reads `type` messages until they hold `count` entries; the other side is
 * `peer`. Throws `protocol` on any other message or on more entries, and
 * `stalled` after `stallMs` ({@linkcode STALL_TIMEOUT_MS} by default)
 * without a message: `hashing` keepalives count, and are skipped.
 */
export async function receiveEntries<K extends keyof EntryOf>(
  channel: Channel,
  type: K,
  count: number,
  peer: "sender" | "receiver",
  options: { signal?: AbortSignal | undefined; stallMs?: number } = {},
): Promise<EntryOf[K][]> {
  const entries: EntryOf[K][] = [];
  while (entries.length < count) {
    const msg = await receiveMessage(channel, options.stallMs ?? STALL_TIMEOUT_MS, options.signal);
    if (msg.type === "hashing") continue;
    if (msg.type === "error") throw peerError(msg, peer);
    const more = msg.type === type ? (msg as EntriesMsg).entries as EntryOf[K][] : undefined;
    if (!more || entries.length + more.length > count) {
      throw new TransferError(
        "protocol",
        `Expected ${type} for ${count - entries.length} more files`,
      );
    }
    entries.push(...more);
  }
  return entries;
}

/**
 * Reads the next message; a channel that ends here means the other side
 * left. With `stallMs`, gives up when nothing comes for that long; with
 * `signal`, when it aborts (`cancelled`).
 */
export async function receiveMessage(
  channel: Channel,
  stallMs?: number,
  signal?: AbortSignal,
): Promise<TransferMsg> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let unlisten = () => {};
  const waits: Promise<Uint8Array | null>[] = [channel.receive()];
  if (stallMs !== undefined) {
    waits.push(
      new Promise<never>((_, reject) => {
        timer = setTimeout(() =>
          reject(
            new TransferError(
              "stalled",
              `Nothing from the other side for ${stallMs / 1000} s; the connection seems dead`,
            ),
          ), stallMs);
      }),
    );
  }
  if (signal) {
    waits.push(
      new Promise<never>((_, reject) => {
        unlisten = whenAborted(signal, () => reject(new TransferError("cancelled", "Cancelled")));
      }),
    );
  }
  const bytes = await (waits.length === 1 ? waits[0]! : Promise.race(waits)).finally(() => {
    clearTimeout(timer);
    unlisten();
  });
  if (bytes === null) {
    throw new TransferError("peer_error", "The other side closed the transfer early");
  }
  return decodeMessage(bytes);
}
