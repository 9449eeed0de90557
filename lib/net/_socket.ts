// Sockets made by hand through the C library: the shared-port socket that
// dials (dial.ts) and, on macOS, listens (listen.ts).

import type { IpBytes } from "./_ip.ts";
import type { Libc } from "./_libc.ts";
import { UNACKED_TIMEOUT_MS } from "./constants.ts";

/** A failed C call: which one, and its errno. */
export interface CallFailure {
  call: string;
  errno: number;
}

/**
 * A nonblocking, close-on-exec TCP socket bound to `local:port` with
 * SO_REUSEADDR and SO_REUSEPORT set, or the call that failed; nothing is
 * left open then. An IPv6 socket also takes IPv4 (dual stack) unless
 * `ipv6Only`. Nagle's algorithm is off (TCP_NODELAY; see sendAtOnce).
 */
export function openShared(
  libc: Libc,
  local: IpBytes,
  port: number,
  ipv6Only: boolean,
): number | CallFailure {
  const c = libc.constants;
  const fd = libc.socket(local.family === 6 ? c.AF_INET6 : c.AF_INET);
  if (fd < 0) return { call: "socket()", errno: libc.errno() };
  const steps: [string, () => number][] = [
    ["SO_REUSEADDR", () => libc.setInt(fd, c.SOL_SOCKET, c.SO_REUSEADDR, 1)],
    ["SO_REUSEPORT", () => libc.setInt(fd, c.SOL_SOCKET, c.SO_REUSEPORT, 1)],
    ["IPV6_V6ONLY", () => {
      if (local.family === 4) return 0;
      return libc.setInt(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, ipv6Only ? 1 : 0);
    }],
    ["TCP_USER_TIMEOUT", () => limitUnacked(libc, fd)],
    ["TCP_NODELAY", () => sendAtOnce(libc, fd)],
    ["fcntl()", () => libc.setNonblockingCloexec(fd)],
    [`bind() to port ${port}`, () => libc.bind(fd, sockaddr(libc, local, port))],
  ];
  for (const [call, step] of steps) {
    if (step() < 0) {
      const errno = libc.errno();
      libc.close(fd);
      return { call, errno };
    }
  }
  return fd;
}

/**
 * Makes the kernel drop the connection (ETIMEDOUT) once sent data has gone
 * unacknowledged for {@linkcode UNACKED_TIMEOUT_MS}, where the system has
 * TCP_USER_TIMEOUT (Linux); 0 without effect elsewhere, -1 on failure.
 */
export function limitUnacked(libc: Libc, fd: number): number {
  const c = libc.constants;
  if (c.TCP_USER_TIMEOUT === 0) return 0;
  return libc.setInt(fd, c.IPPROTO_TCP, c.TCP_USER_TIMEOUT, UNACKED_TIMEOUT_MS);
}

/**
 * Turns Nagle's algorithm off (TCP_NODELAY): a small write goes at once
 * rather than when the peer has acknowledged the last one. The transit
 * handshake writes its proof and the nomination byte one after the other,
 * and the nomination waited for the proof's delayed ACK: 90 ms added to the
 * move in the NAT lab's 40 ms round trip. The connection that carries the
 * records turns it on again (nodelay.ts's setNagle()). -1 on failure.
 */
export function sendAtOnce(libc: Libc, fd: number): number {
  const c = libc.constants;
  return libc.setInt(fd, c.IPPROTO_TCP, c.TCP_NODELAY, 1);
}

/** `struct sockaddr_in` or `sockaddr_in6` in the platform's layout. */
export function sockaddr(libc: Libc, ip: IpBytes, port: number): Uint8Array<ArrayBuffer> {
  const c = libc.constants;
  const bytes = new Uint8Array(ip.family === 6 ? 28 : 16);
  const view = new DataView(bytes.buffer);
  const family = ip.family === 6 ? c.AF_INET6 : c.AF_INET;
  if (c.SIN_LEN) {
    view.setUint8(0, bytes.byteLength);
    view.setUint8(1, family);
  } else {
    view.setUint16(0, family, true);
  }
  view.setUint16(2, port); // Network byte order.
  bytes.set(ip.bytes, ip.family === 6 ? 8 : 4); // sin6_flowinfo (4 bytes) comes first.
  return bytes;
}
