/**
 * The bus over Redis pub/sub, and its registry.
 *
 * Protocol flow:
 * - A factory holds two connections: one publishes and runs registry
 *   commands, one subscribes. Every channel of the factory shares them.
 * - The first channel of a name SUBSCRIBEs to `prefix + name`, the last to
 *   close UNSUBSCRIBEs. A post PUBLISHes the frame; the subscriber connection
 *   hears it back and hands it to every local channel but the poster. A
 *   post-only channel (`listen: false`) publishes without subscribing.
 * - Registry: `SET`-if-free-or-mine with `PX` and check-and-delete, each one
 *   Lua script, so both are atomic on the server.
 *
 * Pub/sub delivers at most once: messages published while a subscriber
 * reconnects are lost (the client resubscribes by itself).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient } from "npm:@redis/client@6.3.1";
import { Channel, ChannelTable } from "./_channel.ts";
import {
  REDIS_CLOSE_TIMEOUT_MS,
  REDIS_CONNECT_TIMEOUT_MS,
  REDIS_RECONNECT_MAX_MS,
  REGISTRY_TTL_MS,
} from "./defaults.ts";
import type {
  BusChannel,
  BusFactory,
  BusOptions,
  NameplateRegistry,
  OpenOptions,
  RegistryOptions,
} from "./types.ts";

type Client = ReturnType<typeof createClient>;

/** Options for {@linkcode redisBus}. */
export interface RedisBusOptions extends BusOptions {
  /**
   * Prefix of pub/sub channel names and registry keys.
   * @default {"punch/"}
   */
  prefix?: string;
}

const RESERVE = `local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** `url` with any password replaced, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return "(unparsable URL)";
  }
}

/** Connects to Redis at `url` (`redis://` or `rediss://`) and opens a bus on it. */
export async function redisBus(url: string, options: RedisBusOptions = {}): Promise<BusFactory> {
  const table = new ChannelTable("redis", options);
  const prefix = options.prefix ?? "punch/";
  let connected = false;
  const socket = {
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    // Before the first connection, fail at once; after, retry with back-off.
    reconnectStrategy: (retries: number, cause: Error) =>
      connected ? Math.min(50 * 2 ** retries, REDIS_RECONNECT_MAX_MS) : cause,
  };
  // Without a connection, commands fail at once instead of queueing forever.
  const pub: Client = createClient({ url, socket, disableOfflineQueue: true });
  const sub: Client = pub.duplicate();
  for (const client of [pub, sub]) {
    // One report per outage: the client emits an error per reconnect attempt.
    let reported = false;
    client.on("error", (error: unknown) => {
      if (connected && !reported) table.onError(error);
      reported = true;
    });
    client.on("ready", () => reported = false);
  }
  try {
    await Promise.all([pub.connect(), sub.connect()]);
  } catch (cause) {
    for (const client of [pub, sub]) if (client.isOpen) client.destroy();
    throw new Error(`Cannot connect to Redis at ${redactUrl(url)}`, { cause });
  }
  connected = true;
  const topics = new Map<string, { ready: Promise<void>; listener: (m: Buffer) => void }>();

  const factory: BusFactory = {
    kind: "redis",
    open(name: string, openOptions: OpenOptions = {}): BusChannel {
      table.assertOpen();
      const key = prefix + "bus/" + name;
      const send = (frame: Uint8Array): void => {
        const body = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
        pub.publish(key, body).catch((error) => table.onError(error));
      };
      if (openOptions.listen === false) {
        const channel = new Channel(name, Promise.resolve(), {
          send,
          detach: (closing) => void table.remove(closing),
        }, table.onError);
        table.add(channel, false);
        return channel;
      }
      let topic = topics.get(name);
      if (!topic) {
        const listener = (message: Buffer): void => {
          for (const channel of [...table.channels(name)]) channel.deliver(message);
        };
        const ready = sub.subscribe(key, listener, true).catch((error) => table.onError(error));
        topics.set(name, topic = { ready, listener });
      }
      const channel = new Channel(name, topic.ready, {
        send,
        detach(closing) {
          if (!table.remove(closing)) return;
          const { listener } = topics.get(name)!;
          topics.delete(name);
          if (sub.isOpen) sub.unsubscribe(key, listener, true).catch((e) => table.onError(e));
        },
      }, table.onError);
      table.add(channel);
      return channel;
    },
    registry: (registryOptions) => new RedisRegistry(pub, prefix, registryOptions),
    async close() {
      if (table.closed) return;
      table.closeAll();
      connected = false;
      await Promise.allSettled([sub, pub].map(async (client) => {
        if (!client.isOpen) return;
        if (!client.isReady) return client.destroy();
        const timer = setTimeout(() => client.isOpen && client.destroy(), REDIS_CLOSE_TIMEOUT_MS);
        await client.close().finally(() => clearTimeout(timer));
      }));
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
  return factory;
}

/** The Redis registry: `SET key owner PX ttl` if free or mine; check-and-delete. */
class RedisRegistry implements NameplateRegistry {
  readonly #client: Client;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(client: Client, prefix: string, options: RegistryOptions = {}) {
    this.#client = client;
    this.#prefix = `${prefix}registry/${options.namespace ?? "nameplates"}/`;
    this.#ttlMs = options.ttlMs ?? REGISTRY_TTL_MS;
  }

  async reserve(nameplate: string, owner: string): Promise<boolean> {
    const keys = [this.#prefix + nameplate];
    const args = [owner, String(Math.max(1, Math.round(this.#ttlMs)))];
    return await this.#client.eval(RESERVE, { keys, arguments: args }) === 1;
  }

  async release(nameplate: string, owner: string): Promise<boolean> {
    const keys = [this.#prefix + nameplate];
    return await this.#client.eval(RELEASE, { keys, arguments: [owner] }) === 1;
  }

  async owner(nameplate: string): Promise<string | undefined> {
    return (await this.#client.get(this.#prefix + nameplate)) ?? undefined;
  }
}
