/**
 * The pairing bus: how rendezvous instances reach each other, and the
 * nameplate registry that makes a claim unique across them.
 *
 * ## Proposal for `edge/bus.ts` (the lead's file)
 *
 * Replace its contents with `export * from "./bus/mod.ts";` and change the
 * edge as follows:
 * - A `BusFactory` is an object, not a function: `open(name)` returns a
 *   {@linkcode BusChannel} (the same `Bus` shape plus `name` and `ready`),
 *   `registry(options)` returns a {@linkcode NameplateRegistry} on the same
 *   backend, `close()` (also `await using`) closes channels and connections.
 *   One object owns the connections, so one close ends them; a bare
 *   `(name) => Bus` had nowhere to hang that.
 * - `Hub`: `bus.open(NAMEPLATE_CHANNEL)` instead of `bus(NAMEPLATE_CHANNEL)`;
 *   allocate with `await registry.reserve(nameplate, instance)` (re-reserve
 *   held ones every `ttlMs / 3`, release when freed); bus notices become a
 *   hint, the registry the truth.
 * - `RendezvousOptions.bus` defaults to `localBus()`; `edge/main.ts` and
 *   `punch serve` use `await busFromEnv(Deno.env.get("PUNCH_BUS"))`.
 * - `deno.json`: `"unstable": ["net", "kv"]` for `PUNCH_BUS=kv` and the KV
 *   tests; `.ci/run`: install `redis-server` for the Redis tests.
 *
 * ## Messages
 * A message is JSON (null, booleans, finite numbers, strings, arrays, plain
 * objects) with `Uint8Array` allowed at any depth, carried as raw bytes (no
 * base64) on every bus; at most {@linkcode MAX_MESSAGE_BYTES} encoded. Any
 * other value throws `TypeError` on every bus, the in-process one included.
 * Delivery follows BroadcastChannel: to every other open channel of the name,
 * never the poster, in order per poster, at most once.
 *
 * ```ts ignore
 * import { busFromEnv } from "./bus/mod.ts";
 * await using bus = await busFromEnv(Deno.env.get("PUNCH_BUS"));
 * const channel = bus.open("punch/v1/nameplates");
 * channel.onmessage = (event) => console.log(event.data);
 * const registry = bus.registry({ ttlMs: 60_000 });
 * if (await registry.reserve("1234", "instance-a")) channel.postMessage({ allocated: "1234" });
 * ```
 *
 * `redisBus` lives in `./redis.ts` and is imported only when asked for, so
 * other buses do not load the Redis client.
 *
 * @module
 */

export type {
  Bus,
  BusChannel,
  BusFactory,
  BusKind,
  BusOptions,
  NameplateRegistry,
  OpenOptions,
  RegistryOptions,
} from "./types.ts";
export { MAX_MESSAGE_BYTES, REGISTRY_TTL_MS } from "./defaults.ts";
export { localBus, MemoryRegistry } from "./local.ts";
export { broadcastBus, type BroadcastBusOptions } from "./broadcast.ts";
export { kvBus, type KvBusOptions } from "./kv.ts";
export type { RedisBusOptions } from "./redis.ts";
export { busFromEnv, busFromPlatform, platformBusSpec, PUNCH_BUS_VALUES } from "./from_env.ts";
