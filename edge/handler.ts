/**
 * The rendezvous as one `(request, info) => Promise<Response>` handler, for
 * `Deno.serve`, Deno Deploy and `punch serve` alike.
 *
 * Routes:
 * - `GET /v1/ws`: the WebSocket protocol (docs/protocol/rendezvous.md).
 * - `GET /v1/reflect`: `{"address":"ip:port"}`, the caller as this server sees it.
 * - `GET /healthz`: `{"ok":true,…}` with counters.
 *
 * @module
 */

import { type BusFactory, localBus } from "./bus.ts";
import { DEFAULT_LIMITS, type Limits } from "./defaults.ts";
import { Hub, type HubStats } from "./hub.ts";

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
}

/** A rendezvous instance: its handler and its lifetime. */
export interface Rendezvous {
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;
  stats(): HubStats;
  /** The nameplates this instance holds (for LAN discovery of an embedded rendezvous). */
  nameplates(): Iterable<string>;
  /** Ends every pair and frees every nameplate; resolves once the registry has them back. */
  close(): Promise<void>;
}

/** The protocol version this server speaks, also the URL prefix. */
export const PROTOCOL_VERSION = 1;

/** Formats an address as `ip:port`, bracketing IPv6. */
export function formatAddress(addr: Deno.Addr): string {
  if (addr.transport !== "tcp" && addr.transport !== "udp") return "unknown";
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return `${host}:${addr.port}`;
}

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

  function handler(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const url = new URL(request.url);
    const address = formatAddress(info.remoteAddr);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return Promise.resolve(json({ error: "method not allowed" }, 405));
    }
    switch (url.pathname) {
      case "/v1/ws": {
        if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
          return Promise.resolve(json({ error: "expected a WebSocket upgrade" }, 426));
        }
        if (hub.full) return Promise.resolve(json({ error: "server busy" }, 503));
        const { socket, response } = Deno.upgradeWebSocket(request, {
          idleTimeout: limits.idleTimeoutSeconds,
        });
        hub.attach(socket, address);
        return Promise.resolve(response);
      }
      case "/v1/reflect":
        return Promise.resolve(json({ address }));
      case "/healthz":
        return Promise.resolve(json({ ok: true, version: PROTOCOL_VERSION, ...hub.stats() }));
      case "/":
        return Promise.resolve(
          new Response("punch rendezvous: see /v1/ws, /v1/reflect, /healthz\n"),
        );
      default:
        return Promise.resolve(json({ error: "not found" }, 404));
    }
  }

  return {
    handler,
    stats: () => hub.stats(),
    nameplates: () => hub.nameplates(),
    async close() {
      await hub.close();
      if (!options.bus) await bus.close();
    },
  };
}
