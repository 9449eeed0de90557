/**
 * The file system walk behind scanPaths() in manifest.ts.
 *
 * @module
 */

import { join } from "node:path";
import { pathProblem } from "./_path_rules.ts";
import type { ManifestEntry } from "./manifest.ts";
import { Pacer } from "./_pace.ts";
import { type FsLibc, openFsLibc, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from "./_fs_libc.ts";

/** The bits of a mode that travel. */
const PERMISSION_BITS = 0o777;
/** Modes for systems that have none, such as Windows. */
const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;

/** The entries found so far, walked depth first with sorted names. */
export class Scan {
  readonly entries: ManifestEntry[] = [];
  readonly sources: string[] = [];
  readonly warnings: string[] = [];
  #maxEntries: number;
  #signal: AbortSignal | undefined;
  readonly #pacer = new Pacer();

  constructor(options: { maxEntries: number; signal?: AbortSignal | undefined }) {
    this.#maxEntries = options.maxEntries;
    this.#signal = options.signal;
  }

  /** Adds a file, or a directory and everything beneath it. */
  async add(path: string, source: string, info: Entry): Promise<void> {
    if (this.entries.length >= this.#maxEntries) {
      throw new RangeError(
        `Cannot send: more than ${this.#maxEntries} files and directories, send fewer at a time`,
      );
    }
    const kind = info.isDirectory ? "dir" : "file";
    const mode = (info.mode ?? (kind === "dir" ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE)) &
      PERMISSION_BITS;
    this.entries.push({ path, kind, size: kind === "dir" ? 0 : info.size, mode });
    this.sources.push(source);
    if (kind === "dir") await this.#walk(path, source);
  }

  async #walk(dirPath: string, dirSource: string): Promise<void> {
    this.#signal?.throwIfAborted();
    // Listed synchronously, the event loop given a turn as often as below:
    // an asynchronous call per name is a round trip to another thread, and
    // 10^6 of them took more time than the lstat calls.
    const names: string[] = [];
    for (const child of Deno.readDirSync(dirSource)) {
      names.push(child.name);
      if (this.#pacer.due()) await this.#pacer.pause(this.#signal);
    }
    // The directory held open, so that each entry's lstat() looks up one name, not its whole path.
    libc ??= openFsLibc();
    const dir = libc?.openat(libc.c.AT_FDCWD, dirSource, libc.c.O_RDONLY | libc.c.O_DIRECTORY) ??
      -1;
    try {
      await this.#entries(dirPath, dirSource, names.sort(), dir);
    } finally {
      if (dir >= 0) libc!.close(dir);
    }
  }

  async #entries(dirPath: string, dirSource: string, names: string[], dir: number): Promise<void> {
    for (const name of names) {
      this.#signal?.throwIfAborted();
      // 10^6 entries take seconds: the rendezvous connection must stay alive.
      if (this.#pacer.due()) await this.#pacer.pause(this.#signal);
      const path = `${dirPath}/${name}`;
      const source = join(dirSource, name);
      const problem = pathProblem(path);
      // lstat synchronously: an asynchronous call per entry is a round trip
      // to another thread. The pacer above gives the event loop its turns.
      const info = problem === undefined ? lstat(dir, name, source) : undefined;
      if (info === undefined) this.warnings.push(`Skipping ${path}: ${problem}`);
      else if (info.isSymlink) {
        this.warnings.push(`Skipping symlink ${path}: punch sends files and directories only`);
      } else if (!info.isFile && !info.isDirectory) {
        this.warnings.push(`Skipping special file ${path}: punch sends files and directories only`);
      } else await this.add(path, source, info);
    }
  }
}

/** What the scan reads of an entry. */
type Entry = Pick<Deno.FileInfo, "isFile" | "isDirectory" | "isSymlink" | "size" | "mode">;

/** The C library's calls, looked for at the first scan (never in a browser, which scans nothing). */
let libc: FsLibc | null | undefined;

/**
 * lstat() of `name` in the directory open as `dir` (-1 for none), whose path
 * is `path`: through the C library's statx() where it can be called (10^6
 * entries: about 1 s less than Deno.lstatSync() here), else Deno's.
 */
function lstat(dir: number, name: string, path: string): Entry {
  const found = dir < 0 ? undefined : libc?.modeAndSize(dir, name);
  if (found === undefined || typeof found === "number") return Deno.lstatSync(path);
  const type = found.mode & S_IFMT;
  return {
    isFile: type === S_IFREG,
    isDirectory: type === S_IFDIR,
    isSymlink: type === S_IFLNK,
    size: found.size,
    mode: found.mode,
  };
}

/** Stats a path the user named, following links, and words its errors for the user. */
export async function statArgument(arg: string, source: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(source);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot send ${show(arg)}: no such file or directory`, {
        cause: error,
      });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new Deno.errors.PermissionDenied(`Cannot send ${show(arg)}: permission denied`, {
        cause: error,
      });
    }
    throw error;
  }
}

function show(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}
