/**
 * The nameplate registry over Deno KV: one key per nameplate, claimed with an
 * atomic check of the versionstamp read (null when absent).
 *
 * An entry stores its own expiry: KV deletes expired keys lazily, so a stale
 * key may still be read and is treated as free. Expiry compares instance
 * clocks, so skew between instances shortens or lengthens the TTL by as much.
 *
 * @module
 */

import { retryBusy } from "./_kv_busy.ts";
import { REGISTRY_TTL_MS } from "./defaults.ts";
import type { NameplateRegistry, RegistryOptions } from "./types.ts";

interface Claim {
  owner: string;
  expiresAt: number;
}

/** The Deno KV registry. */
export class KvRegistry implements NameplateRegistry {
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  readonly #ttlMs: number;

  constructor(kv: Deno.Kv, prefix: Deno.KvKey, options: RegistryOptions = {}) {
    this.#kv = kv;
    this.#prefix = [...prefix, options.namespace ?? "nameplates"];
    this.#ttlMs = options.ttlMs ?? REGISTRY_TTL_MS;
  }

  async #read(nameplate: string): Promise<[Deno.KvEntryMaybe<Claim>, Claim | undefined]> {
    const entry = await this.#kv.get<Claim>([...this.#prefix, nameplate]);
    const live = entry.value && entry.value.expiresAt > Date.now() ? entry.value : undefined;
    return [entry, live];
  }

  async reserve(nameplate: string, owner: string): Promise<boolean> {
    for (;;) {
      const done = await retryBusy(async () => {
        const [entry, claim] = await this.#read(nameplate);
        if (claim && claim.owner !== owner) return false;
        const value: Claim = { owner, expiresAt: Date.now() + this.#ttlMs };
        const result = await this.#kv.atomic().check(entry)
          .set(entry.key, value, { expireIn: this.#ttlMs }).commit();
        return result.ok ? true : undefined;
      });
      if (done !== undefined) return done;
    }
  }

  async release(nameplate: string, owner: string): Promise<boolean> {
    for (;;) {
      const done = await retryBusy(async () => {
        const [entry, claim] = await this.#read(nameplate);
        if (claim?.owner !== owner) return false;
        return (await this.#kv.atomic().check(entry).delete(entry.key).commit()).ok
          ? true
          : undefined;
      });
      if (done !== undefined) return done;
    }
  }

  async owner(nameplate: string): Promise<string | undefined> {
    return (await retryBusy(() => this.#read(nameplate)))[1]?.owner;
  }
}
