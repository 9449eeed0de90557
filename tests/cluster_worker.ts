/**
 * Test helper run as a Worker: one rendezvous instance on the native
 * BroadcastChannel bus, served on a free loopback port. Posts `{port,
 * instance}` once listening; `"close"` stops it and posts `"closed"`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { broadcastBus } from "../edge/bus.ts";
import { createRendezvous } from "../edge/handler.ts";

/** The registry's settle window: Workers of one process are ~0.1 ms apart. */
const SETTLE_MS = 30;

const bus = broadcastBus({ settleMs: SETTLE_MS });
const rendezvous = createRendezvous({ bus });
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  rendezvous.handler,
);
self.postMessage({ port: server.addr.port, instance: rendezvous.stats().instance });

self.onmessage = async (event: MessageEvent) => {
  if (event.data !== "close") return;
  await rendezvous.close();
  await server.shutdown();
  await bus.close();
  self.postMessage("closed");
};
