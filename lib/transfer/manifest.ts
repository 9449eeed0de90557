/**
 * The manifest: the list of files and directories a sender offers.
 *
 * - The sender builds it with {@linkcode scanPaths} and sends it with
 *   {@linkcode encodeManifest} (UTF-8 JSON).
 * - The receiver reads it with {@linkcode decodeManifest}, which treats it as
 *   input from a hostile peer: every field, every path, every total checked.
 * - A file's index in `entries` is how later messages name it.
 *
 * The format is in docs/protocol/transfer.md, section "Manifest".
 *
 * @module
 */

import { basename, resolve } from "node:path";
import { Scan, statArgument } from "./_scan.ts";
import { pathProblem } from "./_path_rules.ts";
import { PathError, validateManifestPath } from "./paths.ts";

/**
 * The most entries a manifest may list. It bounds the objects and checks a
 * peer can make the receiver create, is far above any real folder, and keeps
 * file indexes well inside the u32 of data messages.
 */
export const MAX_MANIFEST_ENTRIES = 1_000_000;
/**
 * The most bytes an encoded manifest may take: 64 MiB. It bounds the memory
 * a peer can make the receiver spend before a single check has run (about
 * 200 MiB once parsed). An entry takes about 50 bytes plus its path, so with
 * paths of 30 to 40 bytes this limit binds first, near 750,000 entries.
 */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** The permission bits that travel; setuid, setgid, sticky and file type bits never do. */
const MODE_MASK = 0o777;
/** The widest mode a manifest may carry before masking: permissions plus setuid, setgid, sticky. */
const MAX_MODE = 0o7777;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** One file or directory in a manifest. */
export interface ManifestEntry {
  /** A relative POSIX path that passes {@linkcode validateManifestPath}: `"photos/a.jpg"`. */
  path: string;
  /** What the entry is. */
  kind: "file" | "dir";
  /** The file's length in bytes; 0 for a directory. */
  size: number;
  /** Permission bits, `mode & 0o777`: `0o644`, `0o755`. */
  mode: number;
}

/** What a sender offers. */
export interface Manifest {
  /** Files and directories, parents before children when made by {@linkcode scanPaths}. */
  entries: ManifestEntry[];
  /** How many entries are files. */
  files: number;
  /** The sum of the files' sizes. */
  bytes: number;
}

/** What {@linkcode scanPaths} found. */
export interface ScanResult {
  /** The manifest to offer. */
  manifest: Manifest;
  /** The absolute local path of each entry, in the order of `manifest.entries`. */
  sources: string[];
  /** One line for each thing skipped, for the user to see. */
  warnings: string[];
}

/** Options for {@linkcode scanPaths}. */
export interface ScanPathsOptions {
  /** Stops the scan, which then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A manifest that breaks the format or its limits; the message says how. */
export class ManifestError extends Error {
  /**
   * Makes an error for a refused manifest.
   *
   * @param message What is wrong, in sentence case.
   * @param options The cause, if another error led to this one.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ManifestError";
  }
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
  const files = entries.filter((entry) => entry.kind === "file");
  const manifest = {
    entries,
    files: files.length,
    bytes: files.reduce((sum, entry) => sum + entry.size, 0),
  };
  // Fail now, before pairing, rather than once the receiver is waiting. The
  // entries hold exactly the encoded fields in order, so this is the encoding.
  const size = ENCODER.encode(JSON.stringify(manifest)).length;
  if (size > MAX_MANIFEST_BYTES) throw new RangeError(tooLarge("send", size));
  return { manifest, sources: scan.sources, warnings: scan.warnings };
}

/**
 * Encodes a manifest as UTF-8 JSON without whitespace, keys in a fixed order:
 * `{"entries":[{"path":…,"kind":…,"size":…,"mode":…},…],"files":…,"bytes":…}`.
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
  const checked = checkManifest(manifest, "encode");
  const bytes = ENCODER.encode(JSON.stringify(checked));
  if (bytes.length > MAX_MANIFEST_BYTES) throw new ManifestError(tooLarge("encode", bytes.length));
  return bytes;
}

/**
 * Decodes and checks a manifest from a peer. It must be UTF-8 JSON of at most
 * {@linkcode MAX_MANIFEST_BYTES} with at most {@linkcode MAX_MANIFEST_ENTRIES}
 * entries, each with a safe path, a kind, an integer size (0 for a directory)
 * and a mode of at most `0o7777`, kept as `mode & 0o777`. No path may appear
 * twice or lie beneath a file, and `files` and `bytes` must match the
 * entries. A directory that holds entries need not be listed itself. Unknown
 * fields are ignored. Entries keep their order.
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
  let value: unknown;
  try {
    value = JSON.parse(DECODER.decode(bytes));
  } catch (error) {
    throw new ManifestError("Cannot decode manifest: it is not UTF-8 JSON", { cause: error });
  }
  return checkManifest(value, "decode");
}

/** Checks an untrusted value and returns a fresh manifest holding only the known fields. */
function checkManifest(value: unknown, verb: "decode" | "encode"): Manifest {
  const fail = (detail: string) => new ManifestError(`Cannot ${verb} manifest: ${detail}`);
  if (!isRecord(value)) throw fail("it is not a JSON object");
  const { entries: list, files, bytes } = value;
  if (!Array.isArray(list)) throw fail('"entries" is not an array');
  if (list.length === 0) throw fail("it has no entries");
  if (list.length > MAX_MANIFEST_ENTRIES) {
    throw fail(`it has ${list.length} entries, more than the ${MAX_MANIFEST_ENTRIES} allowed`);
  }
  const entries: ManifestEntry[] = [];
  let fileCount = 0;
  let byteCount = 0;
  for (const [index, raw] of list.entries()) {
    if (!isRecord(raw)) throw fail(`entry ${index} is not an object`);
    const { path, kind, size, mode } = raw;
    if (typeof path !== "string") throw fail(`entry ${index} has no string "path"`);
    validateManifestPath(path);
    const at = `entry ${index} (${show(path)})`;
    if (kind !== "file" && kind !== "dir") {
      throw fail(`${at} has a "kind" other than "file" or "dir"`);
    }
    if (!isCount(size)) throw fail(`${at} has a "size" that is not an integer from 0 to 2^53-1`);
    if (kind === "dir" && size !== 0) throw fail(`${at} is a directory with a "size" other than 0`);
    if (!isCount(mode) || mode > MAX_MODE) {
      throw fail(`${at} has a "mode" that is not an integer from 0 to 0o7777`);
    }
    if (kind === "file") {
      fileCount++;
      byteCount += size;
      if (byteCount > Number.MAX_SAFE_INTEGER) {
        throw fail("its files add up to more than 2^53-1 bytes");
      }
    }
    entries.push({ path, kind, size, mode: mode & MODE_MASK });
  }
  if (files !== fileCount) throw fail(`"files" is ${show(files)} but it lists ${fileCount} files`);
  if (bytes !== byteCount) {
    throw fail(`"bytes" is ${show(bytes)} but its files add up to ${byteCount}`);
  }
  checkTree(entries, fail);
  return { entries, files: fileCount, bytes: byteCount };
}

/**
 * Refuses a path listed twice or beneath a file. Sorted component by
 * component, everything beneath a path comes right after it, so comparing
 * neighbours is enough; paths hold no NUL, which stands in for "/" to sort.
 */
function checkTree(entries: ManifestEntry[], fail: (detail: string) => ManifestError): void {
  // split() and join() make flat strings, which compare far faster than replaceAll()'s.
  const keys = entries.map((entry) => entry.path.split("/").join("\0"));
  const order = keys.map((_, index) => index)
    .sort((a, b) => keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0);
  for (let i = 1; i < order.length; i++) {
    const before = entries[order[i - 1]!]!;
    const entry = entries[order[i]!]!;
    if (before.path === entry.path) throw fail(`${show(entry.path)} is listed twice`);
    if (before.kind === "file" && entry.path.startsWith(`${before.path}/`)) {
      throw fail(`${show(entry.path)} lies beneath ${show(before.path)}, which is a file`);
    }
  }
}

function tooLarge(verb: "send" | "encode", size: number): string {
  const what = verb === "send" ? "send: the list of files" : "encode manifest: it";
  return `Cannot ${what} takes ${size} bytes, more than the ${MAX_MANIFEST_BYTES} a receiver accepts; send fewer files at a time`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
