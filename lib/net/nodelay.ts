/**
 * Nagle's algorithm off for the connections this process has to one server,
 * found by their peer address: for sockets it did not make itself (a
 * WebSocket, whose Deno implementation sets TCP_NODELAY to 0).
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import type { Socket } from "node:net";
import { fdOf } from "./_adopt.ts";
import { openLibc } from "./_libc.ts";
import { parseIp } from "./_ip.ts";
import { sendAtOnce } from "./_socket.ts";

/** File descriptors looked at: a client's few sockets are among the first. */
const MAX_FD = 1024;

/**
 * Sets TCP_NODELAY on every TCP socket of this process connected to
 * `host:port` (any of its addresses), where FFI works (Linux, macOS);
 * resolves with how many it set, 0 elsewhere. Never throws.
 *
 * A WebSocket's small messages then go at once: with Nagle on, a message
 * written while the last is unacknowledged waits for that ACK, a round
 * trip to the server or a delayed ACK's 40 ms (in the NAT lab, the first
 * side's candidates crossed 45 ms late).
 */
export async function sendAtOnceTo(host: string, port: number): Promise<number> {
  const libc = openLibc();
  if (libc === null) return 0;
  const name = host.replace(/^\[|\]$/g, "");
  let addresses: string[];
  try {
    addresses = parseIp(name) ? [name] : (await lookup(name, { all: true })).map((a) => a.address);
  } catch {
    return 0;
  }
  const wanted = new Set(
    addresses.flatMap((address) => {
      const ip = parseIp(address);
      return ip ? [key(ip.bytes, port)] : [];
    }),
  );
  let set = 0;
  for (let fd = 0; fd < MAX_FD; fd++) {
    const peer = libc.peer(fd);
    if (peer === null) continue;
    // An IPv4 peer of a dual-stack socket reads as ::ffff:a.b.c.d.
    const ip = peer.family === 6 && isMapped(peer.ip) ? peer.ip.subarray(12) : peer.ip;
    if (!wanted.has(key(ip, peer.port))) continue;
    if (sendAtOnce(libc, fd) === 0) set++;
  }
  return set;
}

function key(ip: Uint8Array, port: number): string {
  return `${ip.join(".")}|${port}`;
}

function isMapped(ip: Uint8Array): boolean {
  return ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
}

/**
 * Turns Nagle's algorithm on or off for a socket of dialFrom() or a
 * listenReusable() listener, which start with it off (TCP_NODELAY, so that
 * a handshake's small writes go at once). Deno's `setNoDelay()` does not
 * reach a socket made from a file descriptor; this does.
 */
export function setNagle(socket: Socket, on: boolean): void {
  const fd = fdOf(socket);
  const libc = fd === undefined ? null : openLibc();
  if (fd === undefined || libc === null) {
    socket.setNoDelay(!on);
    return;
  }
  const c = libc.constants;
  libc.setInt(fd, c.IPPROTO_TCP, c.TCP_NODELAY, on ? 0 : 1);
}
