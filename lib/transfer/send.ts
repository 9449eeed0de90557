/**
 * The sending side of a transfer: files over a connection, and nothing
 * more. The connection keeps the messages in order across moves, holds this
 * side to its window when the receiver takes nothing, and finds a dead
 * path; so no wait here needs a timer of its own.
 *
 * Protocol flow (docs/protocol/transfer.md):
 * - `offer {more, piece}` messages carry the manifest in pieces of 1 MiB.
 * - The receiver checks the offer and asks its user, then `answer {accept}`.
 * - If the answer says the receiver holds the start of some files, read its
 *   `have` list, send `check` with SHA-256 of as many bytes of each file
 *   here ({@linkcode hashHeld}), and read `resume`: where each starts.
 * - For each file in manifest order: `data {index, offset, bytes}` chunks,
 *   then `file_end {index, digest}`, the digest chaining the tags of the
 *   file's data records ({@linkcode FileDigest}).
 * - `done`; the receiver checks everything and answers `result`. A
 *   receiver's `error` at any point ends the send.
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
import { CHUNK_BYTES, ERROR_SEND_TIMEOUT_MS } from "./defaults.ts";
import { FileDigest } from "./digest.ts";
import { checkHave, checkResume, hashHeld } from "./resume.ts";
import { type Send, sendStream, sendText } from "./content.ts";
import { PunchError } from "../errors.ts";
import { whenAborted } from "../_abort.ts";

/**
 * Progress of a transfer, reported after every chunk: bytes moved so far
 * and in all, not counting what the receiver held already. `total` is
 * `undefined` for a stream, whose length is known only at its end.
 */
export interface Progress {
  bytes: number;
  total: number | undefined;
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
  /** Stops the send (`cancelled`); the receiver is told. */
  signal?: AbortSignal;
  /**
   * Opens the bytes of the file at manifest `index`, from `offset`: the
   * browser page reads a `File` instead of a path.
   * @default {openPath} (`scan.sources[index]`, from the file system)
   */
  openSource?: (index: number, offset: number) => SendSource;
}

/** A file's bytes to send: reads into a buffer, `null` at the end. */
export interface SendSource extends Disposable {
  read(into: Uint8Array): Promise<number | null>;
}

/** Opens `path` to read from `offset`, synchronously: an asynchronous open is a round trip to another thread, dear for many small files. */
export function openPath(path: string, offset: number): SendSource {
  const file = Deno.openSync(path, { read: true });
  if (offset > 0) file.seekSync(offset, Deno.SeekMode.Start);
  return file;
}

/** What a finished send did. */
export interface SendResult {
  files: number;
  /** Bytes sent; held bytes the receiver kept are in `resumed`. */
  bytes: number;
  resumed: number;
}

/** Bytes a transfer moves: the offer's less what is held; `undefined` for a stream. */
export function totalOf(manifest: Manifest, resumed: number): number | undefined {
  return manifest.entries.some((entry) => entry.kind === "stream")
    ? undefined
    : manifest.bytes - resumed;
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

/** Sends the scanned files over a connection; resolves when the receiver confirmed them all. */
export async function sendFiles(
  channel: Channel,
  scan: ScanResult,
  options: SendOptions = {},
): Promise<SendResult> {
  const { manifest } = scan;
  let answer: Extract<TransferMsg, { type: "answer"; accept: true }>;
  try {
    answer = await offer(channel, manifest, options.signal);
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
  try {
    const { bytes, result } = await sendData(
      channel,
      scan,
      starts,
      totalOf(manifest, resumed),
      options,
    );
    return { files: result.files, bytes, resumed };
  } catch (error) {
    if (!(error instanceof TransferError && error.code === "peer_error")) {
      await tell(channel, error);
    }
    throw error;
  }
}

/**
 * Sends every file from where it starts, then `done`, and waits for the
 * receiver's `result`. What the receiver says meanwhile is read all along:
 * an `error` ends the sending at once rather than when the window fills.
 */
async function sendData(
  channel: Channel,
  scan: ScanResult,
  starts: Map<number, number>,
  total: number | undefined,
  options: SendOptions,
): Promise<{ bytes: number; result: Extract<TransferMsg, { type: "result" }> }> {
  const { manifest, sources } = scan;
  const open = options.openSource ?? ((index, offset) => openPath(sources[index]!, offset));
  let done = false;
  const stop = Promise.withResolvers<never>();
  stop.promise.catch(() => {});
  const heard = (async () => {
    const msg = await receiveMessage(channel);
    if (msg.type === "error") throw peerError(msg);
    // Said before `done`, it would claim files that were never sent.
    if (msg.type !== "result" || !done) {
      throw new TransferError("protocol", `Unexpected ${msg.type} from the receiver`);
    }
    return msg;
  })();
  heard.catch((error) => stop.reject(error));
  const unlisten = whenAborted(
    options.signal,
    () => stop.reject(new TransferError("cancelled", "Cancelled")),
  );
  /** Sends one message, or fails with what the receiver said (or the abort) first. */
  const send = (message: Uint8Array) => Promise.race([channel.send(message), stop.promise]);
  let sent = 0;
  const count = (bytes: number) => {
    sent += bytes;
    options.onProgress?.({ bytes: sent, total });
  };
  try {
    for (const [index, entry] of manifest.entries.entries()) {
      if (entry.kind === "dir") continue;
      if (entry.kind === "stream" || entry.kind === "text") {
        await sendContent(channel, send, index, entry.kind, scan.content, count);
        continue;
      }
      const digest = new FileDigest();
      let offset = starts.get(index) ?? 0;
      using file = open(index, offset);
      while (offset < entry.size) {
        const want = Math.min(CHUNK_BYTES, entry.size - offset);
        const message = allocateData(index, offset, want);
        await fill(file, message.subarray(DATA_HEADER_BYTES), entry.path, offset);
        await send(message);
        digest.add(channel.sentTag);
        offset += want;
        count(want);
      }
      await send(encodeMessage({ type: "file_end", index, digest: digest.finish() }));
    }
    done = true;
    await send(encodeMessage({ type: "done" }));
    return { bytes: sent, result: await Promise.race([heard, stop.promise]) };
  } finally {
    unlisten();
  }
}

/** Sends the one text or stream entry of an offer from `content`. */
async function sendContent(
  channel: Channel,
  send: Send,
  index: number,
  kind: "stream" | "text",
  content: ScanResult["content"],
  count: (bytes: number) => void,
): Promise<void> {
  if (kind === "text" && content instanceof Uint8Array) {
    return await sendText(channel, send, index, content, count);
  }
  if (kind === "stream" && content instanceof ReadableStream) {
    return void await sendStream(channel, send, index, content, count);
  }
  throw new TypeError(`Cannot send a ${kind} entry without its content`);
}

/** Reads exactly `payload.length` bytes of `path` at `offset`; `changed` if the file shrank. */
async function fill(file: SendSource, payload: Uint8Array, path: string, offset: number) {
  for (let filled = 0; filled < payload.length;) {
    const n = await file.read(payload.subarray(filled));
    if (n === null) {
      throw new TransferError(
        "changed",
        `Cannot send ${path}: it shrank to ${offset + filled} bytes while sending`,
      );
    }
    filled += n;
  }
}

/**
 * Sends the manifest in `offer` pieces and waits for the answer. Resolves
 * with an answer that accepts; throws `refused` for one that declines.
 */
async function offer(
  channel: Channel,
  manifest: Manifest,
  signal: AbortSignal | undefined,
): Promise<Extract<TransferMsg, { type: "answer"; accept: true }>> {
  const pieces = encodeManifestPieces(manifest, { pieceBytes: OFFER_PIECE_BYTES });
  let next = pieces.next();
  while (!next.done) {
    const piece = next.value;
    next = pieces.next(); // made before this piece leaves: is it the last?
    await channel.send(encodeMessage({ type: "offer", more: !next.done, piece }));
  }
  const msg = await receiveMessage(channel, signal);
  if (msg.type === "error") throw peerError(msg);
  if (msg.type !== "answer") {
    throw new TransferError("protocol", `Expected answer, got ${msg.type}`);
  }
  if (!msg.accept) {
    throw new TransferError(
      "refused",
      `The receiver declined the files${msg.reason ? `: ${msg.reason}` : ""}`,
    );
  }
  return msg;
}

/** Tells the receiver why the send stops, if the connection still works and soon. */
async function tell(channel: Channel, error: unknown): Promise<void> {
  const message = encodeMessage({
    type: "error",
    error: error instanceof TransferError ? error.code : "io",
    message: error instanceof Error ? error.message : String(error),
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, ERROR_SEND_TIMEOUT_MS));
  await Promise.race([channel.send(message).catch(() => {}), late]);
  clearTimeout(timer);
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
  const have = await receiveEntries(channel, "have", count, "receiver", options.signal);
  checkHave(scan.manifest, have);
  const bytes = have.reduce((sum, entry) => sum + entry.bytes, 0);
  if (bytes > 0) options.onCheck?.({ files: have.length, bytes });
  const open = options.openSource;
  const sources = open ? scan.manifest.entries.map((_, i) => () => open(i, 0)) : scan.sources;
  const check = await hashHeld(have, sources, {
    signal: options.signal,
    onProgress: options.onCheckProgress,
  });
  await sendEntries(channel, "check", check);
  const resume = await receiveEntries(channel, "resume", count, "receiver", options.signal);
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
    await channel.send(encodeMessage({ type, entries: piece } as EntriesMsg));
  }
}

/**
 * Reads `type` messages until they hold `count` entries; the other side is
 * `peer`. Throws `protocol` on any other message or on more entries.
 */
export async function receiveEntries<K extends keyof EntryOf>(
  channel: Channel,
  type: K,
  count: number,
  peer: "sender" | "receiver",
  signal?: AbortSignal,
): Promise<EntryOf[K][]> {
  const entries: EntryOf[K][] = [];
  while (entries.length < count) {
    const msg = await receiveMessage(channel, signal);
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
 * Reads the next message; the other side's end of stream here means it
 * left early. With `signal`, gives up when it aborts (`cancelled`).
 */
export async function receiveMessage(channel: Channel, signal?: AbortSignal): Promise<TransferMsg> {
  const bytes = await channel.receive(signal ? { signal } : {}).catch((error) => {
    throw error instanceof PunchError && error.kind === "cancelled"
      ? new TransferError("cancelled", "Cancelled")
      : error;
  });
  if (bytes === null) {
    throw new TransferError("peer_error", "The other side closed the transfer early");
  }
  return decodeMessage(bytes);
}
