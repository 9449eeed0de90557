/**
 * The in-process bus: channels of one process, every factory sharing them, as
 * `LocalChannel` did; and a registry in memory shared the same way.
 *
 * @module
 */

import { Channel, ChannelTable } from "./_channel.ts";
import { REGISTRY_TTL_MS } from "./defaults.ts";
import type {
  BusChannel,
  BusFactory,
  BusOptions,
  NameplateRegistry,
  OpenOptions,
  RegistryOptions,
} from "./types.ts";

const CHANNELS = new Map<string, Set<Channel>>();
const ENTRIES = new Map<string, { owner: string; expiresAt: number }>();

/** A registry in this process's memory; every local factory sees the same entries. */
export class MemoryRegistry implements NameplateRegistry {
  readonly #namespace: string;
  readonly #ttlMs: number;

  constructor(options: RegistryOptions = {}) {
    this.#namespace = options.namespace ?? "nameplates";
    this.#ttlMs = options.ttlMs ?? REGISTRY_TTL_MS;
  }

  #key(nameplate: string): string {
    return `${this.#namespace}\0${nameplate}`;
  }

  #live(key: string): { owner: string; expiresAt: number } | undefined {
    const entry = ENTRIES.get(key);
    if (entry && entry.expiresAt <= Date.now()) ENTRIES.delete(key);
    return ENTRIES.get(key);
  }

  reserve(nameplate: string, owner: string): Promise<boolean> {
    const key = this.#key(nameplate);
    const entry = this.#live(key);
    if (entry && entry.owner !== owner) return Promise.resolve(false);
    ENTRIES.set(key, { owner, expiresAt: Date.now() + this.#ttlMs });
    return Promise.resolve(true);
  }

  release(nameplate: string, owner: string): Promise<boolean> {
    const key = this.#key(nameplate);
    if (this.#live(key)?.owner !== owner) return Promise.resolve(false);
    ENTRIES.delete(key);
    return Promise.resolve(true);
  }

  owner(nameplate: string): Promise<string | undefined> {
    return Promise.resolve(this.#live(this.#key(nameplate))?.owner);
  }
}

/** Opens the in-process bus: delivery is asynchronous (a microtask per receiver). */
export function localBus(options: BusOptions = {}): BusFactory {
  const table = new ChannelTable("local", options);
  const ready = Promise.resolve();
  return {
    kind: "local",
    open(name: string, openOptions: OpenOptions = {}): BusChannel {
      table.assertOpen();
      const listen = openOptions.listen ?? true;
      const channel: Channel = new Channel(name, ready, {
        send(frame) {
          for (const peer of CHANNELS.get(name) ?? []) {
            if (peer !== channel) queueMicrotask(() => peer.deliver(frame));
          }
        },
        detach(closing) {
          table.remove(closing);
          const set = CHANNELS.get(name);
          set?.delete(closing);
          if (set?.size === 0) CHANNELS.delete(name);
        },
      }, table.onError);
      table.add(channel, listen);
      if (!listen) return channel;
      let set = CHANNELS.get(name);
      if (!set) CHANNELS.set(name, set = new Set());
      set.add(channel);
      return channel;
    },
    registry: (registryOptions) => new MemoryRegistry(registryOptions),
    close() {
      table.closeAll();
      return Promise.resolve();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}
