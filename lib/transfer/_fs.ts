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

import { join, resolve } from "node:path";
import { MAX_OPEN_DIRS } from "./defaults.ts";
import {
  ERRNO,
  type FsLibc,
  openFsLibc,
  type RawStat,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
} from "./_fs_libc.ts";
import { isStrictlyInside, pathBlocked, pathChanged, pathOutside } from "./paths.ts";
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

/** The directory that holds manifest path `path`: "" for a top-level name. */
function dirOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** What renameat2() says where the C library or the file system has no RENAME_NOREPLACE. */
const NO_RENAME_FLAGS = new Set<number>([ERRNO.ENOSYS, ERRNO.EINVAL, ERRNO.EOPNOTSUPP]);

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(ERRNO).map(([name, value]) => [value, name]),
);

/** An error for a failed C call: `what`, then the errno's name. */
function callError(status: number, what: string): Error {
  const name = ERRNO_NAMES.get(-status) ?? `errno ${-status}`;
  return new Error(`${what}: ${name}`);
}

/** The output tree held by directory handles (Linux, FFI). */
class HandleOutDir implements OutDir {
  readonly safety = "handles";
  readonly root: string;
  readonly #libc: FsLibc;
  readonly #uid: number | null;
  #rootFd = -1;
  /** Where the kernel says the output directory is, once it is open. */
  #rootReal = "";
  /** Open directories below the root by path, least recently used first. */
  readonly #dirs = new Map<string, number>();

  constructor(root: string, libc: FsLibc, uid: number | null) {
    this.root = root;
    this.#libc = libc;
    this.#uid = uid;
  }

  #openRoot(create: boolean): number | null {
    if (this.#rootFd >= 0) return this.#rootFd;
    const { c } = this.#libc;
    // The output directory itself may be a link: the user chose it.
    const flags = c.O_RDONLY | c.O_DIRECTORY;
    let fd = this.#libc.openat(c.AT_FDCWD, this.root, flags);
    if (fd === -ERRNO.ENOENT && create) {
      Deno.mkdirSync(this.root, { recursive: true });
      fd = this.#libc.openat(c.AT_FDCWD, this.root, flags);
    }
    if (fd === -ERRNO.ENOENT && !create) return null;
    if (fd < 0) throw callError(fd, `Cannot open the output directory ${this.root}`);
    this.#rootFd = fd;
    this.#rootReal = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return fd;
  }

  /**
   * The handle of directory `dir`: opened from the nearest open directory
   * above it (the output directory at worst) one directory at a time,
   * never following a link (and created first with `create`); `null` if
   * missing. With `verify`, a handle opened before must still be where
   * `dir` is (the kernel's path of it, `/proc/self/fd/N`, unchanged):
   * if a directory on the way was moved or swapped since, it throws.
   * Reads need no `verify`: they look only into directories the receiver
   * opened itself, wherever those went.
   */
  #dir(dir: string, create: boolean, path: string, verify = true): number | null {
    const root = this.#openRoot(create);
    if (root === null || dir === "") return root;
    // The directory itself, or the nearest open directory above it.
    let from = dir;
    for (let at = dir.length; at > 0; at = from.lastIndexOf("/")) {
      from = dir.slice(0, at);
      const fd = this.#dirs.get(from);
      if (fd === undefined) continue;
      if (verify && Deno.readLinkSync(`/proc/self/fd/${fd}`) !== this.#expected(from)) {
        // Walk again from the top for the precise error (a link where the
        // directory was); where a directory stands there now, still refuse.
        this.#forget(from);
        this.#walk(root, "", dir, false, path);
        throw pathChanged(path);
      }
      this.#dirs.delete(from);
      this.#dirs.set(from, fd);
      return from === dir ? fd : this.#walk(fd, from, dir, create, path);
    }
    return this.#walk(root, "", dir, create, path);
  }

  #expected(dir: string): string {
    return this.#rootReal === "/" ? `/${dir}` : `${this.#rootReal}/${dir}`;
  }

  /** Opens the directories from `from` (open as `fd`) down to `dir`. */
  #walk(fd: number, from: string, dir: string, create: boolean, path: string): number | null {
    const rest = from === "" ? dir : dir.slice(from.length + 1);
    let prefix = from;
    for (const name of rest.split("/")) {
      prefix = prefix === "" ? name : `${prefix}/${name}`;
      const opened = this.#open(fd, name, create, path, prefix);
      if (opened === null) return null;
      fd = opened;
    }
    return fd;
  }

  /**
   * Opens directory `name` in `parent` (the directory `prefix`) and keeps it
   * open; only older handles than `parent`'s are closed to make room, and
   * none that the caller holds after this.
   */
  #open(
    parent: number,
    name: string,
    create: boolean,
    path: string,
    prefix: string,
  ): number | null {
    const libc = this.#libc;
    const { c } = libc;
    const flags = c.O_RDONLY | c.O_DIRECTORY | c.O_NOFOLLOW;
    let fd = libc.openat(parent, name, flags);
    if (fd === -ERRNO.ENOENT && create) {
      const made = libc.mkdirat(parent, name, 0o777);
      if (made < 0 && made !== -ERRNO.EEXIST) {
        throw callError(made, `Cannot create directory ${prefix} in ${this.root}`);
      }
      fd = libc.openat(parent, name, flags);
    }
    if (fd === -ERRNO.ENOENT && !create) return null;
    if (fd === -ERRNO.ENOTDIR || fd === -ERRNO.ELOOP) {
      const info = libc.stat(parent, name);
      const link = typeof info !== "number" && info.type === S_IFLNK;
      throw pathBlocked(path, prefix, link ? "link" : "not a directory");
    }
    if (fd < 0) throw callError(fd, `Cannot open directory ${prefix} in ${this.root}`);
    this.#forget(prefix);
    this.#dirs.set(prefix, fd);
    if (this.#dirs.size > MAX_OPEN_DIRS) {
      // The oldest is never the one just opened; its parent, used already,
      // may go.
      const [oldest] = this.#dirs.keys();
      this.#forget(oldest!);
    }
    return fd;
  }

  #forget(prefix: string): void {
    const fd = this.#dirs.get(prefix);
    if (fd === undefined) return;
    this.#dirs.delete(prefix);
    this.#libc.close(fd);
  }

  #existingDir(path: string): number {
    const fd = this.#dir(dirOf(path), false, path);
    if (fd === null) throw pathChanged(path);
    return fd;
  }

  /** Throws unless `name` in `dir` is still `file`. */
  #still(dir: number, file: OwnFile, path: string): void {
    const named = this.#libc.stat(dir, file.name);
    if (typeof named === "number" || named.id !== file.id) throw pathChanged(path);
  }

  list(dir: string): string[] | null {
    const fd = this.#dir(dir, false, dir, false);
    if (fd === null) return null;
    const names: string[] = [];
    for (const entry of Deno.readDirSync(`/proc/self/fd/${fd}`)) names.push(entry.name);
    return names;
  }

  stat(path: string, name: string): FileStat | null {
    const fd = this.#dir(dirOf(path), false, path, false);
    if (fd === null) return null;
    const info = this.#libc.stat(fd, name);
    if (info === -ERRNO.ENOENT) return null;
    if (typeof info === "number") throw callError(info, `Cannot look at ${path}`);
    return fromRaw(info);
  }

  makeDirs(dir: string): void {
    this.#dir(dir, true, dir === "" ? "." : dir);
  }

  create(path: string, name: string): OwnFile | null {
    // Checked once the file is made: a directory moved before is found then.
    const dir = this.#dir(dirOf(path), true, path, false)!;
    const libc = this.#libc;
    const { c } = libc;
    const fd = libc.openat(dir, name, c.O_RDWR | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, 0o600);
    if (fd === -ERRNO.EEXIST) return null;
    if (fd < 0) throw callError(fd, `Cannot create a file for ${path}`);
    const info = libc.stat(fd, "");
    if (typeof info === "number" || libc.tryLock(fd) < 0) {
      libc.close(fd);
      return null;
    }
    const file = new HandleFile(libc, fd, name, info.id);
    try {
      // If a directory on the way was moved or swapped since it was opened,
      // the new file is removed from wherever it went, and nothing written.
      const at = dirOf(path);
      if (at !== "" && Deno.readLinkSync(`/proc/self/fd/${dir}`) !== this.#expected(at)) {
        throw pathChanged(path);
      }
    } catch (error) {
      libc.unlinkat(dir, name, 0);
      file.close();
      throw error;
    }
    return file;
  }

  openOwn(path: string, name: string): OwnFile | null {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return null;
    const libc = this.#libc;
    const { c } = libc;
    // O_PATH opens nothing: no FIFO waits, no device acts. The checks come
    // before the file is opened for writing, on the very file found.
    const pinned = libc.openat(dir, name, c.O_PATH | c.O_NOFOLLOW);
    if (pinned < 0) return null;
    const found = libc.stat(pinned, "");
    if (typeof found === "number" || !this.#mine(found)) {
      libc.close(pinned);
      return null;
    }
    const fd = libc.openat(c.AT_FDCWD, `/proc/self/fd/${pinned}`, c.O_RDWR | c.O_NONBLOCK);
    libc.close(pinned);
    if (fd < 0) return null;
    // Locked, it is this receive's; then it must still be the file the
    // name shows, with no second link (one made before the lock is seen).
    const locked = libc.tryLock(fd) === 0 ? libc.stat(fd, "") : -1;
    const named = libc.stat(dir, name);
    if (
      typeof locked === "number" || typeof named === "number" || !this.#mine(locked) ||
      locked.id !== found.id || named.id !== found.id
    ) {
      libc.close(fd);
      return null;
    }
    return new HandleFile(libc, fd, name, found.id);
  }

  #mine(info: RawStat): boolean {
    return info.type === S_IFREG && info.nlink === 1 &&
      (this.#uid === null || info.uid === this.#uid);
  }

  openRead(path: string, name: string): Deno.FsFile | null {
    const dir = this.#dir(dirOf(path), false, path, false);
    if (dir === null) return null;
    const { c } = this.#libc;
    const pinned = this.#libc.openat(dir, name, c.O_PATH | c.O_NOFOLLOW);
    if (pinned < 0) return null;
    try {
      const info = this.#libc.stat(pinned, "");
      if (typeof info === "number" || info.type !== S_IFREG) return null;
      return Deno.openSync(`/proc/self/fd/${pinned}`, { read: true });
    } finally {
      this.#libc.close(pinned);
    }
  }

  place(path: string, file: OwnFile, to: string): boolean {
    const dir = this.#existingDir(path);
    this.#still(dir, file, path);
    const libc = this.#libc;
    const from = file.name;
    const renamed = libc.renameNoReplace(dir, from, to);
    if (renamed === 0) return true;
    if (renamed === -ERRNO.EEXIST) return false;
    if (!NO_RENAME_FLAGS.has(-renamed)) throw callError(renamed, `Cannot move ${path} into place`);
    // A file system without RENAME_NOREPLACE: a link fails rather than clobber.
    const linked = libc.linkat(dir, from, to);
    if (linked === 0) {
      libc.unlinkat(dir, from, 0);
      return true;
    }
    if (linked === -ERRNO.EEXIST) return false;
    // Nor hard links (FAT, some network file systems): check, then rename.
    if (libc.stat(dir, to) !== -ERRNO.ENOENT) return false;
    const moved = libc.renameat(dir, from, to);
    if (moved < 0) throw callError(moved, `Cannot move ${path} into place`);
    return true;
  }

  replace(path: string, file: OwnFile, to: string): void {
    const dir = this.#existingDir(path);
    this.#still(dir, file, path);
    const moved = this.#libc.renameat(dir, file.name, to);
    if (moved < 0) throw callError(moved, `Cannot move ${path} into place`);
  }

  remove(path: string, file: OwnFile): void {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return;
    const named = this.#libc.stat(dir, file.name);
    if (typeof named === "number" || named.id !== file.id) return; // not ours to remove
    const removed = this.#libc.unlinkat(dir, file.name, 0);
    if (removed < 0 && removed !== -ERRNO.ENOENT) {
      throw callError(removed, `Cannot remove a file of ${path}`);
    }
  }

  close(): void {
    for (const fd of this.#dirs.values()) this.#libc.close(fd);
    this.#dirs.clear();
    if (this.#rootFd >= 0) this.#libc.close(this.#rootFd);
    this.#rootFd = -1;
  }
}

function fromRaw(info: RawStat): FileStat {
  const kind = info.type === S_IFREG
    ? "file"
    : info.type === S_IFDIR
    ? "dir"
    : info.type === S_IFLNK
    ? "link"
    : "other";
  return {
    kind,
    size: info.size,
    nlink: info.nlink,
    uid: info.uid,
    id: info.id,
    mtimeMs: info.mtimeMs,
  };
}

/** A file held by its descriptor; Deno's handles on it come through /proc/self/fd. */
class HandleFile implements OwnFile {
  readonly name: string;
  readonly id: string;
  readonly #libc: FsLibc;
  readonly #fd: number;
  #file: Deno.FsFile | null = null;

  constructor(libc: FsLibc, fd: number, name: string, id: string) {
    this.#libc = libc;
    this.#fd = fd;
    this.name = name;
    this.id = id;
  }

  stat(): FileStat {
    const info = this.#libc.stat(this.#fd, "");
    if (typeof info === "number") throw callError(info, `Cannot look at ${this.name}`);
    return fromRaw(info);
  }

  file(): Deno.FsFile {
    return this.#file ??= Deno.openSync(`/proc/self/fd/${this.#fd}`, { read: true, write: true });
  }

  reader(): Deno.FsFile {
    return Deno.openSync(`/proc/self/fd/${this.#fd}`, { read: true });
  }

  chmod(mode: number): void {
    const status = this.#libc.fchmod(this.#fd, mode);
    if (status < 0) throw callError(status, `Cannot set the mode of ${this.name}`);
  }

  close(): void {
    try {
      this.#file?.close();
    } finally {
      this.#file = null;
      this.#libc.close(this.#fd);
    }
  }
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function fromInfo(info: Deno.FileInfo): FileStat {
  const kind = info.isSymlink ? "link" : info.isFile ? "file" : info.isDirectory ? "dir" : "other";
  return {
    kind,
    size: info.size,
    nlink: info.nlink ?? 1,
    uid: info.uid,
    id: `${info.dev}:${info.ino}`,
    mtimeMs: info.mtime?.getTime() ?? null,
  };
}

/** The output tree by path, each step checked after it is taken. */
class CheckedOutDir implements OutDir {
  readonly safety = "checks";
  readonly root: string;
  readonly #uid: number | null;
  #realRoot: string | null = null;

  constructor(root: string, uid: number | null) {
    this.root = root;
    this.#uid = uid;
  }

  /**
   * The path of directory `dir`, each component checked not to be a link
   * (and created first with `create`), and its real path inside the real
   * output directory; `null` if missing.
   */
  #dir(dir: string, create: boolean, path: string): string | null {
    if (lstatOrNull(this.root) === null) {
      if (!create) return null;
      Deno.mkdirSync(this.root, { recursive: true });
    }
    let at = this.root;
    const components = dir === "" ? [] : dir.split("/");
    for (const [index, name] of components.entries()) {
      at = join(at, name);
      const shown = components.slice(0, index + 1).join("/");
      let info = lstatOrNull(at);
      if (info === null) {
        if (!create) return null;
        try {
          Deno.mkdirSync(at);
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        }
        info = lstatOrNull(at); // and look again at what the step made
      }
      if (info?.isSymlink) throw pathBlocked(path, shown, "link");
      if (!info?.isDirectory) throw pathBlocked(path, shown, "not a directory");
    }
    this.#inside(at, path);
    return at;
  }

  /** Throws unless the real path of `at` is the real output directory or lies inside it. */
  #inside(at: string, path: string): void {
    const realRoot = this.#realRoot ??= Deno.realPathSync(this.root);
    const real = Deno.realPathSync(at);
    if (real !== realRoot && !isStrictlyInside(realRoot, real)) {
      throw pathOutside(path, real, realRoot);
    }
  }

  #existingDir(path: string): string {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) throw pathChanged(path);
    return dir;
  }

  list(dir: string): string[] | null {
    const at = this.#dir(dir, false, dir);
    if (at === null) return null;
    const names: string[] = [];
    for (const entry of Deno.readDirSync(at)) names.push(entry.name);
    return names;
  }

  stat(path: string, name: string): FileStat | null {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return null;
    const info = lstatOrNull(join(dir, name));
    return info && fromInfo(info);
  }

  makeDirs(dir: string): void {
    this.#dir(dir, true, dir === "" ? "." : dir);
  }

  create(path: string, name: string): OwnFile | null {
    const dir = this.#dir(dirOf(path), true, path)!;
    const at = join(dir, name);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(at, { createNew: true, read: true, write: true, mode: 0o600 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return null;
      throw error;
    }
    const id = fromInfo(file.statSync()).id;
    const named = lstatOrNull(at);
    try {
      this.#inside(dir, path);
      if (named === null || fromInfo(named).id !== id) throw pathChanged(path);
    } catch (error) {
      file.close();
      // The empty file just made, wherever the swap put it: only if the name still shows it.
      if (named !== null && fromInfo(named).id === id) Deno.removeSync(at);
      throw error instanceof Deno.errors.NotFound ? pathChanged(path) : error;
    }
    if (!file.tryLockSync(true)) {
      file.close();
      return null;
    }
    return new CheckedFile(file, at, id, name, path);
  }

  openOwn(path: string, name: string): OwnFile | null {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return null;
    const at = join(dir, name);
    const found = lstatOrNull(at);
    if (found === null || !this.#mine(fromInfo(found))) return null;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(at, { read: true, write: true });
    } catch {
      return null;
    }
    const id = fromInfo(found).id;
    const locked = file.tryLockSync(true) ? fromInfo(file.statSync()) : null;
    const named = lstatOrNull(at);
    if (
      locked === null || named === null || !this.#mine(locked) || locked.id !== id ||
      fromInfo(named).id !== id
    ) {
      file.close();
      return null;
    }
    try {
      this.#inside(dir, path);
    } catch (error) {
      file.close();
      throw error;
    }
    return new CheckedFile(file, at, id, name, path);
  }

  #mine(info: FileStat): boolean {
    return info.kind === "file" && info.nlink === 1 &&
      (this.#uid === null || info.uid === null || info.uid === this.#uid);
  }

  openRead(path: string, name: string): Deno.FsFile | null {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return null;
    const at = join(dir, name);
    const found = lstatOrNull(at);
    if (!found?.isFile) return null;
    const file = Deno.openSync(at, { read: true });
    if (fromInfo(file.statSync()).id !== fromInfo(found).id) {
      file.close();
      return null;
    }
    return file;
  }

  /** Throws unless `file`'s name in `dir` still shows it. */
  #still(dir: string, file: OwnFile, path: string): void {
    const named = lstatOrNull(join(dir, file.name));
    if (named === null || fromInfo(named).id !== file.id) throw pathChanged(path);
  }

  place(path: string, file: OwnFile, to: string): boolean {
    const dir = this.#existingDir(path);
    this.#still(dir, file, path);
    const from = join(dir, file.name);
    try {
      Deno.linkSync(from, join(dir, to));
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      // No hard links on this file system: check, then rename.
      if (lstatOrNull(join(dir, to)) !== null) return false;
      Deno.renameSync(from, join(dir, to));
      return true;
    }
    Deno.removeSync(from);
    return true;
  }

  replace(path: string, file: OwnFile, to: string): void {
    const dir = this.#existingDir(path);
    this.#still(dir, file, path);
    Deno.renameSync(join(dir, file.name), join(dir, to));
  }

  remove(path: string, file: OwnFile): void {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return;
    const named = lstatOrNull(join(dir, file.name));
    if (named === null || fromInfo(named).id !== file.id) return; // not ours to remove
    try {
      Deno.removeSync(join(dir, file.name));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  close(): void {}
}

/** A file held by path and by its open handle, checked to be the same before each use. */
class CheckedFile implements OwnFile {
  readonly name: string;
  readonly id: string;
  readonly #file: Deno.FsFile;
  /** Where it is, and the manifest path it is for (for errors). */
  readonly #at: string;
  readonly #for: string;

  constructor(file: Deno.FsFile, at: string, id: string, name: string, path: string) {
    this.#file = file;
    this.#at = at;
    this.id = id;
    this.name = name;
    this.#for = path;
  }

  #same(): void {
    const named = lstatOrNull(this.#at);
    if (named === null || fromInfo(named).id !== this.id) throw pathChanged(this.#for);
  }

  stat(): FileStat {
    return fromInfo(this.#file.statSync());
  }

  file(): Deno.FsFile {
    return this.#file;
  }

  reader(): HashReader {
    const file = this.#file;
    file.seekSync(0, Deno.SeekMode.Start);
    return { read: (into) => file.read(into), [Symbol.dispose]() {} };
  }

  chmod(mode: number): void {
    this.#same();
    Deno.chmodSync(this.#at, mode);
  }

  close(): void {
    this.#file.close();
  }
}
