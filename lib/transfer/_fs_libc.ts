/**
 * The C library's directory-relative file calls on Linux, through Deno's
 * FFI: what lets the receiver (`_fs.ts`) open every directory on the way
 * without following a link, and create, open, link and rename files
 * relative to a directory it holds open, so that a link swapped in after a
 * check is never followed. Deno's own file API has no `O_NOFOLLOW` and no
 * `*at()` calls.
 *
 * Only Linux: the flag values below are Linux's (two of them differ on
 * arm64), and a file opened here becomes a `Deno.FsFile` through
 * `/proc/self/fd/N`, which names the very file the descriptor holds.
 *
 * @module
 */

import { ffiAllowed } from "../_ffi.ts";

/** `open()` flags and `*at()` flags on Linux. */
export interface FsConstants {
  O_RDONLY: number;
  O_RDWR: number;
  O_CREAT: number;
  O_EXCL: number;
  O_NONBLOCK: number;
  O_DIRECTORY: number;
  O_NOFOLLOW: number;
  O_CLOEXEC: number;
  O_PATH: number;
  AT_FDCWD: number;
  AT_SYMLINK_NOFOLLOW: number;
  AT_EMPTY_PATH: number;
  RENAME_NOREPLACE: number;
  LOCK_EX: number;
  LOCK_NB: number;
}

function constants(arch: string): FsConstants {
  // arm and arm64 number O_DIRECTORY and O_NOFOLLOW apart from the rest.
  const arm = arch === "aarch64" || arch === "arm";
  return {
    O_RDONLY: 0,
    O_RDWR: 2,
    O_CREAT: 0o100,
    O_EXCL: 0o200,
    O_NONBLOCK: 0o4000,
    O_DIRECTORY: arm ? 0o40000 : 0o200000,
    O_NOFOLLOW: arm ? 0o100000 : 0o400000,
    O_CLOEXEC: 0o2000000,
    O_PATH: 0o10000000,
    AT_FDCWD: -100,
    AT_SYMLINK_NOFOLLOW: 0x100,
    AT_EMPTY_PATH: 0x1000,
    RENAME_NOREPLACE: 1,
    LOCK_EX: 2,
    LOCK_NB: 4,
  };
}

/** errno values the callers tell apart; the same on every Linux architecture. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EAGAIN: 11,
  EACCES: 13,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EMLINK: 31,
  ENOSYS: 38,
  ELOOP: 40,
  EOPNOTSUPP: 95,
} as const;

const SYMBOLS = {
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  renameat: { parameters: ["i32", "buffer", "i32", "buffer"], result: "i32" },
  // glibc 2.28 and later; without it a no-clobber move links and unlinks.
  renameat2: {
    parameters: ["i32", "buffer", "i32", "buffer", "u32"],
    result: "i32",
    optional: true,
  },
  linkat: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  getuid: { parameters: [], result: "u32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** What `statx()` says of a file: the fields the receiver's checks read. */
export interface RawStat {
  /** `S_IFMT` bits: 0o100000 a regular file, 0o040000 a directory, 0o120000 a link. */
  type: number;
  size: number;
  nlink: number;
  uid: number;
  /** Device and inode as `major:minor:inode`: equal for two looks at one file. */
  id: string;
  mtimeMs: number;
}

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** `statx()` mask: type, mode, nlink, uid, gid, times, inode, size, blocks. */
const STATX_BASIC_STATS = 0x7ff;
/** `statx()` mask: type and mode (`STATX_TYPE | STATX_MODE`), and size (`STATX_SIZE`). */
const STATX_MODE_AND_SIZE = 0x1 | 0x2 | 0x200;
/** `struct statx` is 256 bytes on every architecture. */
const STATX_BYTES = 256;

/**
 * The calls `_fs.ts` makes. Each returns what the C call does, except that a
 * failure returns `-errno` (so `-2` is `ENOENT`), read right after the call.
 */
export interface FsLibc {
  readonly c: FsConstants;
  openat(dir: number, name: string, flags: number, mode?: number): number;
  mkdirat(dir: number, name: string, mode: number): number;
  unlinkat(dir: number, name: string, flags: number): number;
  renameat(dir: number, from: string, to: string): number;
  /** `renameat2(RENAME_NOREPLACE)`: `-ENOSYS` where the C library lacks it. */
  renameNoReplace(dir: number, from: string, to: string): number;
  linkat(dir: number, from: string, to: string): number;
  fchmod(fd: number, mode: number): number;
  /** `flock(LOCK_EX | LOCK_NB)`: 0, or `-EAGAIN` if another open file holds a lock. */
  tryLock(fd: number): number;
  /** `statx()` of `name` in `dir` without following a link, or of `dir` itself if `name` is "". */
  stat(dir: number, name: string): RawStat | number;
  /**
   * `statx()` of `name` in `dir` without following a link, asking only for its type,
   * mode and size: what a sender's scan needs, in a fraction of the time of
   * `Deno.lstatSync()`, which builds every field of a `Deno.FileInfo`.
   */
  modeAndSize(dir: number, name: string): { mode: number; size: number } | number;
  close(fd: number): number;
  getuid(): number;
}

let cached: FsLibc | null | undefined;

/**
 * The calls, or `null` where they cannot be used: not Linux, no FFI
 * permission (never prompts), no `/proc/self/fd` (or none this process may
 * open), or a C library without them.
 */
export function openFsLibc(): FsLibc | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (Deno.build.os !== "linux" || !ffiAllowed()) return null;
  for (const name of ["read", "write"] as const) {
    try {
      if (Deno.permissions.querySync({ name, path: "/proc/self/fd" }).state !== "granted") {
        return null;
      }
    } catch {
      return null;
    }
  }
  try {
    // A container may have no /proc: then files cannot be reopened by descriptor.
    if (!Deno.statSync("/proc/self/fd").isDirectory) return null;
  } catch {
    return null;
  }
  for (const path of ["libc.so.6", "libc.so"]) {
    try {
      cached = wrap(Deno.dlopen(path, SYMBOLS).symbols, constants(Deno.build.arch));
      break;
    } catch {
      // Try the next name (musl calls its C library libc.so).
    }
  }
  return cached;
}

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

function wrap(s: Symbols, c: FsConstants): FsLibc {
  const encoder = new TextEncoder();
  // Two NUL-terminated names at most per call; NAME_MAX is 255 bytes, but
  // /proc paths and checked manifest names fit far below this.
  const first = new Uint8Array(4097);
  const second = new Uint8Array(4097);
  const cString = (buffer: Uint8Array, text: string): Uint8Array => {
    const { read, written } = encoder.encodeInto(text, buffer.subarray(0, buffer.length - 1));
    if (read !== text.length) throw new RangeError(`Cannot pass name: ${text.length} is too long`);
    buffer[written] = 0;
    return buffer;
  };
  const errno = (): number => {
    const pointer = s.__errno_location();
    return pointer === null ? ERRNO.EINVAL : new Deno.UnsafePointerView(pointer).getInt32();
  };
  const result = (value: number): number => value < 0 ? -errno() : value;
  const statBuffer = new Uint8Array(STATX_BYTES);
  const view = new DataView(statBuffer.buffer);
  return {
    c,
    openat: (dir, name, flags, mode = 0) =>
      result(s.openat(dir, cString(first, name), flags | c.O_CLOEXEC, mode)),
    mkdirat: (dir, name, mode) => result(s.mkdirat(dir, cString(first, name), mode)),
    unlinkat: (dir, name, flags) => result(s.unlinkat(dir, cString(first, name), flags)),
    renameat: (dir, from, to) =>
      result(s.renameat(dir, cString(first, from), dir, cString(second, to))),
    renameNoReplace(dir, from, to) {
      if (s.renameat2 === null) return -ERRNO.ENOSYS;
      return result(
        s.renameat2(dir, cString(first, from), dir, cString(second, to), c.RENAME_NOREPLACE),
      );
    },
    linkat: (dir, from, to) =>
      result(s.linkat(dir, cString(first, from), dir, cString(second, to), 0)),
    fchmod: (fd, mode) => result(s.fchmod(fd, mode)),
    tryLock: (fd) => result(s.flock(fd, c.LOCK_EX | c.LOCK_NB)),
    stat(dir, name) {
      const flags = name === "" ? c.AT_EMPTY_PATH : c.AT_SYMLINK_NOFOLLOW;
      const status = result(
        s.statx(dir, cString(first, name), flags, STATX_BASIC_STATS, statBuffer),
      );
      if (status < 0) return status;
      // struct statx: stx_nlink at 16, stx_uid 20, stx_mode (u16) 28,
      // stx_ino 32, stx_size 40, stx_mtime 112 (i64 s, u32 ns), stx_dev 136.
      const mode = view.getUint16(28, true);
      const seconds = Number(view.getBigInt64(112, true));
      return {
        type: mode & S_IFMT,
        size: Number(view.getBigUint64(40, true)),
        nlink: view.getUint32(16, true),
        uid: view.getUint32(20, true),
        id: `${view.getUint32(136, true)}:${view.getUint32(140, true)}:${
          view.getBigUint64(32, true)
        }`,
        mtimeMs: seconds * 1000 + Math.floor(view.getUint32(120, true) / 1e6),
      };
    },
    modeAndSize(dir, name) {
      const status = result(
        s.statx(dir, cString(first, name), c.AT_SYMLINK_NOFOLLOW, STATX_MODE_AND_SIZE, statBuffer),
      );
      if (status < 0) return status;
      return { mode: view.getUint16(28, true), size: Number(view.getBigUint64(40, true)) };
    },
    close: (fd) => result(s.close(fd)),
    getuid: () => s.getuid(),
  };
}
