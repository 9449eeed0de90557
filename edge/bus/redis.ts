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
 * reconnects are lost (it subscribes again once reconnected).
 *
 * @module
 */

import { Channel, ChannelTable } from "./_channel.ts";
import { RespConnection, text } from "./_resp.ts";
import { REDIS_CLOSE_TIMEOUT_MS, REGISTRY_TTL_MS } from "./defaults.ts";
import type {
  BusChannel,
  BusFactory,
  BusOptions,
  NameplateRegistry,
  OpenOptions,
  RegistryOptions,
} from "./types.ts";

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
  // Commands cut short by close() (an UNSUBSCRIBE, a last PUBLISH) are no news.
  const report = (error: unknown): void => {
    if (!table.closed) table.onError(error);
  };
  const topics = new Map<string, { key: string; ready: Promise<void> }>();
  const byKey = new Map<string, string>();
  const deliver = (key: Uint8Array, payload: Uint8Array): void => {
    const name = byKey.get(text(key));
    if (name === undefined) return;
    for (const channel of [...table.channels(name)]) channel.deliver(payload);
  };
  let pub: RespConnection | undefined;
  let sub: RespConnection | undefined;
  try {
    [pub, sub] = await Promise.all([
      RespConnection.connect(url, { onError: table.onError }),
      RespConnection.connect(url, {
        onError: table.onError,
        onPush: deliver,
        // Pub/sub forgets a dropped subscriber: subscribe again to every topic.
        onReconnect: () => {
          for (const { key } of topics.values()) {
            sub!.command("SUBSCRIBE", key).catch(report);
          }
        },
      }),
    ]);
  } catch (cause) {
    pub?.close();
    sub?.close();
    throw new Error(`Cannot connect to Redis at ${redactUrl(url)}`, { cause });
  }
  const publisher = pub;
  const subscriber = sub;

  const factory: BusFactory = {
    kind: "redis",
    open(name: string, openOptions: OpenOptions = {}): BusChannel {
      table.assertOpen();
      const key = prefix + "bus/" + name;
      const send = (frame: Uint8Array): void => {
        publisher.command("PUBLISH", key, frame).catch(report);
      };
      if (openOptions.listen === false) return table.postOnly(name, send);
      let topic = topics.get(name);
      if (!topic) {
        byKey.set(key, name);
        const ready = subscriber.command("SUBSCRIBE", key).then(() => {}, report);
        topics.set(name, topic = { key, ready });
      }
      const channel = new Channel(name, topic.ready, {
        send,
        detach(closing) {
          if (!table.remove(closing)) return;
          topics.delete(name);
          byKey.delete(key);
          if (subscriber.ready) {
            subscriber.command("UNSUBSCRIBE", key).catch(report);
          }
        },
      }, table.onError);
      table.add(channel);
      return channel;
    },
    registry: (registryOptions) => new RedisRegistry(publisher, prefix, registryOptions),
    async close() {
      if (table.closed) return;
      table.closeAll();
      // Let posted messages leave: a PING is answered after every earlier command.
      if (publisher.ready) {
        const timer = new Promise((resolve) => setTimeout(resolve, REDIS_CLOSE_TIMEOUT_MS));
        await Promise.race([publisher.command("PING").catch(() => {}), timer]);
      }
      publisher.close();
      subscriber.close();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
  return factory;
}

/** The Redis registry: `SET key owner PX ttl` if free or mine; check-and-delete. */
class RedisRegistry implements NameplateRegistry {
  readonly #client: RespConnection;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(client: RespConnection, prefix: string, options: RegistryOptions = {}) {
    this.#client = client;
    this.#prefix = `${prefix}registry/${options.namespace ?? "nameplates"}/`;
    this.#ttlMs = options.ttlMs ?? REGISTRY_TTL_MS;
  }

  async reserve(nameplate: string, owner: string): Promise<boolean> {
    const ttl = String(Math.max(1, Math.round(this.#ttlMs)));
    const key = this.#prefix + nameplate;
    return await this.#client.command("EVAL", RESERVE, "1", key, owner, ttl) === 1;
  }

  async release(nameplate: string, owner: string): Promise<boolean> {
    const key = this.#prefix + nameplate;
    return await this.#client.command("EVAL", RELEASE, "1", key, owner) === 1;
  }

  async owner(nameplate: string): Promise<string | undefined> {
    const value = await this.#client.command("GET", this.#prefix + nameplate);
    return value === null ? undefined : text(value);
  }
}
