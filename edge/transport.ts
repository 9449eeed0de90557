/**
 * The hardened transport: the rendezvous served over `Deno.listen` with an
 * accept loop and a WebSocket of its own (`websocket.ts`), for `punch serve`
 * and the embedded rendezvous. Deno Deploy keeps `Deno.serve` and the plain
 * handler (docs/deploy.md says which defences apply where).
 *
 * Protocol flow:
 * - Accept. A failed accept (EMFILE: out of descriptors) pauses the loop
 *   for {@linkcode ACCEPT_ERROR_PAUSE_MS} and never ends it: `Deno.serve`
 *   ends at the first EMFILE.
 * - Before reading a byte: a client address over its connection limit gets
 *   429, and beyond the total cap (below the descriptor limit, read from
 *   /proc/self/limits) the oldest connection that has not sent its request
 *   yet, else the oldest WebSocket that has not allocated or claimed, is
 *   closed to make room; if there is none, 503. Behind a trusted proxy the
 *   per-address check waits for the header that names the client.
 * - Read the request head (at most {@linkcode MAX_REQUEST_HEAD_BYTES}, within
 *   `requestHeadTimeoutMs`). `GET /v1/ws` with an upgrade becomes a
 *   {@linkcode ServerWebSocket} handed to the rendezvous; anything else goes
 *   to the rendezvous' handler, and the connection closes after its answer.
 *
 * @module
 */

import { AddressCounts, peerAddress } from "./addresses.ts";
import {
  ACCEPT_ERROR_PAUSE_MS,
  DESCRIPTOR_RESERVE_MIN,
  DESCRIPTOR_RESERVE_SHARE,
  EVICTING_MAX_CONNECTIONS,
  type Limits,
  MAX_REQUEST_HEAD_BYTES,
  MAX_WEBSOCKET_MESSAGE_BYTES,
  WEBSOCKET_CLOSE_GRACE_MS,
  WEBSOCKET_MAX_BUFFERED_BYTES,
  WEBSOCKET_READ_BUFFER_BYTES,
} from "./defaults.ts";
import type { Rendezvous } from "./handler.ts";
import {
  errorBytes,
  HttpError,
  isUpgrade,
  readRequestHead,
  type RequestHead,
  responseBytes,
  upgradeAnswer,
  writeAll,
} from "./http.ts";
import { ServerWebSocket } from "./websocket.ts";

/** Options for {@linkcode serveRendezvous}. */
export interface ServeRendezvousOptions {
  /** @default {"0.0.0.0"} */
  hostname?: string;
  /** 0 picks a free port. @default {8000} */
  port?: number;
  /**
   * Stops the server: the listener closes and every connection with it (the
   * caller closes the rendezvous).
   */
  signal?: AbortSignal;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Where to write one line per notable event (accept errors, at most one
   * line per second).
   * @default {() => {}}
   */
  log?: (line: string) => void;
  /** The descriptor limit to stay under. @default {descriptorLimit()} */
  descriptorLimit?: number;
}

/** Counters of the transport, for the abuse bench and tests. */
export interface TransportStats {
  /** Connections held now (request heads pending, WebSockets, answers being written). */
  open: number;
  /** The most connections held at once ({@linkcode connectionCap}). */
  cap: number;
  acceptErrors: number;
  /** Refused: an address over its limit (429) or no room (503). */
  refused: number;
  /** Closed to make room for a new connection. */
  evicted: number;
}

/** A rendezvous served by the hardened transport. */
export interface RendezvousServer extends AsyncDisposable {
  readonly addr: Deno.NetAddr;
  /** Resolves once the listener is closed and every connection is. */
  readonly finished: Promise<void>;
  stats(): TransportStats;
  /** Closes the listener and every connection. */
  shutdown(): Promise<void>;
}

/** The process's soft limit on open descriptors (Linux), or undefined where unknown. */
export function descriptorLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    return soft === undefined ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** The most connections to hold: `maxConnections`, and a reserve below the descriptor limit. */
export function connectionCap(limits: Readonly<Limits>, descriptors?: number): number {
  if (descriptors === undefined) return limits.maxConnections;
  const reserve = Math.max(
    DESCRIPTOR_RESERVE_MIN,
    Math.ceil(descriptors * DESCRIPTOR_RESERVE_SHARE),
  );
  return Math.max(1, Math.min(limits.maxConnections, descriptors - reserve));
}

/** Serves `rendezvous` on a listener of its own; see the module doc. */
export function serveRendezvous(
  rendezvous: Rendezvous,
  options: ServeRendezvousOptions = {},
): RendezvousServer {
  const limits = rendezvous.limits;
  const log = options.log ?? (() => {});
  const listener = Deno.listen({
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port ?? 8000,
    transport: "tcp",
  });
  const addr = listener.addr;
  const cap = connectionCap(limits, options.descriptorLimit ?? descriptorLimit());
  // Keyed by the connection's peer; behind a proxy, by the header's client instead.
  const behindProxy = rendezvous.clientAddressHeader !== undefined;
  const perAddress = new AddressCounts(limits.maxConnectionsPerAddress);
  /** Connections in order of arrival, those still waiting for their request head first to go. */
  const waiting = new Set<Deno.Conn>();
  const conns = new Set<Deno.Conn>();
  const handling = new Set<Promise<void>>();
  const stats = { acceptErrors: 0, refused: 0, evicted: 0 };
  let closing = false;
  let lastLog = 0;
  const socketOptions = {
    maxMessageBytes: MAX_WEBSOCKET_MESSAGE_BYTES,
    idleTimeoutMs: limits.idleTimeoutSeconds * 1000,
    maxBufferedBytes: WEBSOCKET_MAX_BUFFERED_BYTES,
    readBufferBytes: WEBSOCKET_READ_BUFFER_BYTES,
    closeGraceMs: WEBSOCKET_CLOSE_GRACE_MS,
  };

  /** Answers with `bytes` and hangs up, without reading: the client is not admitted. */
  function refuse(conn: Deno.Conn, status: number, message: string): void {
    stats.refused++;
    writeAll(conn, errorBytes(status, message)).finally(() => close(conn));
  }

  function close(conn: Deno.Conn): void {
    try {
      conn.close();
    } catch { /* closed already */ }
  }

  /** Closes a connection to make room; false if none may go. */
  function evict(): boolean {
    const [oldest] = waiting;
    if (oldest !== undefined) {
      waiting.delete(oldest);
      close(oldest);
    } else if (!rendezvous.evictIdle()) {
      return false;
    }
    stats.evicted++;
    return true;
  }

  async function serveWebSocket(conn: Deno.Conn, head: RequestHead, key: string) {
    if (rendezvous.full && !rendezvous.evictIdle()) {
      return void await writeAll(conn, errorBytes(503, "server busy"));
    }
    const from = rendezvous.client(head.headers, conn.remoteAddr)!;
    if (!await writeAll(conn, upgradeAnswer(head))) return;
    const socket = new ServerWebSocket(conn, head.rest, socketOptions);
    rendezvous.attach(socket, { ...from, key });
    await socket.closed;
  }

  async function answer(conn: Deno.Conn, head: RequestHead): Promise<void> {
    const request = new Request(`http://rendezvous${head.target}`, {
      method: head.method,
      headers: head.headers,
    });
    const info = { remoteAddr: conn.remoteAddr, completed: Promise.resolve() };
    const response = await rendezvous.handler(request, info as Deno.ServeHandlerInfo);
    await writeAll(conn, await responseBytes(response, head.method === "HEAD"));
  }

  async function handle(conn: Deno.Conn, peerKey: string | undefined): Promise<void> {
    const timer = setTimeout(() => close(conn), limits.requestHeadTimeoutMs);
    let key = peerKey;
    try {
      let head: RequestHead | null;
      try {
        head = await readRequestHead(conn, MAX_REQUEST_HEAD_BYTES);
      } finally {
        clearTimeout(timer);
        waiting.delete(conn);
      }
      if (head === null) return;
      if (key === undefined) {
        const from = rendezvous.client(head.headers, conn.remoteAddr);
        if (from === undefined) return void await answer(conn, head); // the handler's 400
        if (!perAddress.admit(from.key)) {
          stats.refused++;
          return void await writeAll(
            conn,
            errorBytes(429, "too many connections from this address"),
          );
        }
        key = from.key;
      }
      const url = new URL(head.target, "http://rendezvous");
      if (url.pathname === "/v1/ws" && isUpgrade(head)) await serveWebSocket(conn, head, key);
      else await answer(conn, head);
    } catch (error) {
      if (error instanceof HttpError) await writeAll(conn, errorBytes(error.status, error.message));
      else log(`transport: ${(error as Error)?.stack ?? error}`);
    } finally {
      if (key !== undefined) perAddress.release(key);
      conns.delete(conn);
      close(conn);
    }
  }

  /** Whether one more connection fits, making room if need be. */
  function room(): boolean {
    if (conns.size < cap) return true;
    // Those evicted hold their descriptors until they have closed.
    return conns.size < cap + EVICTING_MAX_CONNECTIONS && evict();
  }

  function admit(conn: Deno.TcpConn): void {
    if (closing) return close(conn);
    const key = behindProxy ? undefined : peerAddress(conn.remoteAddr).key;
    if (key !== undefined && !perAddress.admit(key)) {
      return refuse(conn, 429, "too many connections from this address");
    }
    if (!room()) {
      if (key !== undefined) perAddress.release(key);
      return refuse(conn, 503, "server busy");
    }
    try {
      conn.setNoDelay(true);
    } catch { /* closed already */ }
    conns.add(conn);
    waiting.add(conn);
    const handled = handle(conn, key);
    handling.add(handled);
    handled.finally(() => handling.delete(handled));
  }

  async function acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing) return;
        stats.acceptErrors++;
        if (Date.now() - lastLog >= 1000) {
          lastLog = Date.now();
          log(`transport: cannot accept (${(error as Error).message}); pausing`);
        }
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_ERROR_PAUSE_MS));
        continue;
      }
      admit(conn);
    }
  }

  const loop = acceptLoop();
  const { promise: finished, resolve: done } = Promise.withResolvers<void>();
  async function shutdown(): Promise<void> {
    if (!closing) {
      closing = true;
      try {
        listener.close();
      } catch { /* closed already */ }
      await loop;
      for (const conn of conns) close(conn);
      await Promise.all(handling);
      done();
    }
    await finished;
  }
  options.signal?.addEventListener("abort", () => shutdown(), { once: true });
  if (options.signal?.aborted) shutdown();
  options.onListen?.(addr);

  return {
    addr,
    finished,
    stats: () => ({ open: conns.size, cap, ...stats }),
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
