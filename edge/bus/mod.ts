/**
 * The pairing bus: how rendezvous instances reach each other, and the
 * nameplate registry that makes a claim unique across them.
 *
 * ## How the edge uses it
 *
 * `edge/bus.ts` re-exports this module. One {@linkcode BusFactory} per
 * instance owns the connections (`close()`, or `await using`):
 * - `registry()` keeps nameplates unique across instances
 *   (`edge/nameplates.ts`): `reserve` on allocation, again every third of the
 *   TTL, `release` when freed, `owner` to find where a claim must go.
 * - `open(punch/v1/instance/<id>)` is an instance's inbox; it posts to
 *   another instance's inbox through a channel opened with
 *   `{ listen: false }`, which does not subscribe (`edge/remote.ts`).
 * - {@linkcode busFromPlatform} picks the backend: `PUNCH_BUS`, else Deno KV
 *   on Deno Deploy, else in-process. `edge/main.ts` and `punch serve` use it;
 *   `createRendezvous()` without a bus uses {@linkcode localBus}.
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
 * `redisBus` lives in `./redis.ts` (a small RESP client over `Deno.connect`,
 * `./_resp.ts`) and is imported only when asked for.
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
