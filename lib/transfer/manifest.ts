/**
 * The manifest: the list of files and directories a sender offers.
 *
 * - The sender builds it with {@linkcode scanPaths}, entries sorted by path,
 *   and sends it as UTF-8 JSON, a piece at a time
 *   ({@linkcode encodeManifestPieces}).
 * - The receiver reads it as the pieces arrive with {@linkcode ManifestDecoder}
 *   ({@linkcode decodeManifest} for whole bytes), which treats it as input
 *   from a hostile peer: every field, every path, the order, every total
 *   checked, and nothing kept but the entries.
 * - A file's index in `entries` is how later messages name it.
 *
 * The format is in docs/protocol/transfer.md, section "Manifest".
 *
 * @module
 */

import { basename, resolve } from "node:path";
import { sha256 } from "@noble/hashes/sha2.js";
import { Scan, statArgument } from "./_scan.ts";
import { pathProblem } from "./_path_rules.ts";
import { PathError } from "./paths.ts";
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES } from "./defaults.ts";
import { EntryChecker, type Manifest, ManifestError, show } from "./_manifest_check.ts";
import { ManifestDecoder } from "./_manifest_decoder.ts";
import { Pacer } from "./_pace.ts";

export { MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES } from "./defaults.ts";
export {
  carriesData,
  type EntryKind,
  type Manifest,
  type ManifestEntry,
  ManifestError,
} from "./_manifest_check.ts";
export { ManifestDecoder } from "./_manifest_decoder.ts";

const ENCODER = new TextEncoder();
/** Pieces of {@linkcode encodeManifest}'s work, in bytes: each is encoded at once. */
const ENCODE_PIECE_BYTES = 1024 * 1024;
/** Entries encoded as one string before it is turned into bytes. */
const ENTRIES_PER_TEXT = 1024;

/** What {@linkcode scanPaths} found. */
export interface ScanResult {
  /** The manifest to offer. */
  manifest: Manifest;
  /** The absolute local path of each entry, in the order of `manifest.entries`. */
  sources: string[];
  /** One line for each thing skipped, for the user to see. */
  warnings: string[];
  /**
   * The bytes of a text or stream entry, the manifest's only one: held
   * here rather than read from `sources` (see content.ts).
   */
  content?: Uint8Array | ReadableStream<Uint8Array>;
}

/** Options for {@linkcode scanPaths}. */
export interface ScanPathsOptions {
  /** Stops the scan, which then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Builds the manifest for `punch send PATH...`. Each path becomes a top-level
 * entry named by its last component; a directory brings everything beneath
 * it, empty directories included. A symbolic link given as a path is
 * followed; symbolic links and special files inside directories are skipped
 * with a warning, and so are names a receiver would refuse. Entries are
 * sorted by name, parents before children.
 *
 * @example Usage
 * ```ts
 * import { scanPaths } from "./manifest.ts";
 * const { manifest, warnings } = await scanPaths(["photos/", "notes.txt"]);
 * ```
 *
 * @param paths Files and directories to send.
 * @param options A signal to stop the scan.
 * @returns The manifest, the local path of each entry, and warnings.
 * @throws {Deno.errors.NotFound} If a path does not exist.
 * @throws {TypeError} If no paths are given, two share a name, or one is
 * neither a file nor a directory.
 * @throws {PathError} If a path's name would be refused by the receiver.
 * @throws {RangeError} If there are more than {@linkcode MAX_MANIFEST_ENTRIES}
 * entries, or they encode to more than {@linkcode MAX_MANIFEST_BYTES}.
 */
export async function scanPaths(
  paths: string[],
  options: ScanPathsOptions = {},
): Promise<ScanResult> {
  const { signal } = options;
  if (paths.length === 0) throw new TypeError("Cannot send: no paths given");
  const tops = new Map<string, { arg: string; source: string; info: Deno.FileInfo }>();
  for (const arg of paths) {
    signal?.throwIfAborted();
    const source = resolve(arg);
    const name = basename(source);
    if (name === "") {
      throw new TypeError(`Cannot send ${show(arg)}: it has no name; send what is inside it`);
    }
    const problem = pathProblem(name);
    if (problem !== undefined) throw new PathError(`Cannot send ${show(arg)}: ${problem}`, name);
    const other = tops.get(name);
    if (other !== undefined) {
      throw new TypeError(
        `Cannot send both ${show(other.arg)} and ${show(arg)}: both would arrive as ${show(name)}`,
      );
    }
    tops.set(name, { arg, source, info: await statArgument(arg, source) });
  }
  const scan = new Scan({ maxEntries: MAX_MANIFEST_ENTRIES, signal });
  for (const name of [...tops.keys()].sort()) {
    const { arg, source, info } = tops.get(name)!;
    if (!info.isFile && !info.isDirectory) {
      throw new TypeError(`Cannot send ${show(arg)}: it is not a regular file or directory`);
    }
    await scan.add(name, source, info);
  }
  const entries = scan.entries;
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (entry.kind === "file") {
      files++;
      bytes += entry.size;
    }
  }
  const manifest = { entries, files, bytes };
  // Fail now, before pairing, rather than once the receiver is waiting;
  // a piece at a time, giving the event loop a turn between pieces.
  const pacer = new Pacer();
  try {
    for (const _ of encodeManifestPieces(manifest)) await pacer.pause(signal);
  } catch (error) {
    if (error instanceof TooLargeError) throw new RangeError(tooLarge("send", error.size));
    throw error;
  }
  return { manifest, sources: scan.sources, warnings: scan.warnings };
}

/** Options for {@linkcode encodeManifestPieces}. */
export interface EncodeManifestOptions {
  /**
   * Bytes in every piece but the last, which may be shorter.
   * @default {1048576}
   */
  pieceBytes?: number;
}

/**
 * Encodes a manifest as UTF-8 JSON without whitespace, keys in a fixed order:
 * `{"entries":[{"path":…,"kind":…,"size":…,"mode":…},…],"files":…,"bytes":…}`.
 * Sorted as {@linkcode scanPaths} sorts, entries keep their order.
 *
 * @example Usage
 * ```ts
 * import { encodeManifest } from "./manifest.ts";
 * const bytes = encodeManifest({
 *   entries: [{ path: "a.txt", kind: "file", size: 5, mode: 0o644 }],
 *   files: 1,
 *   bytes: 5,
 * });
 * ```
 *
 * @param manifest The manifest to send.
 * @returns Its encoding.
 * @throws {ManifestError | PathError} If {@linkcode decodeManifest} would refuse it.
 */
export function encodeManifest(manifest: Manifest): Uint8Array {
  const pieces = [...encodeManifestPieces(manifest)];
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/**
 * Encodes a manifest as {@linkcode encodeManifest} does, a piece at a time:
 * every piece but the last holds exactly `pieceBytes`, a UTF-8 sequence may
 * be cut between two pieces, and each entry is checked before the piece that
 * holds it is made. Each piece is a few milliseconds of work, and only the
 * piece being filled is held: 10^6 entries never need the whole encoding at
 * once.
 *
 * @example Usage
 * ```ts
 * import { encodeManifestPieces } from "./manifest.ts";
 * const manifest = {
 *   entries: [{ path: "a.txt", kind: "file" as const, size: 5, mode: 0o644 }],
 *   files: 1,
 *   bytes: 5,
 * };
 * for (const piece of encodeManifestPieces(manifest, { pieceBytes: 16 })) {
 *   console.log(piece.length); // 16, 16, 16, 16, 16, 2
 * }
 * ```
 *
 * @param manifest The manifest to send.
 * @param options How long the pieces are.
 * @returns The pieces, made as they are asked for.
 * @throws {ManifestError | PathError} If {@linkcode decodeManifest} would refuse it.
 */
export function* encodeManifestPieces(
  manifest: Manifest,
  options: EncodeManifestOptions = {},
): Generator<Uint8Array, void, undefined> {
  const pieceBytes = options.pieceBytes ?? ENCODE_PIECE_BYTES;
  if (!Number.isSafeInteger(pieceBytes) || pieceBytes < 1) {
    throw new RangeError(`Cannot encode manifest: a piece of ${pieceBytes} bytes`);
  }
  const checker = new EntryChecker("encode", false);
  const entries = checkShape(manifest, checker);
  // The totals first, so that no piece leaves for a manifest refused at its
  // end; each entry is checked as it is encoded.
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (isRecord(entry) && entry.kind !== "dir" && typeof entry.size === "number") {
      files++;
      bytes += entry.size;
    }
  }
  if (manifest.files !== files) {
    throw checker.fail(`"files" is ${show(manifest.files)} but it lists ${files} files`);
  }
  if (manifest.bytes !== bytes) {
    throw checker.fail(`"bytes" is ${show(manifest.bytes)} but its files add up to ${bytes}`);
  }

  let piece = new Uint8Array(pieceBytes);
  let filled = 0;
  let size = 0;
  /** Copies `text` into pieces; yields each piece that fills. */
  function* put(text: string): Generator<Uint8Array, void, undefined> {
    const encoded = ENCODER.encode(text);
    size += encoded.length;
    // Past the limit, only count, to say how large it is.
    if (size > MAX_MANIFEST_BYTES) return;
    for (let at = 0; at < encoded.length;) {
      const n = Math.min(pieceBytes - filled, encoded.length - at);
      piece.set(encoded.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === pieceBytes) {
        yield piece;
        piece = new Uint8Array(pieceBytes);
        filled = 0;
      }
    }
  }

  let text = '{"entries":[';
  for (let i = 0; i < entries.length; i++) {
    const raw = entries[i];
    if (!isRecord(raw)) throw checker.fail(`entry ${i} is not an object`);
    const entry = checker.add(raw.path, raw.kind, raw.size, raw.mode);
    text += `${i === 0 ? "" : ","}{"path":${JSON.stringify(entry.path)},"kind":"${entry.kind}",` +
      `"size":${entry.size},"mode":${entry.mode}}`;
    if (i % ENTRIES_PER_TEXT === ENTRIES_PER_TEXT - 1) {
      yield* put(text);
      text = "";
    }
  }
  yield* put(`${text}],"files":${files},"bytes":${bytes}}`);
  if (size > MAX_MANIFEST_BYTES) throw new TooLargeError(size);
  if (filled > 0) yield piece.subarray(0, filled);
}

/**
 * SHA-256 of a manifest's encoding ({@linkcode encodeManifest}), made a
 * piece at a time: to tell whether two manifests are the same without
 * holding either encoding (54 MB for 10^6 entries).
 *
 * @example Usage
 * ```ts
 * import { manifestDigest } from "./manifest.ts";
 * const digest = manifestDigest({
 *   entries: [{ path: "a.txt", kind: "file", size: 5, mode: 0o644 }],
 *   files: 1,
 *   bytes: 5,
 * });
 * ```
 *
 * @param manifest A manifest.
 * @returns 32 bytes.
 * @throws {ManifestError | PathError} If {@linkcode encodeManifest} would.
 */
export function manifestDigest(manifest: Manifest): Uint8Array {
  const hash = sha256.create();
  for (const piece of encodeManifestPieces(manifest)) hash.update(piece);
  return hash.digest();
}

/** A manifest whose encoding would take more than MAX_MANIFEST_BYTES. */
class TooLargeError extends ManifestError {
  constructor(readonly size: number) {
    super(tooLarge("encode", size));
  }
}

/** Checks the outside of a manifest given to the encoder; returns its entries. */
function checkShape(manifest: unknown, checker: EntryChecker): unknown[] {
  if (!isRecord(manifest)) throw checker.fail("it is not a JSON object");
  const entries = manifest.entries;
  if (!Array.isArray(entries)) throw checker.fail('"entries" is not an array');
  if (entries.length === 0) throw checker.fail("it has no entries");
  if (entries.length > MAX_MANIFEST_ENTRIES) {
    throw checker.fail(
      `it lists ${entries.length} entries, more than the ${MAX_MANIFEST_ENTRIES} allowed`,
    );
  }
  return entries;
}

/**
 * Decodes and checks a manifest from a peer, as {@linkcode ManifestDecoder}
 * does piece by piece. It must be UTF-8 JSON of at most
 * {@linkcode MAX_MANIFEST_BYTES} with 1 to {@linkcode MAX_MANIFEST_ENTRIES}
 * entries, each with a safe path, a kind, an integer size (0 for a directory)
 * and a mode of at most `0o7777`, kept as `mode & 0o777`; entries sorted by
 * path, component by component (so no path is listed twice), none beneath a
 * file; and `files` and `bytes` must match the entries. A directory that
 * holds entries need not be listed itself. Unknown fields are skipped, never
 * kept. Entries keep their order.
 *
 * @example Usage
 * ```ts
 * import { decodeManifest } from "./manifest.ts";
 * const manifest = decodeManifest(new TextEncoder().encode(
 *   '{"entries":[{"path":"a.txt","kind":"file","size":5,"mode":420}],"files":1,"bytes":5}',
 * ));
 * ```
 *
 * @param bytes The manifest as received.
 * @returns The manifest.
 * @throws {ManifestError} If the manifest breaks the format or its limits.
 * @throws {PathError} If a path is not safe.
 */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError("Cannot decode manifest: expected a Uint8Array");
  }
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ManifestError(
      `Cannot decode manifest: it takes ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`,
    );
  }
  const decoder = new ManifestDecoder();
  decoder.push(bytes);
  return decoder.finish();
}

function tooLarge(verb: "send" | "encode", size: number): string {
  const what = verb === "send" ? "send: the list of files" : "encode manifest: it";
  return `Cannot ${what} takes ${size} bytes, more than the ${MAX_MANIFEST_BYTES} a receiver accepts; send fewer files at a time`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
