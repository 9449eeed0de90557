/**
 * Dialing from a local port that a listener also holds (Linux only): a
 * socket made through libc with SO_REUSEADDR and SO_REUSEPORT, connected
 * without blocking, polled for the handshake, then adopted by node:net.
 * node:net's own `connect({localPort})` cannot share the port with a listener.
 */

import * as net from "node:net";

const AF_INET = 2;
const SOCK_STREAM_NONBLOCK = 1 | 0o4000; // SOCK_STREAM | SOCK_NONBLOCK
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_ERROR = 4;
const SO_REUSEPORT = 15;
const EINPROGRESS = 115;
const POLLOUT = 4;
const POLL_SLICE_MS = 10;

const ERRNO_NAMES: Record<number, string> = {
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  104: "ECONNRESET",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

let libc: ReturnType<typeof open> | undefined;

function open() {
  return Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
  }).symbols;
}

function errno(): number {
  const pointer = libc!.__errno_location();
  return pointer === null ? 0 : new Deno.UnsafePointerView(pointer).getInt32();
}

function sockaddr(ip: string, port: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  ip.split(".").forEach((part, i) => bytes[4 + i] = Number(part));
  return bytes;
}

function check(result: number, what: string, fd: number): void {
  if (result < 0) {
    const code = errno();
    libc!.close(fd);
    throw Object.assign(new Error(`${what} failed`), { code: ERRNO_NAMES[code] ?? `E${code}` });
  }
}

/**
 * Dials host:port from 0.0.0.0:localPort, sharing the port with any
 * reusePort listener. Resolves with the connected socket, or rejects with an
 * error whose `code` names the errno (or "TIMEOUT" after `timeoutMs`).
 */
export async function dialShared(
  localPort: number,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<net.Socket> {
  libc ??= open();
  const fd = libc.socket(AF_INET, SOCK_STREAM_NONBLOCK, 0);
  check(fd, "socket", fd);
  const one = new Uint8Array(new Int32Array([1]).buffer);
  check(libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4), "setsockopt", fd);
  check(libc.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, one, 4), "setsockopt", fd);
  check(libc.bind(fd, sockaddr("0.0.0.0", localPort), 16), "bind", fd);
  if (libc.connect(fd, sockaddr(host, port), 16) < 0 && errno() !== EINPROGRESS) {
    check(-1, "connect", fd);
  }
  const pollfd = new Uint8Array(8);
  const view = new DataView(pollfd.buffer);
  const started = performance.now();
  for (;;) {
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLOUT, true);
    view.setInt16(6, 0, true);
    if (libc.poll(pollfd, 1n, 0) > 0) break;
    if (performance.now() - started > timeoutMs) {
      libc.close(fd);
      throw Object.assign(new Error("connect timed out"), { code: "TIMEOUT" });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_SLICE_MS));
  }
  const error = new Uint8Array(4);
  const length = new Uint8Array(new Uint32Array([4]).buffer);
  check(libc.getsockopt(fd, SOL_SOCKET, SO_ERROR, error, length), "getsockopt", fd);
  const code = new DataView(error.buffer).getInt32(0, true);
  if (code !== 0) {
    libc.close(fd);
    throw Object.assign(new Error("connect failed"), { code: ERRNO_NAMES[code] ?? `E${code}` });
  }
  return new net.Socket({ fd, readable: true, writable: true });
}
