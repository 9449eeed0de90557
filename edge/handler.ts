/**
 * The rendezvous as one `(request, info) => Promise<Response>` handler, for
 * `Deno.serve` and Deno Deploy; `punch serve` and the embedded rendezvous
 * run it under the hardened transport instead (`transport.ts`), which
 * upgrades WebSockets itself and hands them to {@linkcode Rendezvous.attach}.
 *
 * Routes:
 * - `GET /v1/ws`: the WebSocket protocol (docs/protocol/rendezvous.md).
 * - `GET /v1/reflect`: `{"address":"ip:port"}`, the caller as this server sees it.
 * - `GET /healthz`: `{"ok":true,…}` with counters.
 * - `GET /` and its assets: the browser peer's page (page.ts, docs/browser.md).
 *
 * @module
 */

import { AddressCounts, type ClientAddress, headerAddress, peerAddress } from "./addresses.ts";
import { type BusFactory, localBus } from "./bus.ts";
import { fromWebSocket, type HubSocket } from "./conn.ts";
import { DEFAULT_LIMITS, type Limits } from "./defaults.ts";
import { Hub, type HubStats } from "./hub.ts";
import { pageResponse } from "./page.ts";

/** Options for {@linkcode createRendezvous}. */
export interface RendezvousOptions {
  /** Overrides of {@linkcode DEFAULT_LIMITS}. */
  limits?: Partial<Limits>;
  /**
   * The pairing bus: how this instance reaches the others, and the registry
   * that keeps nameplates unique across them. The caller keeps ownership and
   * closes it after {@linkcode Rendezvous.close}. Without one, the instance
   * uses its own in-process bus (shared with other instances of this process)
   * and closes it itself.
   * @default {localBus()}
   */
  bus?: BusFactory;
  /**
   * Where to write one line per notable event.
   * @default {() => {}}
   */
  log?: (line: string) => void;
  /**
   * The header a trusted reverse proxy puts the client's address in (for
   * example `x-forwarded-for`, whose last element is taken). Only when the
   * operator says so: a client can send any header it likes. A request
   * without it is refused (400). Unset: the address of the connection.
   */
  clientAddressHeader?: string;
}

/** A rendezvous instance: its handler and its lifetime. */
export interface Rendezvous {
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;
  /** The limits it runs with. */
  readonly limits: Readonly<Limits>;
  /**
   * The client behind a request: the connection's peer, or the trusted
   * proxy's header ({@linkcode RendezvousOptions.clientAddressHeader});
   * undefined if that header is missing or malformed.
   */
  client(headers: Headers, peer: Deno.Addr): ClientAddress | undefined;
  /** The trusted proxy's header, lowercase, if the operator named one. */
  readonly clientAddressHeader: string | undefined;
  /** Takes over a WebSocket that a transport of its own upgraded (`transport.ts`). */
  attach(socket: HubSocket, client: ClientAddress): void;
  /** Whether this instance holds its most connections. */
  readonly full: boolean;
  /**
   * Closes the oldest connection that has not allocated or claimed yet, to
   * make room for a new one; false if there is none.
   */
  evictIdle(): boolean;
  stats(): HubStats;
  /** The nameplates this instance holds (for LAN discovery of an embedded rendezvous). */
  nameplates(): Iterable<string>;
  /** Ends every pair and frees every nameplate; resolves once the registry has them back. */
  close(): Promise<void>;
}

/** The protocol version this server speaks, also the URL prefix. */
export const PROTOCOL_VERSION = 1;

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** Creates a rendezvous instance. */
export function createRendezvous(options: RendezvousOptions = {}): Rendezvous {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const bus = options.bus ?? localBus();
  const hub = new Hub(limits, bus, options.log ?? (() => {}));
  const header = options.clientAddressHeader?.trim().toLowerCase() || undefined;
  const client = (headers: Headers, peer: Deno.Addr) =>
    header === undefined ? peerAddress(peer) : headerAddress(headers, header);
  // WebSockets per client under Deno.serve; the hardened transport counts its connections itself.
  const perAddress = new AddressCounts(limits.maxConnectionsPerAddress);

  function upgrade(request: Request, from: ClientAddress): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json({ error: "expected a WebSocket upgrade" }, 426);
    }
    if (hub.full && !hub.evictIdle()) return json({ error: "server busy" }, 503);
    if (!perAddress.admit(from.key)) {
      return json({ error: "too many connections from this address" }, 429);
    }
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: limits.idleTimeoutSeconds,
    });
    socket.addEventListener("close", () => perAddress.release(from.key));
    hub.attach(fromWebSocket(socket), from.address, from.key);
    return response;
  }

  function handler(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const url = new URL(request.url);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return Promise.resolve(json({ error: "method not allowed" }, 405));
    }
    const from = client(request.headers, info.remoteAddr);
    if (from === undefined) {
      return Promise.resolve(json({ error: `no client address in ${header}` }, 400));
    }
    switch (url.pathname) {
      case "/v1/ws":
        return Promise.resolve(upgrade(request, from));
      case "/v1/reflect":
        // Behind a proxy that names the address alone, the port is unknown.
        return Promise.resolve(
          from.address.endsWith(":0")
            ? json({ error: "the client's port is unknown behind this proxy" }, 501)
            : json({ address: from.address }),
        );
      case "/healthz":
        return Promise.resolve(json({ ok: true, version: PROTOCOL_VERSION, ...hub.stats() }));
      default:
        return Promise.resolve(pageResponse(request) ?? json({ error: "not found" }, 404));
    }
  }

  return {
    handler,
    limits,
    client,
    clientAddressHeader: header,
    attach: (socket, from) => hub.attach(socket, from.address, from.key),
    get full() {
      return hub.full;
    },
    evictIdle: () => hub.evictIdle(),
    stats: () => hub.stats(),
    nameplates: () => hub.nameplates(),
    async close() {
      await hub.close();
      if (!options.bus) await bus.close();
    },
  };
}
