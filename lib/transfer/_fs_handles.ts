/**
 * The output tree held by directory handles, on Linux with FFI permitted
 * (see `_fs.ts` for what this guarantees, and `_fs_libc.ts` for the calls).
 *
 * @module
 */

import { MAX_OPEN_DIRS } from "./defaults.ts";
import { ERRNO, type FsLibc, type RawStat, S_IFDIR, S_IFLNK, S_IFREG } from "./_fs_libc.ts";
import type { FileStat, OutDir, OwnFile } from "./_fs.ts";
import { dirOf, pathBlocked, pathChanged } from "./paths.ts";

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
export class HandleOutDir implements OutDir {
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
