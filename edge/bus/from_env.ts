/**
 * Chooses the bus from `PUNCH_BUS`.
 *
 * @module
 */

import { broadcastBus } from "./broadcast.ts";
import { kvBus } from "./kv.ts";
import { localBus } from "./local.ts";
import { KV_FILE_POLL_INTERVAL_MS } from "./defaults.ts";
import type { BusFactory, BusOptions } from "./types.ts";

/** The values `busFromEnv` accepts, for help text and errors. */
export const PUNCH_BUS_VALUES = "local, broadcast, kv, kv:PATH or redis://…";

/**
 * Opens the bus `PUNCH_BUS` names:
 * - unset, empty or `local`: in-process channels ({@linkcode localBus});
 * - `broadcast`: native BroadcastChannel ({@linkcode broadcastBus});
 * - `kv`: the platform's Deno KV (`Deno.openKv()`, Deno Deploy's store);
 * - `kv:PATH`: a Deno KV SQLite file, polled so several processes share it;
 * - `redis://…` or `rediss://…`: Redis pub/sub, connected before this returns.
 *
 * Throws `TypeError` for any other value, and `Error` (with `cause`) when the
 * backend cannot be opened.
 */
export async function busFromEnv(
  value: string | undefined,
  options: BusOptions = {},
): Promise<BusFactory> {
  const spec = value?.trim() ?? "";
  if (spec === "" || spec === "local") return localBus(options);
  if (spec === "broadcast") {
    if (typeof BroadcastChannel !== "function") {
      throw new Error("Cannot use PUNCH_BUS=broadcast: BroadcastChannel is not available here");
    }
    return broadcastBus(options);
  }
  if (spec === "kv" || spec.startsWith("kv:")) {
    const path = spec === "kv" ? undefined : spec.slice(3);
    if (path === "") throw new TypeError('Cannot use PUNCH_BUS="kv:": the path is empty');
    if (typeof Deno.openKv !== "function") {
      throw new Error(
        `Cannot use PUNCH_BUS=${spec}: Deno KV is unstable; add "kv" to "unstable" in deno.json or run with --unstable-kv`,
      );
    }
    let kv;
    try {
      kv = await Deno.openKv(path);
    } catch (cause) {
      throw new Error(`Cannot open Deno KV${path ? ` at ${path}` : ""}`, { cause });
    }
    return kvBus(kv, {
      ...options,
      closeKv: true,
      pollIntervalMs: path === undefined ? 0 : KV_FILE_POLL_INTERVAL_MS,
    });
  }
  if (/^rediss?:\/\//.test(spec)) {
    const { redisBus } = await import("./redis.ts");
    return await redisBus(spec, options);
  }
  const shown = /^rediss?:/.test(spec) || spec.includes("@")
    ? spec.replace(/\/\/[^@/]*@/, "//***@")
    : spec;
  throw new TypeError(`Cannot use PUNCH_BUS="${shown}": expected ${PUNCH_BUS_VALUES}`);
}

/**
 * The `PUNCH_BUS` value this platform calls for: `PUNCH_BUS` when set; else
 * `kv` on Deno Deploy (`DENO_DEPLOY`), whose instances share nothing but the
 * app's KV database; else empty, the in-process bus.
 */
export function platformBusSpec(env: Pick<Deno.Env, "get"> = Deno.env): string {
  const chosen = env.get("PUNCH_BUS")?.trim();
  if (chosen) return chosen;
  return env.get("DENO_DEPLOY") ? "kv" : "";
}

/** Opens the bus {@linkcode platformBusSpec} names. */
export async function busFromPlatform(options: BusOptions = {}): Promise<BusFactory> {
  return await busFromEnv(platformBusSpec(), options);
}
