/**
 * The receiver's file-system calls that a hostile peer or a local user must
 * not be able to turn against it: everything it creates, opens, links or
 * removes under the output directory goes through an {@linkcode OutDir}.
 *
 * Two ways to hold a tree, by what the platform allows
 * (docs/protocol/transfer.md, "Paths", says which gets which guarantee):
 *
 * - **Handles** (Linux, with FFI allowed): every directory is opened with
 *   `O_DIRECTORY | O_NOFOLLOW` relative to its parent's handle, from the
 *   output directory down, and created with `mkdirat()` relative to it;
 *   files are created with `openat(O_CREAT | O_EXCL | O_NOFOLLOW)`, opened
 *   with `O_PATH | O_NOFOLLOW` and checked before they are opened for
 *   writing, and moved into place with `renameat2(RENAME_NOREPLACE)` (or
 *   `linkat()`), all relative to the directory's handle. A link swapped in
 *   after a check is never followed: the name is looked up again only in a
 *   directory the receiver holds open. A file opened so becomes a
 *   `Deno.FsFile` through `/proc/self/fd/N`, which names the very file the
 *   descriptor holds, so the data path keeps Deno's synchronous writes.
 * - **Checks** (elsewhere, or without FFI): each step by path, each checked
 *   after it is taken: every directory on the way is looked at with `lstat`
 *   (before and after `mkdir`), its real path must lie inside the real
 *   output directory, and a file just created or opened must be the file the
 *   name shows (same device and inode). A swap between a check and the step
 *   is found after the step, which then writes nothing more there.
 *
 * In both, a file opened to be written must be a regular file with one link,
 * owned by this user, and an exclusive lock (`flock`, released by the
 * kernel when the process dies) says that a receive holds it.
 *
 * Paths given to an {@linkcode OutDir} are manifest paths, already checked
 * (`validateManifestPath()` in paths.ts); a method that takes `path` and `name`
 * acts on `name` in the directory that holds `path`, and names `path` in
 * its errors.
 *
 * @module
 */

import { resolve } from "node:path";
import { CheckedOutDir } from "./_fs_checks.ts";
import { HandleOutDir } from "./_fs_handles.ts";
import { openFsLibc } from "./_fs_libc.ts";
import type { HashReader } from "./resume.ts";

/**
 * The mask used where the process's umask cannot be read: the usual default,
 * which never grants write permission to the group or to others.
 */
const DEFAULT_UMASK = 0o022;

/**
 * The process's umask: the permission bits that files the receiver writes
 * must not get, whatever mode the sender asks for. Read on Linux from
 * `/proc/self/status` (one read that leaves the mask alone); elsewhere from
 * `Deno.umask()`, which sets the mask and puts it back, so files another
 * thread creates at that moment could get a wrong mode; where neither is
 * allowed (asked without prompting), {@linkcode DEFAULT_UMASK}.
 */
export function processUmask(): number {
  if (Deno.build.os === "linux" && granted({ name: "read", path: "/proc/self/status" })) {
    try {
      const line = /^Umask:\s*([0-7]+)$/m.exec(Deno.readTextFileSync("/proc/self/status"));
      if (line) return parseInt(line[1]!, 8);
    } catch { /* an older kernel, or no /proc: ask Deno */ }
  }
  if (Deno.build.os !== "windows" && granted({ name: "sys", kind: "umask" })) {
    try {
      return Deno.umask();
    } catch { /* not implemented here */ }
  }
  return DEFAULT_UMASK;
}

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/** What the receiver's checks read of a file. */
export interface FileStat {
  kind: "file" | "dir" | "link" | "other";
  size: number;
  /** Hard links to the file; 1 where the system does not say. */
  nlink: number;
  /** The owner, or `null` where the system has none (Windows). */
  uid: number | null;
  /** Device and inode: equal for two looks at one file. */
  id: string;
  mtimeMs: number | null;
}

/**
 * A file the receiver created or opened to write, holding its lock until
 * {@linkcode OwnFile.close}.
 */
export interface OwnFile {
  /** Its name in its directory. */
  readonly name: string;
  /** Its device and inode ({@linkcode FileStat.id}). */
  readonly id: string;
  stat(): FileStat;
  /** The file for reading and writing; opened on first use, the same each time, closed by `close()`. */
  file(): Deno.FsFile;
  /**
   * The file's bytes from its start, to hash them; the caller disposes of
   * it. By handles a second open file; by checks the file itself, moved to
   * its start, since Windows' locks keep other handles out.
   */
  reader(): HashReader;
  chmod(mode: number): void;
  /** Closes the file, which releases its lock. */
  close(): void;
}

/** The output directory, and every file operation the receiver makes below it. */
export interface OutDir {
  /** The absolute path of the output directory. */
  readonly root: string;
  /** How the tree is held: see the module's documentation. */
  readonly safety: "handles" | "checks";
  /** The names in directory `dir` ("" is the output directory), or `null` if it does not exist. */
  list(dir: string): string[] | null;
  /** `name` in the directory of `path`, not following a link; `null` if missing. */
  stat(path: string, name: string): FileStat | null;
  /** Creates directory `dir` and every missing directory above it, the output directory too. */
  makeDirs(dir: string): void;
  /**
   * Creates and locks a new file, mode 0600, making its directory as
   * needed; `null` if the name is taken (or another receive locked the new
   * file first).
   */
  create(path: string, name: string): OwnFile | null;
  /**
   * Opens and locks an existing file to write it; `null` unless it is a
   * regular file with one link, owned by this user, that no other receive
   * holds.
   */
  openOwn(path: string, name: string): OwnFile | null;
  /** Opens an existing regular file to read it; `null` if it is missing or is not one. */
  openRead(path: string, name: string): Deno.FsFile | null;
  /**
   * Renames `file` to `to` unless `to` exists; `false` if it does. Throws if
   * its name no longer shows `file`.
   */
  place(path: string, file: OwnFile, to: string): boolean;
  /** Renames `file` to `to`, replacing whatever file `to` is; throws as `place()`. */
  replace(path: string, file: OwnFile, to: string): void;
  /** Removes `file`'s name, if it still shows `file`. */
  remove(path: string, file: OwnFile): void;
  /** Closes every handle the tree holds. */
  close(): void;
}

/** Options for {@linkcode openOutDir}. */
export interface OutDirOptions {
  /**
   * Work by path with checks even where handles work: tests run both.
   * @default {false}
   */
  checksOnly?: boolean;
}

/**
 * The output directory `root` (created only when something is written in
 * it), held by handles where this platform allows it, else by checks.
 */
export function openOutDir(root: string, options: OutDirOptions = {}): OutDir {
  const libc = options.checksOnly ? null : openFsLibc();
  const base = resolve(root);
  if (libc) return new HandleOutDir(base, libc, libc.getuid());
  return new CheckedOutDir(base, granted({ name: "sys", kind: "uid" }) ? Deno.uid() : null);
}
