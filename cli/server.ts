/**
 * Where the rendezvous is: `--server`, then `PUNCH_SERVER`, then the embedded
 * default — the sender runs one in its own process and announces it on the
 * local network, the receiver finds it there.
 *
 * @module
 */

import { createRendezvous } from "../edge/handler.ts";
import { serveRendezvous } from "../edge/transport.ts";
import { announce } from "../lib/discovery/announce.ts";
import { discover } from "../lib/discovery/discover.ts";
import type { Reporter } from "./report.ts";

/** The environment variable naming a rendezvous server. */
export const SERVER_ENV = "PUNCH_SERVER";

/** How long the receiver looks for an embedded rendezvous on the local network. */
export const DISCOVERY_TIMEOUT_MS = 3000;

/** The configured server, if any. */
export function configuredServer(flag: string | undefined): string | undefined {
  return flag || Deno.env.get(SERVER_ENV) || undefined;
}

/** A rendezvous running inside this process. */
export interface EmbeddedServer extends AsyncDisposable {
  url: string;
  port: number;
}

/** Starts the embedded rendezvous on all interfaces and announces it. */
export async function startEmbedded(reporter: Reporter): Promise<EmbeddedServer> {
  const rendezvous = createRendezvous();
  // The hardened transport, as punch serve runs it: it faces the local network.
  const server = serveRendezvous(rendezvous, { hostname: "0.0.0.0", port: 0 });
  const port = server.addr.port;
  const announcer = announce({ port, nameplates: () => rendezvous.nameplates() });
  try {
    await announcer.ready;
  } catch (error) {
    reporter.report({
      type: "warning",
      message: `Cannot announce on the local network (${(error as Error).message}); ` +
        `the receiver needs --server http://THIS-HOST:${port}`,
    });
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async [Symbol.asyncDispose]() {
      await announcer.close();
      const closed = rendezvous.close();
      await server.shutdown();
      await closed;
    },
  };
}

/** Finds the embedded rendezvous holding a nameplate; throws a clear error if none answers. */
export async function findEmbedded(nameplate: string, signal?: AbortSignal): Promise<string[]> {
  const found = await discover(nameplate, {
    timeoutMs: DISCOVERY_TIMEOUT_MS,
    ...(signal ? { signal } : {}),
  });
  if (found.length === 0) {
    throw new DiscoveryError(
      `No punch sender with nameplate ${nameplate} found on this machine or the local network; ` +
        `is punch send still running? If the sender used --server or ${SERVER_ENV}, pass the same --server`,
    );
  }
  return found.map((server) => server.url);
}

/** No embedded rendezvous answered. */
export class DiscoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DiscoveryError";
  }
}
