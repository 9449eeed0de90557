/**
 * A tiny network probe that the NAT lab's own tests run inside lab hosts.
 * Every mode prints exactly one JSON line on stdout (the server: one per
 * line event) and exits 0 on success, 1 on failure.
 *
 * - `reflect-server PORT [HOST]`: accepts TCP connections on HOST (default
 *   0.0.0.0; `::` for IPv6 too), writes the caller's address as seen here
 *   (`ip:port\n`) and closes first, so the caller may reuse its local port
 *   at once. Prints `{"listening":PORT}` when ready.
 * - `mapped-reflect-server PORT PROTOCOL`: the same on 0.0.0.0, after asking
 *   the router to forward PORT through PROTOCOL alone (`natpmp`, `pcp` or
 *   `upnp`: punch's own clients, lib/net/). Prints
 *   `{"listening":PORT,"mapped":"ip:port"|null,"reason":…}`; the mapping
 *   is kept until the process is killed.
 * - `map-release PORT PROTOCOL`: asks for the mapping as above (nothing
 *   listens), prints `{"mapped":"ip:port"|null}`, then, once a line comes on
 *   stdin, deletes it and prints `{"released":true}`.
 * - `reflect HOST PORT LOCAL_PORT`: connects from LOCAL_PORT and prints
 *   `{"observed":"ip:port","connectMs":…}`; connectMs is one TCP round trip.
 * - `reset HOST PORT`: connects once (from any port) and prints
 *   `{"reset":true,"ms":…}` when the SYN is answered by a RST (ms: one round
 *   trip), else `{"reset":false,"error":…}` (a timeout after 3 s: dropped).
 * - `punch LOCAL_PORT PEER_HOST PEER_PORT DEADLINE_MS BASE_MS PINGS MODE`:
 *   dials the peer from LOCAL_PORT again and again (each attempt capped at
 *   1 s, then a random pause of 0–2×BASE_MS) until a connection is made or
 *   DEADLINE_MS passes. MODE `dial` uses node:net `connect({localPort})`
 *   alone, so only a TCP simultaneous open can connect; MODE `dial+accept`
 *   also listens on LOCAL_PORT (reusePort) and dials through libc so both
 *   share the port, as punch itself does. Once connected, both sides send
 *   PINGS lines and echo the other's, so each side measures the round trip.
 *   Prints `{"ok":true,"attempts":…,"ms":…,"rttMs":…}` or
 *   `{"ok":false,"attempts":…,"errors":{…}}`.
 *
 * @module
 */

import * as net from "node:net";
import { mapPortNatPmp } from "../../../lib/net/natpmp.ts";
import { mapPortPcp } from "../../../lib/net/pcp.ts";
import { mapPortUpnp } from "../../../lib/net/upnp.ts";
import { dialShared } from "./_dial.ts";

const ATTEMPT_CAP_MS = 1000; // a SYN unanswered this long is given up on
const PING_GRACE_MS = 10_000; // time after the deadline for the pings to finish

function print(value: unknown): void {
  console.log(JSON.stringify(value));
}

function reflectServer(port: number, host: string, ready = () => print({ listening: port })): void {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.end(`${socket.remoteAddress}:${socket.remotePort}\n`);
  });
  server.listen({ port, host }, ready);
}

function reflect(host: string, port: number, localPort: number): void {
  const started = performance.now();
  let connectMs = 0;
  let text = "";
  const socket = net.connect({ host, port, localPort });
  socket.setTimeout(5000, () => socket.destroy(new Error("timed out")));
  socket.on("connect", () => connectMs = performance.now() - started);
  socket.on("data", (chunk) => text += chunk.toString());
  socket.on("end", () => {
    print({ observed: text.trim(), connectMs: Math.round(connectMs * 10) / 10 });
    Deno.exit(0);
  });
  socket.on("error", (error) => {
    print({ error: String(error) });
    Deno.exit(1);
  });
}

function reset(host: string, port: number): void {
  const started = performance.now();
  const socket = net.connect({ host, port });
  socket.setTimeout(3000, () => {
    print({ reset: false, error: "timed out" });
    Deno.exit(1);
  });
  socket.on("connect", () => {
    print({ reset: false, error: "connected" });
    Deno.exit(1);
  });
  socket.on("error", (error: NodeJS.ErrnoException) => {
    const ms = Math.round((performance.now() - started) * 10) / 10;
    print(
      error.code === "ECONNREFUSED" ? { reset: true, ms } : { reset: false, error: String(error) },
    );
    Deno.exit(error.code === "ECONNREFUSED" ? 0 : 1);
  });
}

/** One node:net dial from localPort; resolves with the connected socket. */
function dialPlain(localPort: number, host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localPort });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error("connect timed out"), { code: "TIMEOUT" }));
    }, ATTEMPT_CAP_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/**
 * The punching state: every connection, dialed or accepted, echoes the
 * peer's pings; the first one established also carries our own pings. The
 * peer may pick another connection than ours (both dials and both accepts
 * can succeed at once), so neither side leaves before it has answered all
 * the peer's pings.
 */
class Pinger {
  readonly #pings: number;
  readonly #done: () => void;
  chosen: net.Socket | null = null;
  rtts: number[] = [];
  echoed = 0;
  #sentAt = 0;
  #lost: (() => void) | null = null;

  constructor(pings: number, done: () => void) {
    this.#pings = pings;
    this.#done = done;
  }

  /** Resolves when the chosen connection breaks before the pings finish. */
  lost(): Promise<void> {
    return new Promise((resolve) => this.#lost = resolve);
  }

  adopt(socket: net.Socket, errors: Record<string, number>): void {
    socket.setNoDelay(true);
    let buffer = "";
    const drop = (error?: NodeJS.ErrnoException) => {
      if (socket !== this.chosen || this.#finished()) return;
      const code = error?.code ?? "CLOSED";
      errors[`PING_${code}`] = (errors[`PING_${code}`] ?? 0) + 1;
      this.chosen = null;
      this.rtts = [];
      this.#lost?.();
    };
    socket.on("error", drop);
    socket.on("close", () => drop());
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line === "ping") {
          socket.write("pong\n");
          this.echoed += 1;
        } else if (line === "pong" && socket === this.chosen) {
          this.rtts.push(performance.now() - this.#sentAt);
          if (this.rtts.length < this.#pings) this.#ping();
        }
      }
      if (this.#finished()) this.#done();
    });
    if (this.chosen === null) {
      this.chosen = socket;
      this.#ping();
    }
  }

  #ping(): void {
    this.#sentAt = performance.now();
    this.chosen?.write("ping\n");
  }

  #finished(): boolean {
    return this.rtts.length >= this.#pings && this.echoed >= this.#pings;
  }
}

async function punch(
  localPort: number,
  host: string,
  port: number,
  deadlineMs: number,
  baseMs: number,
  pings: number,
  accept: boolean,
): Promise<void> {
  const started = performance.now();
  const errors: Record<string, number> = {};
  let attempts = 0;
  let connectedMs = 0;
  setTimeout(() => {
    print({ ok: false, attempts, errors: { ...errors, PINGS_UNFINISHED: 1 } });
    Deno.exit(1);
  }, deadlineMs + PING_GRACE_MS);
  const pinger = new Pinger(pings, () => {
    const sorted = [...pinger.rtts].sort((x, y) => x - y);
    const rttMs = Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 10) / 10;
    print({ ok: true, attempts, ms: connectedMs, rttMs });
    // Let the last pong leave before closing; the peer may still need it.
    setTimeout(() => Deno.exit(0), 200);
  });
  const connected = (socket: net.Socket) => {
    if (connectedMs === 0) connectedMs = Math.round(performance.now() - started);
    pinger.adopt(socket, errors);
  };
  if (accept) {
    const server = net.createServer(connected);
    await new Promise<void>((resolve) =>
      server.listen({ port: localPort, host: "0.0.0.0", reusePort: true }, resolve)
    );
  }
  const dial = accept
    ? (h: string, p: number) => dialShared(localPort, h, p, ATTEMPT_CAP_MS)
    : (h: string, p: number) => dialPlain(localPort, h, p);
  while (performance.now() - started < deadlineMs) {
    if (pinger.chosen !== null) {
      await pinger.lost();
      continue;
    }
    attempts += 1;
    try {
      connected(await dial(host, port));
      continue;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "ERROR";
      errors[code] = (errors[code] ?? 0) + 1;
    }
    const left = deadlineMs - (performance.now() - started);
    await new Promise((r) => setTimeout(r, Math.min(left, Math.random() * 2 * baseMs)));
  }
  if (pinger.chosen !== null) return; // connected in time; the pings end it
  print({ ok: false, attempts, errors });
  Deno.exit(1);
}

const MAP = { natpmp: mapPortNatPmp, pcp: mapPortPcp, upnp: mapPortUpnp } as const;

async function mapRelease(port: number, protocol: string): Promise<void> {
  const map = MAP[protocol as keyof typeof MAP];
  if (map === undefined) throw new TypeError(`unknown protocol ${protocol}`);
  const { mapping } = await map(port);
  print({ mapped: mapping?.address ?? null });
  const reader = Deno.stdin.readable.getReader();
  await reader.read();
  await mapping?.close();
  print({ released: true });
  Deno.exit(0);
}

const [mode, ...rest] = Deno.args;
const n = (i: number) => Number(rest[i]);
switch (mode) {
  case "reflect-server":
    reflectServer(n(0), rest[1] ?? "0.0.0.0");
    break;
  case "mapped-reflect-server":
    reflectServer(n(0), "0.0.0.0", async () => {
      const map = MAP[(rest[1] ?? "") as keyof typeof MAP];
      if (map === undefined) throw new TypeError(`unknown protocol ${rest[1]}`);
      const result = await map(n(0));
      print({
        listening: n(0),
        mapped: result.mapping?.address ?? null,
        reason: result.mapping === null ? result.reason : null,
      });
    });
    break;
  case "reflect":
    reflect(rest[0] ?? "", n(1), n(2));
    break;
  case "map-release":
    await mapRelease(n(0), rest[1] ?? "");
    break;
  case "reset":
    reset(rest[0] ?? "", n(1));
    break;
  case "punch":
    await punch(n(0), rest[1] ?? "", n(2), n(3), n(4), n(5), rest[6] === "dial+accept");
    break;
  default:
    console.error(
      `usage: probe.ts reflect-server|mapped-reflect-server|map-release|reflect|reset|punch …`,
    );
    Deno.exit(2);
}
