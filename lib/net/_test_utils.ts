// Helpers for this folder's tests: sockets that never answer, file
// descriptor counts, TIME_WAIT lookups, connected pairs.

import type { Socket } from "node:net";
import { dialFrom } from "./dial.ts";
import { openLibc } from "./_libc.ts";
import { type ReusableListener } from "./listen.ts";
import { openShared } from "./_socket.ts";

/**
 * A loopback port whose SYNs go unanswered, like a NAT that drops them: a
 * listener with a backlog of 0 whose queue is already full.
 */
export async function blackhole(): Promise<{ port: number; close(): void }> {
  const libc = openLibc();
  if (libc === null) throw new Error("blackhole() needs FFI");
  const fd = openShared(libc, { family: 4, bytes: new Uint8Array([127, 0, 0, 1]) }, 0, false);
  if (typeof fd !== "number") throw new Error(`blackhole(): ${fd.call} failed`);
  libc.listen(fd, 0);
  const port = libc.localPort(fd);
  const filler = await Deno.connect({ hostname: "127.0.0.1", port });
  return {
    port,
    close() {
      filler.close();
      libc.close(fd);
    },
  };
}

/**
 * Open file descriptors of this process (Linux), once sockets closed a
 * moment ago have been released.
 */
export async function fdCount(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/** Local ports of this host's IPv4 connections in TIME_WAIT (Linux). */
export function timeWaitPorts(): Set<number> {
  const ports = new Set<number>();
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] === "06") ports.add(parseInt(fields[1]!.split(":")[1]!, 16));
  }
  return ports;
}

/** Resolves once `socket` has closed (at once if it has). */
export function closed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

/** Reads a socket to its end. */
export function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.once("end", () => resolve(text));
    socket.once("error", reject);
  });
}

/** The next connection a listener accepts. */
export async function nextConnection(listener: ReusableListener): Promise<Socket> {
  const { value, done } = await listener.connections[Symbol.asyncIterator]().next();
  if (done) throw new Error("Listener closed");
  return value;
}

/** A dialed socket and the one the listener accepted for it. */
export async function connectedPair(
  listener: ReusableListener,
  localPort = 0,
): Promise<[Socket, Socket]> {
  const [dialed, accepted] = await Promise.all([
    dialFrom({ localPort, host: "127.0.0.1", port: listener.port }),
    nextConnection(listener),
  ]);
  return [dialed, accepted];
}

/** The error `promise` rejects with, checked to be a `type`. */
export async function failure<T extends Error>(
  promise: Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => T,
): Promise<T> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw new Error(`Expected a ${type.name}, got ${error}`, { cause: error });
  }
  throw new Error(`Expected a ${type.name}, but it resolved`);
}
