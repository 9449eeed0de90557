// The C library calls behind bound dials (dial.ts) and, on macOS, shared
// listeners (listen.ts), through Deno's FFI.
//
// Only what nonblocking TCP sockets on a shared port need: socket,
// setsockopt, fcntl (macOS), bind, connect, listen, poll, getsockopt, close,
// and errno. Linux is tested; the macOS constants and layouts are taken from its
// headers and have not been run.

import { ffiAllowed } from "../_ffi.ts";

/** Operating systems with a libc binding. */
type Os = "linux" | "darwin";

/** Numbers that differ between the two C libraries. */
interface Constants {
  AF_INET: number;
  AF_INET6: number;
  SOCK_STREAM: number;
  /** Flags OR-ed into `socket()`'s type: Linux only, 0 elsewhere. */
  SOCK_FLAGS: number;
  SOL_SOCKET: number;
  SO_REUSEADDR: number;
  SO_REUSEPORT: number;
  SO_ERROR: number;
  SO_LINGER: number;
  IPPROTO_IPV6: number;
  IPV6_V6ONLY: number;
  IPPROTO_TCP: number;
  IPPROTO_IP: number;
  /** The hop limit (TTL) of an IPv4 socket's packets. */
  IP_TTL: number;
  /**
   * Linux only (0 elsewhere): the least TTL an arriving packet may have, and
   * an ICMP error the packet it quotes (RFC 5082's GTSM).
   */
  IP_MINTTL: number;
  /** Linux only (0 elsewhere): how long sent data may stay unacknowledged. */
  TCP_USER_TIMEOUT: number;
  TCP_NODELAY: number;
  F_SETFD: number;
  FD_CLOEXEC: number;
  F_SETFL: number;
  O_NONBLOCK: number;
  /** Whether `sockaddr` starts with a length byte (BSD) or not (Linux). */
  SIN_LEN: boolean;
  /** errno values, by name. */
  errno: Record<string, number>;
}

const LINUX: Constants = {
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_STREAM: 1,
  SOCK_FLAGS: 0o4000 | 0o2000000, // SOCK_NONBLOCK | SOCK_CLOEXEC
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_REUSEPORT: 15,
  SO_ERROR: 4,
  SO_LINGER: 13,
  IPPROTO_IPV6: 41,
  IPV6_V6ONLY: 26,
  IPPROTO_TCP: 6,
  IPPROTO_IP: 0,
  IP_TTL: 2,
  IP_MINTTL: 21,
  TCP_USER_TIMEOUT: 18,
  TCP_NODELAY: 1,
  F_SETFD: 2,
  FD_CLOEXEC: 1,
  F_SETFL: 4,
  O_NONBLOCK: 0o4000,
  SIN_LEN: false,
  errno: {
    EPERM: 1,
    EINTR: 4,
    EAGAIN: 11,
    EACCES: 13,
    EINVAL: 22,
    EMFILE: 24,
    ENETDOWN: 100,
    EAFNOSUPPORT: 97,
    EADDRINUSE: 98,
    EADDRNOTAVAIL: 99,
    ENETUNREACH: 101,
    ECONNABORTED: 103,
    ECONNRESET: 104,
    EISCONN: 106,
    ETIMEDOUT: 110,
    ECONNREFUSED: 111,
    EHOSTDOWN: 112,
    EHOSTUNREACH: 113,
    EALREADY: 114,
    EINPROGRESS: 115,
  },
};

const DARWIN: Constants = {
  AF_INET: 2,
  AF_INET6: 30,
  SOCK_STREAM: 1,
  SOCK_FLAGS: 0,
  SOL_SOCKET: 0xffff,
  SO_REUSEADDR: 0x4,
  SO_REUSEPORT: 0x200,
  SO_ERROR: 0x1007,
  SO_LINGER: 0x80,
  IPPROTO_IPV6: 41,
  IPV6_V6ONLY: 27,
  IPPROTO_TCP: 6,
  IPPROTO_IP: 0,
  IP_TTL: 4,
  IP_MINTTL: 0,
  TCP_USER_TIMEOUT: 0,
  TCP_NODELAY: 1,
  F_SETFD: 2,
  FD_CLOEXEC: 1,
  F_SETFL: 4,
  O_NONBLOCK: 0x4,
  SIN_LEN: true,
  errno: {
    EPERM: 1,
    EINTR: 4,
    EACCES: 13,
    EINVAL: 22,
    EMFILE: 24,
    EAGAIN: 35,
    EINPROGRESS: 36,
    EALREADY: 37,
    EAFNOSUPPORT: 47,
    EADDRINUSE: 48,
    EADDRNOTAVAIL: 49,
    ENETDOWN: 50,
    ENETUNREACH: 51,
    ECONNABORTED: 53,
    ECONNRESET: 54,
    EISCONN: 56,
    ETIMEDOUT: 60,
    ECONNREFUSED: 61,
    EHOSTDOWN: 64,
    EHOSTUNREACH: 65,
  },
};

/** poll() event bits: the same on Linux and macOS. */
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;

const COMMON = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // Zero-timeout polls run on the calling thread.
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
} as const;

const LINUX_SYMBOLS = {
  ...COMMON,
  // Waiting polls run on Deno's blocking thread pool.
  pollWait: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
} as const;

const DARWIN_SYMBOLS = {
  ...COMMON,
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32" },
  pollWait: {
    name: "poll",
    parameters: ["buffer", "u32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  __error: { parameters: [], result: "pointer" },
  accept: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  pipe: { parameters: ["buffer"], result: "i32" },
} as const;

// fcntl(int, int, ...) is variadic. Apple's arm64 ABI passes variadic
// arguments on the stack, so there the value is declared as the ninth
// argument (x0–x7 carry fd, cmd and six unused words); on x86_64 the third
// argument is passed in a register, variadic or not.
const DARWIN_ARM64_FCNTL = {
  fcntl: {
    parameters: ["i32", "i32", "i64", "i64", "i64", "i64", "i64", "i64", "i64"],
    result: "i32",
  },
} as const;

const DARWIN_X64_FCNTL = {
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
} as const;

/** The subset of libc that dial.ts and listen.ts use. */
export interface Libc {
  readonly os: Os;
  readonly constants: Constants;
  socket(family: number): number;
  setInt(fd: number, level: number, option: number, value: number): number;
  getInt(fd: number, level: number, option: number): number;
  bind(fd: number, address: Uint8Array): number;
  connect(fd: number, address: Uint8Array): number;
  listen(fd: number, backlog: number): number;
  /** accept(), nonblocking and close-on-exec: the new fd, or -1 (EAGAIN when none waits). */
  accept(fd: number): number;
  /** The local port a socket is bound to, or -1. */
  localPort(fd: number): number;
  /** The address a connected socket's peer has (`ip` as bytes), or null: no socket, not connected. */
  peer(fd: number): { family: 4 | 6; ip: Uint8Array; port: number } | null;
  close(fd: number): number;
  /**
   * Closes with a reset (SO_LINGER 0): no FIN handshake, no TIME_WAIT, so the
   * 4-tuple is free again at once, even for a connection half set up.
   */
  abort(fd: number): number;
  /** Nonblocking file status and close-on-exec: needed on macOS only. */
  setNonblockingCloexec(fd: number): number;
  /** poll() with a zero timeout, on this thread. */
  pollNow(fds: Uint8Array, count: number): number;
  /** poll() on the blocking thread pool; `ms` bounds how long it holds a thread. */
  pollWait(fds: Uint8Array, count: number, ms: number): Promise<number>;
  /** A pipe, both ends nonblocking and close-on-exec: `[read end, write end]`, or null. */
  pipe(): [number, number] | null;
  /** Writes one byte to `fd` (nonblocking: nothing where the pipe is full). */
  writeByte(fd: number): void;
  /** Reads whatever waits on `fd` (nonblocking), and drops it. */
  drain(fd: number): void;
  /** errno of the last failed call on this thread: read it right after the call. */
  errno(): number;
  /** The name of an errno value, or `errno N`. */
  errnoName(value: number): string;
}

let cached: Libc | null | undefined;

/**
 * The C library, or `null` when bound dials cannot work here: another OS,
 * no FFI permission (never prompts), or the library does not load.
 */
export function openLibc(): Libc | null {
  if (cached !== undefined) return cached;
  cached = null;
  const os = Deno.build.os;
  if (os !== "linux" && os !== "darwin") return null;
  if (!ffiAllowed()) return null;
  cached = os === "linux" ? openLinux() : openDarwin();
  return cached;
}

function openLinux(): Libc | null {
  for (const path of ["libc.so.6", "libc.so"]) {
    try {
      const s = Deno.dlopen(path, LINUX_SYMBOLS).symbols;
      return wrap(
        "linux",
        LINUX,
        s,
        () => s.__errno_location(),
        () => 0, // socket() set SOCK_NONBLOCK | SOCK_CLOEXEC.
        (fd) => s.accept4(fd, null, null, LINUX.SOCK_FLAGS),
        (b, n, ms) => s.pollWait(b, BigInt(n), ms),
        (b, n) => s.poll(b, BigInt(n), 0),
        (fds) => s.pipe2(fds, LINUX.SOCK_FLAGS), // O_NONBLOCK | O_CLOEXEC, the same bits.
      );
    } catch {
      // Try the next name (musl calls its C library libc.so).
    }
  }
  return null;
}

function openDarwin(): Libc | null {
  try {
    let fcntl: (fd: number, cmd: number, value: number) => number;
    let s;
    if (Deno.build.arch === "aarch64") {
      const lib = Deno.dlopen(DARWIN_PATH, { ...DARWIN_SYMBOLS, ...DARWIN_ARM64_FCNTL });
      const f = lib.symbols.fcntl;
      fcntl = (fd, cmd, value) => f(fd, cmd, 0n, 0n, 0n, 0n, 0n, 0n, BigInt(value));
      s = lib.symbols;
    } else {
      const lib = Deno.dlopen(DARWIN_PATH, { ...DARWIN_SYMBOLS, ...DARWIN_X64_FCNTL });
      const f = lib.symbols.fcntl;
      fcntl = (fd, cmd, value) => f(fd, cmd, BigInt(value));
      s = lib.symbols;
    }
    const symbols = s;
    const nonblock = (fd: number): number => {
      if (fcntl(fd, DARWIN.F_SETFD, DARWIN.FD_CLOEXEC) < 0) return -1;
      return fcntl(fd, DARWIN.F_SETFL, DARWIN.O_NONBLOCK);
    };
    return wrap(
      "darwin",
      DARWIN,
      symbols,
      () => symbols.__error(),
      nonblock,
      (fd) => {
        const accepted = symbols.accept(fd, null, null);
        if (accepted < 0 || nonblock(accepted) === 0) return accepted;
        symbols.close(accepted);
        return -1;
      },
      (b, n, ms) => symbols.pollWait(b, n, ms),
      (b, n) => symbols.poll(b, n, 0),
      (fds) => {
        if (symbols.pipe(fds) < 0) return -1;
        const [r, w] = new Int32Array(fds.buffer, fds.byteOffset, 2);
        if (nonblock(r!) >= 0 && nonblock(w!) >= 0) return 0;
        symbols.close(r!);
        symbols.close(w!);
        return -1;
      },
    );
  } catch {
    return null;
  }
}

const DARWIN_PATH = "/usr/lib/libSystem.B.dylib";

interface CommonSymbols {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
  getsockopt(
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    length: Uint8Array,
  ): number;
  bind(fd: number, address: Uint8Array, length: number): number;
  connect(fd: number, address: Uint8Array, length: number): number;
  listen(fd: number, backlog: number): number;
  getsockname(fd: number, address: Uint8Array, length: Uint8Array): number;
  getpeername(fd: number, address: Uint8Array, length: Uint8Array): number;
  close(fd: number): number;
  read(fd: number, buffer: Uint8Array, length: number | bigint): number | bigint;
  write(fd: number, buffer: Uint8Array, length: number | bigint): number | bigint;
}

const ONE_BYTE = Uint8Array.of(1);
const DRAINED = new Uint8Array(256);

function wrap(
  os: Os,
  constants: Constants,
  s: CommonSymbols,
  errnoLocation: () => Deno.PointerValue,
  setNonblockingCloexec: (fd: number) => number,
  accept: (fd: number) => number,
  pollWait: (fds: Uint8Array, count: number, ms: number) => Promise<number>,
  pollNow: (fds: Uint8Array, count: number) => number,
  pipe: (fds: Uint8Array<ArrayBuffer>) => number,
): Libc {
  const names = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));
  const int = new Int32Array(1);
  const intBytes = new Uint8Array(int.buffer);
  const length = new Uint32Array(1);
  const lengthBytes = new Uint8Array(length.buffer);
  return {
    os,
    constants,
    socket: (family) => s.socket(family, constants.SOCK_STREAM | constants.SOCK_FLAGS, 0),
    setInt(fd, level, option, value) {
      int[0] = value;
      return s.setsockopt(fd, level, option, intBytes, 4);
    },
    getInt(fd, level, option) {
      length[0] = 4;
      if (s.getsockopt(fd, level, option, intBytes, lengthBytes) < 0) return -1;
      return int[0]!;
    },
    bind: (fd, address) => s.bind(fd, address, address.byteLength),
    connect: (fd, address) => s.connect(fd, address, address.byteLength),
    listen: (fd, backlog) => s.listen(fd, backlog),
    accept,
    localPort(fd) {
      const address = new Uint8Array(28);
      length[0] = address.byteLength;
      if (s.getsockname(fd, address, lengthBytes) < 0) return -1;
      return new DataView(address.buffer).getUint16(2);
    },
    peer(fd) {
      const address = new Uint8Array(28);
      length[0] = address.byteLength;
      if (s.getpeername(fd, address, lengthBytes) < 0) return null;
      const view = new DataView(address.buffer);
      const family = constants.SIN_LEN ? view.getUint8(1) : view.getUint16(0, true);
      const port = view.getUint16(2);
      if (family === constants.AF_INET) return { family: 4, ip: address.slice(4, 8), port };
      if (family === constants.AF_INET6) return { family: 6, ip: address.slice(8, 24), port };
      return null;
    },
    close: (fd) => s.close(fd),
    abort(fd) {
      // struct linger { int l_onoff; int l_linger; } = { 1, 0 }
      const linger = new Uint8Array(Int32Array.of(1, 0).buffer);
      s.setsockopt(fd, constants.SOL_SOCKET, constants.SO_LINGER, linger, 8);
      return s.close(fd);
    },
    setNonblockingCloexec,
    pollNow,
    pollWait,
    pipe() {
      const fds = new Int32Array(2);
      if (pipe(new Uint8Array(fds.buffer)) < 0) return null;
      return [fds[0]!, fds[1]!];
    },
    writeByte: (fd) => void s.write(fd, ONE_BYTE, 1),
    drain(fd) {
      for (let i = 0; i < 64 && Number(s.read(fd, DRAINED, DRAINED.byteLength)) > 0; i++);
    },
    errno() {
      const pointer = errnoLocation();
      return pointer === null ? 0 : new Deno.UnsafePointerView(pointer).getInt32();
    },
    errnoName: (value) => names.get(value) ?? `errno ${value}`,
  };
}
