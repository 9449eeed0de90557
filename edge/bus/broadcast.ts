/**
 * The bus over native `BroadcastChannel`: it crosses Workers in one process
 * and, where the platform connects them, isolates of one deployment. It has no
 * shared store, so its registry is the optimistic one.
 *
 * @module
 */

import { Channel, ChannelTable } from "./_channel.ts";
import { OptimisticRegistry } from "./_optimistic_registry.ts";
import { BROADCAST_ANCHOR_LINGER_MS, BROADCAST_SETTLE_MS } from "./defaults.ts";
import type { BusChannel, BusFactory, BusOptions, OpenOptions } from "./types.ts";

/** Options for {@linkcode broadcastBus}. */
export interface BroadcastBusOptions extends BusOptions {
  /**
   * Milliseconds the registry waits for a conflicting claim.
   * @default {BROADCAST_SETTLE_MS}
   */
  settleMs?: number;
}

/** The registry channel's name; the namespace is appended. */
const REGISTRY_CHANNEL = "punch/v1/registry/";

/**
 * Deno 2.9 stops delivering to a context's BroadcastChannels if one is opened
 * while the last one's close is still being processed (the receive loop ends
 * and is not restarted). One anchor channel stays open while any broadcast
 * bus is, and for a moment after, so the count never drops to zero under an
 * open bus.
 */
const ANCHOR_CHANNEL = "punch/v1/anchor";
let anchor:
  | { channel: BroadcastChannel; users: number; timer?: ReturnType<typeof setTimeout> }
  | undefined;

function holdAnchor(): () => void {
  anchor ??= { channel: new BroadcastChannel(ANCHOR_CHANNEL), users: 0 };
  clearTimeout(anchor.timer);
  anchor.users++;
  let held = true;
  return () => {
    if (!held || !anchor) return;
    held = false;
    if (--anchor.users > 0) return;
    const closing = anchor;
    closing.timer = setTimeout(() => {
      if (anchor !== closing || closing.users > 0) return;
      anchor = undefined;
      closing.channel.close();
    }, BROADCAST_ANCHOR_LINGER_MS);
  };
}

/** Opens the native BroadcastChannel bus. */
export function broadcastBus(options: BroadcastBusOptions = {}): BusFactory {
  if (typeof BroadcastChannel !== "function") {
    throw new TypeError("Cannot open the broadcast bus: BroadcastChannel is not available here");
  }
  const table = new ChannelTable("broadcast", options);
  const ready = Promise.resolve();
  const settleMs = options.settleMs ?? BROADCAST_SETTLE_MS;
  const releaseAnchor = holdAnchor();
  const factory: BusFactory = {
    kind: "broadcast",
    open(name: string, openOptions: OpenOptions = {}): BusChannel {
      table.assertOpen();
      const listen = openOptions.listen ?? true;
      const native = new BroadcastChannel(name);
      const channel = new Channel(name, ready, {
        send: (frame) => native.postMessage(frame),
        detach(closing) {
          table.remove(closing);
          native.close();
        },
      }, table.onError);
      // A post-only channel leaves `onmessage` unset: the runtime still hands
      // it each message of the name, but nothing decodes them.
      if (listen) {
        native.onmessage = (event: MessageEvent) => channel.deliver(event.data as Uint8Array);
        native.onmessageerror = (event) => table.onError(event);
      }
      table.add(channel, listen);
      return channel;
    },
    registry(registryOptions = {}) {
      const namespace = registryOptions.namespace ?? "nameplates";
      return new OptimisticRegistry(factory.open(REGISTRY_CHANNEL + namespace), {
        ...registryOptions,
        settleMs,
      });
    },
    close() {
      table.closeAll();
      releaseAnchor();
      return Promise.resolve();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
  return factory;
}
