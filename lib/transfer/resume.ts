/**
 * Resuming: what both sides do so that a second transfer of the same files
 * moves only what the first one did not.
 *
 * - A receive that fails for any reason but a bad digest keeps the file it
 *   was writing as a partial file, parked under a name derived from the
 *   file's path ({@linkcode partialName}) next to where it goes.
 * - The next receive of that path claims the partial file by renaming it to
 *   a name of its own, so two receivers never write one file, and lists in
 *   `have` how many bytes it holds. It lists an existing file of the offered
 *   size the same way, so that files a failed transfer finished are not
 *   sent again.
 * - The sender answers in `check` with SHA-256 of as many bytes of its own
 *   file; the receiver compares with its own bytes and says in `resume`
 *   where the sender starts: after them if they match, at 0 if not.
 *
 * Hashes go from the sender to the receiver only. The sender's bytes are
 * the receiver's to have anyway; the receiver's existing files are not the
 * sender's, and a hash of one would let a hostile sender test guesses of
 * its content offline. What a sender learns is one bit per file per
 * transfer the user accepted: whether the file equals its own.
 *
 * The digest in `file_end` then covers the records of this transfer only;
 * the held bytes were checked by their hash. See docs/protocol/transfer.md.
 *
 * Hashing a large file takes a while, and the other side waits meanwhile:
 * the connection's own pings tell it this side lives.
 *
 * @module
 */

import { createSha256 } from "./_sha256.ts";
import type { Manifest } from "./manifest.ts";
import { type CheckEntry, type HaveEntry, type ResumeEntry, TransferError } from "./messages.ts";

/** Bytes read at a time while hashing what a side holds. */
const HASH_READ_BYTES = 1024 * 1024;

/**
 * The name a partial file is parked under in its target's directory:
 * `.punch-` and 16 hex digits of SHA-256 over "punch partial v1", a zero
 * byte and the file's manifest path. Fixed per path, so the next transfer
 * finds it; hashed, so any path fits in a name.
 */
export function partialName(path: string): string {
  const digest = createSha256().update("punch partial v1\0").update(path).digest();
  const hex = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  return `.punch-${hex}.partial`;
}

/** An open file's bytes from its start, let go of when disposed: a `Deno.FsFile` will do. */
export interface HashReader extends Disposable {
  read(into: Uint8Array): Promise<number | null>;
}

/**
 * A file to hash: its path, or a function that opens it (the receiver
 * reads what it holds through its output directory, see `_fs.ts`). Either
 * way the file is disposed of once hashed.
 */
export type HashSource = string | (() => HashReader);

/**
 * SHA-256 of the first `bytes` bytes of the file `source`, or `null` if the
 * file is shorter. Reads asynchronously, so a long hash does not stop the
 * event loop (and with it the connection's keepalives).
 */
export async function hashPrefix(
  source: HashSource,
  bytes: number,
  options: { signal?: AbortSignal | undefined; onRead?: (bytes: number) => void } = {},
): Promise<Uint8Array | null> {
  using file = typeof source === "string" ? await Deno.open(source, { read: true }) : source();
  const hash = createSha256();
  const buffer = new Uint8Array(Math.min(HASH_READ_BYTES, Math.max(bytes, 1)));
  for (let done = 0; done < bytes;) {
    if (options.signal?.aborted) throw new TransferError("cancelled", "Cancelled");
    const n = await file.read(buffer.subarray(0, Math.min(buffer.length, bytes - done)));
    if (n === null) return null;
    hash.update(buffer.subarray(0, n));
    done += n;
    options.onRead?.(n);
  }
  return hash.digest();
}

/** Options for {@linkcode hashPrefixes}. */
export interface HashOptions {
  signal?: AbortSignal | undefined;
  /** Called as hashing goes on: bytes hashed so far, of all the files, and their total. */
  onProgress?: ((progress: { bytes: number; total: number }) => void) | undefined;
}

/**
 * {@linkcode hashPrefix} of each file in turn, as both sides hash what the
 * receiver holds: one progress count over all of them, and a stop between
 * any two reads when `signal` aborts.
 */
export async function hashPrefixes(
  items: readonly { source: HashSource; bytes: number }[],
  options: HashOptions = {},
): Promise<(Uint8Array | null)[]> {
  const total = items.reduce((sum, item) => sum + item.bytes, 0);
  let bytes = 0;
  const onRead = (n: number) => {
    bytes += n;
    options.onProgress?.({ bytes, total });
  };
  const sums: (Uint8Array | null)[] = [];
  for (const item of items) {
    sums.push(await hashPrefix(item.source, item.bytes, { signal: options.signal, onRead }));
  }
  return sums;
}

/**
 * Checks a receiver's `have` list against the manifest: file entries only,
 * in increasing order, holding no more than the file's size. Throws
 * `TransferError("protocol")`; a receiver is a peer, so its list is hostile
 * input.
 */
export function checkHave(manifest: Manifest, have: HaveEntry[]): void {
  let last = -1;
  for (const { index, bytes } of have) {
    const entry = manifest.entries[index];
    if (index <= last || entry?.kind !== "file" || bytes > entry.size) {
      throw new TransferError(
        "protocol",
        `The receiver claims to hold ${bytes} bytes of entry ${index}, which it cannot`,
      );
    }
    last = index;
  }
}

/**
 * The sender's answer to `have`: for each entry, SHA-256 of as many bytes
 * from the start of `sources[index]` (a path, or what opens the file), or 32
 * zero bytes if its file is now shorter (which no SHA-256 equals).
 */
export async function hashHeld(
  have: HaveEntry[],
  sources: readonly HashSource[],
  options: HashOptions = {},
): Promise<CheckEntry[]> {
  const items = have.map(({ index, bytes }) => ({ source: sources[index]!, bytes }));
  const sums = await hashPrefixes(items, options);
  return have.map(({ index }, i) => ({ index, sha256: sums[i] ?? new Uint8Array(32) }));
}

/**
 * Checks the receiver's `resume` against its `have`: the same files in the
 * same order, each at 0 or after the held bytes. Returns where each starts.
 */
export function checkResume(have: HaveEntry[], resume: ResumeEntry[]): Map<number, number> {
  const starts = new Map<number, number>();
  resume.forEach(({ index, offset }, i) => {
    const held = have[i];
    if (held?.index !== index || (offset !== 0 && offset !== held.bytes)) {
      throw new TransferError(
        "protocol",
        `The receiver would resume entry ${index} at ${offset}, not at 0 or what it holds`,
      );
    }
    starts.set(index, offset);
  });
  return starts;
}
