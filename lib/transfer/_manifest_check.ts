/**
 * The rules of a manifest's entries, checked one entry at a time in order:
 * what decodeManifest() applies to a peer's manifest as it arrives, and
 * encodeManifest() to ours before it leaves.
 *
 * @module
 */

import { MAX_MANIFEST_ENTRIES } from "./defaults.ts";
import { validateManifestPath } from "./paths.ts";

/** The permission bits that travel; setuid, setgid, sticky and file type bits never do. */
const MODE_MASK = 0o777;
/** The widest mode a manifest may carry before masking: permissions plus setuid, setgid, sticky. */
const MAX_MODE = 0o7777;
/** The kinds as messages name them. */
const KINDS_TEXT = '"file", "dir", "stream" or "text"';
/** `/` as a char code, which sorts before every other character of a path. */
const SLASH = 0x2f;

/** One file or directory in a manifest. */
export interface ManifestEntry {
  /** A relative POSIX path that passes {@linkcode validateManifestPath}: `"photos/a.jpg"`. */
  path: string;
  /**
   * What the entry is: a file, a directory, a stream (a file whose length
   * is known only at its end, like stdin) or text (a file meant to be read:
   * a receiver may show it rather than write it). A stream or text entry is
   * the only entry of its manifest.
   */
  kind: EntryKind;
  /** The file's or text's length in bytes; 0 for a directory or a stream. */
  size: number;
  /** Permission bits, `mode & 0o777`: `0o644`, `0o755`. */
  mode: number;
}

/** The kinds of entry a manifest lists. */
export type EntryKind = "file" | "dir" | "stream" | "text";

/** The kinds an entry may have, for messages. */
const KINDS: readonly string[] = ["file", "dir", "stream", "text"];

/** Whether an entry carries bytes: every kind but a directory. */
export function carriesData(entry: { kind: EntryKind }): boolean {
  return entry.kind !== "dir";
}

/** Whether an entry must be alone in its manifest: a stream or text. */
export function isAlone(kind: unknown): boolean {
  return kind === "stream" || kind === "text";
}

/** What a sender offers. */
export interface Manifest {
  /** Files and directories, sorted by path, each directory before what it holds. */
  entries: ManifestEntry[];
  /** How many entries carry data (files, streams and text). */
  files: number;
  /** The sum of their sizes (a stream counts 0: its length is not known yet). */
  bytes: number;
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
 * Compares two manifest paths component by component, each component as a
 * JavaScript string (by UTF-16 code unit): the order scanPaths() lists.
 * Since `/` sorts before every character a name may hold, that is the order
 * of the strings with `/` as the smallest character, and a directory comes
 * right before everything beneath it.
 */
export function comparePaths(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return (x === SLASH ? -1 : x) - (y === SLASH ? -1 : y);
  }
  return a.length - b.length;
}

/**
 * Checks a manifest's entries one at a time, in order, and keeps them:
 * each has a safe path, a kind, a size and a mode; each path sorts after the
 * one before (so none is listed twice); none lies beneath a file; and the
 * files add up to at most 2^53-1 bytes. Sorted, everything beneath a path
 * comes right after it, so comparing neighbours is enough, and a manifest is
 * checked in one pass as it arrives.
 */
export class EntryChecker {
  /** The entries checked so far, if kept. */
  readonly entries: ManifestEntry[] = [];
  #count = 0;
  #files = 0;
  #bytes = 0;
  #last: ManifestEntry | undefined;
  readonly #verb: "decode" | "encode";
  readonly #keep: boolean;

  /**
   * @param verb What the messages say cannot be done: `Cannot decode manifest: …`.
   * @param keep Whether to keep the checked entries in {@linkcode EntryChecker.entries}.
   */
  constructor(verb: "decode" | "encode", keep = true) {
    this.#verb = verb;
    this.#keep = keep;
  }

  /** How many entries were checked. */
  get count(): number {
    return this.#count;
  }

  /** A {@linkcode ManifestError} that says the manifest cannot be decoded (or encoded) and why. */
  fail(detail: string): ManifestError {
    return new ManifestError(`Cannot ${this.#verb} manifest: ${detail}`);
  }

  /**
   * Checks the next entry and returns it as it travels (`mode & 0o777`).
   *
   * @throws {ManifestError} If a field or the order is wrong.
   * @throws {PathError} If the path is not safe.
   */
  add(path: unknown, kind: unknown, size: unknown, mode: unknown): ManifestEntry {
    const index = this.#count;
    if (index >= MAX_MANIFEST_ENTRIES) {
      throw this.fail(`it lists more than the ${MAX_MANIFEST_ENTRIES} entries allowed`);
    }
    if (typeof path !== "string") throw this.fail(`entry ${index} has no string "path"`);
    validateManifestPath(path);
    if (typeof kind !== "string" || !KINDS.includes(kind)) {
      throw this.fail(`${entryAt(index, path)} has a "kind" other than ${KINDS_TEXT}`);
    }
    if (index > 0 && (isAlone(kind) || isAlone(this.#last?.kind))) {
      throw this.fail(
        `${entryAt(index, path)} is listed with a ${
          isAlone(kind) ? kind : this.#last!.kind
        } entry, which must be alone`,
      );
    }
    if (isAlone(kind) && path.includes("/")) {
      throw this.fail(`${entryAt(index, path)} is a ${kind} entry with a "/" in its path`);
    }
    if (!isCount(size)) {
      throw this.fail(
        `${entryAt(index, path)} has a "size" that is not an integer from 0 to 2^53-1`,
      );
    }
    if ((kind === "dir" || kind === "stream") && size !== 0) {
      throw this.fail(
        `${entryAt(index, path)} is a ${
          kind === "dir" ? "directory" : "stream"
        } with a "size" other than 0`,
      );
    }
    if (!isCount(mode) || mode > MAX_MODE) {
      throw this.fail(
        `${entryAt(index, path)} has a "mode" that is not an integer from 0 to 0o7777`,
      );
    }
    const last = this.#last;
    if (last !== undefined) {
      const order = comparePaths(last.path, path);
      if (order === 0) throw this.fail(`${show(path)} is listed twice`);
      if (order > 0) {
        throw this.fail(
          `${entryAt(index, path)} comes after ${
            show(last.path)
          }: entries must be sorted by path, component by component`,
        );
      }
      if (last.kind === "file" && isBeneath(path, last.path)) {
        throw this.fail(`${show(path)} lies beneath ${show(last.path)}, which is a file`);
      }
    }
    if (kind !== "dir") {
      this.#files++;
      this.#bytes += size;
      if (this.#bytes > Number.MAX_SAFE_INTEGER) {
        throw this.fail("its files add up to more than 2^53-1 bytes");
      }
    }
    const entry: ManifestEntry = { path, kind: kind as EntryKind, size, mode: mode & MODE_MASK };
    if (this.#keep) this.entries.push(entry);
    this.#last = entry;
    this.#count++;
    return entry;
  }

  /**
   * Checks the totals against the entries and returns the manifest.
   *
   * @throws {ManifestError} If there are no entries, or a total is wrong.
   */
  finish(files: unknown, bytes: unknown): Manifest {
    if (this.#count === 0) throw this.fail("it has no entries");
    if (files !== this.#files) {
      throw this.fail(`"files" is ${show(files)} but it lists ${this.#files} files`);
    }
    if (bytes !== this.#bytes) {
      throw this.fail(`"bytes" is ${show(bytes)} but its files add up to ${this.#bytes}`);
    }
    return { entries: this.entries, files: this.#files, bytes: this.#bytes };
  }
}

/** Whether `path` lies beneath `parent`: `a/b` beneath `a`, not `a.b` or `ab`. */
function isBeneath(path: string, parent: string): boolean {
  return path.length > parent.length && path.charCodeAt(parent.length) === SLASH &&
    path.startsWith(parent);
}

/** `entry 3 ("a/b")`, for messages. */
function entryAt(index: number, path: string): string {
  return `entry ${index} (${show(path)})`;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** A value as JSON for a message, cut at 200 characters. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
