/**
 * What a sender offers that is not files on disk: text held in memory
 * (`punch send --text`), and a stream read to its end (`punch send -`), each
 * the one entry of its manifest.
 *
 * Protocol flow for a stream (docs/protocol/transfer.md, "Streams and
 * text"):
 * - The manifest lists one entry of kind `stream` and size 0: its length is
 *   known only at its end.
 * - `data {index: 0, offset, bytes}` messages carry the bytes as they are
 *   read, at most CHUNK_BYTES each, until the stream ends.
 * - `stream_end {index: 0, size, digest}` gives the length and the digest;
 *   then `done`, as for files. A stream is never resumed: what was read is
 *   gone.
 *
 * Text is a `text` entry of known size sent as a file is (`data`, then
 * `file_end`); a receiver may show it instead of writing it.
 *
 * @module
 */

import { CHUNK_BYTES } from "./defaults.ts";
import { FileDigest } from "./digest.ts";
import type { Manifest, ScanResult } from "./manifest.ts";
import { encodeManifest } from "./manifest.ts";
import { allocateData, DATA_HEADER_BYTES, encodeMessage, TransferError } from "./messages.ts";
import type { Channel } from "../link/channel.ts";

/** The name text arrives under when a receiver writes it to a file. */
export const TEXT_NAME = "text.txt";
/** The name a stream arrives under when a receiver writes it to a file. */
export const STREAM_NAME = "stdin";
/** The mode a text or stream entry carries: a file anyone may read, its owner write. */
const CONTENT_MODE = 0o644;

/** Options for {@linkcode offerText} and {@linkcode offerStream}. */
export interface ContentOptions {
  /**
   * The name the entry arrives under if the receiver writes it to a file:
   * one component, following the rules of a manifest path.
   * @default {"text.txt" for text, "stdin" for a stream}
   */
  name?: string;
}

/**
 * The offer of a text: one `text` entry of its UTF-8 length.
 *
 * @example Usage
 * ```ts
 * import { offerText } from "./content.ts";
 * const offer = offerText("hi");
 * offer.manifest.bytes; // 2
 * ```
 *
 * @param text The text to send.
 * @param options The name it arrives under as a file.
 * @returns An offer for {@linkcode sendFiles}.
 * @throws {ManifestError | PathError} If the name is not a safe one-component path.
 */
export function offerText(text: string, options: ContentOptions = {}): ScanResult {
  const bytes = new TextEncoder().encode(text);
  const path = options.name ?? TEXT_NAME;
  const manifest = {
    entries: [{ path, kind: "text" as const, size: bytes.length, mode: CONTENT_MODE }],
    files: 1,
    bytes: bytes.length,
  };
  encodeManifest(manifest); // checks the name
  return { manifest, sources: [""], warnings: [], content: bytes };
}

/**
 * The offer of a stream of unknown length, read only once the receiver
 * accepts, a chunk at a time: the stream is never held whole.
 *
 * @example Usage
 * ```ts
 * import { offerStream } from "./content.ts";
 * const offer = offerStream(Deno.stdin.readable);
 * ```
 *
 * @param stream The bytes to send; read to its end.
 * @param options The name it arrives under as a file.
 * @returns An offer for {@linkcode sendFiles}.
 * @throws {ManifestError | PathError} If the name is not a safe one-component path.
 */
export function offerStream(
  stream: ReadableStream<Uint8Array>,
  options: ContentOptions = {},
): ScanResult {
  const path = options.name ?? STREAM_NAME;
  const manifest = {
    entries: [{ path, kind: "stream" as const, size: 0, mode: CONTENT_MODE }],
    files: 1,
    bytes: 0,
  };
  encodeManifest(manifest);
  return { manifest, sources: [""], warnings: [], content: stream };
}

/** Sends one message; fails with what the receiver said first. */
export type Send = (message: Uint8Array) => Promise<unknown>;

/**
 * Sends a stream as `data` messages of up to CHUNK_BYTES each, filled from
 * as many reads as it takes, then `stream_end`. Calls `sent` with each
 * chunk's length. Resolves with the stream's length.
 */
export async function sendStream(
  channel: Channel,
  send: Send,
  index: number,
  stream: ReadableStream<Uint8Array>,
  sent: (bytes: number) => void,
): Promise<number> {
  const digest = new FileDigest();
  const reader = stream.getReader();
  let offset = 0;
  let leftover: Uint8Array | undefined;
  try {
    for (let ended = false; !ended;) {
      const message = allocateData(index, offset, CHUNK_BYTES);
      const payload = message.subarray(DATA_HEADER_BYTES);
      let filled = 0;
      while (filled < CHUNK_BYTES) {
        let chunk = leftover;
        leftover = undefined;
        if (chunk === undefined) {
          const read = await reader.read();
          if (read.done) {
            ended = true;
            break;
          }
          chunk = read.value;
        }
        const n = Math.min(chunk.length, CHUNK_BYTES - filled);
        payload.set(chunk.subarray(0, n), filled);
        filled += n;
        if (n < chunk.length) leftover = chunk.subarray(n);
      }
      if (filled === 0) break;
      const whole = filled === CHUNK_BYTES ? message : allocateData(index, offset, filled);
      if (whole !== message) whole.set(payload.subarray(0, filled), DATA_HEADER_BYTES);
      await send(whole);
      digest.add(channel.sentTag);
      offset += filled;
      sent(filled);
    }
  } finally {
    reader.releaseLock();
  }
  await send(encodeMessage({ type: "stream_end", index, size: offset, digest: digest.finish() }));
  return offset;
}

/** Sends text held in memory as `data` messages, then `file_end`. */
export async function sendText(
  channel: Channel,
  send: Send,
  index: number,
  bytes: Uint8Array,
  sent: (bytes: number) => void,
): Promise<void> {
  const digest = new FileDigest();
  for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) {
    const piece = bytes.subarray(offset, offset + CHUNK_BYTES);
    const message = allocateData(index, offset, piece.length);
    message.set(piece, DATA_HEADER_BYTES);
    await send(message);
    digest.add(channel.sentTag);
    sent(piece.length);
  }
  await send(encodeMessage({ type: "file_end", index, digest: digest.finish() }));
}

/**
 * The receiver's check of the stream an offer is to go to (`output` of
 * receiveFiles()): returns it, or throws `refused` if the offer holds more
 * than one entry, or a directory.
 */
export function outputFor(
  manifest: Manifest,
  stream: WritableStream<Uint8Array> | undefined,
): WritableStream<Uint8Array> | undefined {
  if (stream === undefined) return undefined;
  const [entry, ...more] = manifest.entries;
  if (more.length > 0 || entry?.kind === "dir") {
    throw new TransferError(
      "refused",
      `Cannot write ${manifest.entries.length} entries to one stream: it takes a single file, stream or text`,
    );
  }
  return stream;
}
