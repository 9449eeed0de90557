/**
 * A nameplate registry over a bus alone, for backends without a shared store.
 *
 * Protocol flow:
 * - `reserve` records a pending claim `(at, owner)`, posts `claim`, and waits
 *   `settleMs`. A conflicting claim seen meanwhile wins if its `(at, owner)` is
 *   lower; a `held` from a holder always wins. If nothing beat it, the claim
 *   becomes held and `held` is posted.
 * - A holder answers every `claim` of its nameplate with `held`, so an
 *   instance that started late still learns of it.
 * - `release` posts `free`; entries not reserved again within `ttlMs` expire
 *   in every view (each instance times them from when it heard of them).
 *
 * Guarantee: a nameplate is held by one owner if every message reaches every
 * instance within `settleMs`. A slower message (a partition, a stalled
 * isolate) can let two owners hold it; when their `held` messages meet, each
 * view keeps the lower `(at, owner)`, but the loser has already answered its
 * client. `owner()` answers from this instance's view, which lags others.
 *
 * @module
 */

import { REGISTRY_TTL_MS } from "./defaults.ts";
import type { BusChannel, NameplateRegistry, RegistryOptions } from "./types.ts";

/** How often {@linkcode OptimisticRegistry.owner} looks again at a claim still settling. */
const OWNER_POLL_MS = 10;

type Notice = { t: "claim" | "held" | "free"; np: string; owner: string; at: number };

interface Entry {
  owner: string;
  at: number;
  held: boolean;
  local: boolean;
  expiresAt: number;
}

function beats(a: { at: number; owner: string }, b: { at: number; owner: string }): boolean {
  return a.at < b.at || (a.at === b.at && a.owner < b.owner);
}

/** Options for {@linkcode OptimisticRegistry}. */
export interface OptimisticRegistryOptions extends RegistryOptions {
  settleMs: number;
}

/** The optimistic registry; see the module doc for what it guarantees. */
export class OptimisticRegistry implements NameplateRegistry {
  readonly #channel: BusChannel;
  readonly #ttlMs: number;
  readonly #settleMs: number;
  readonly #view = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<boolean>>();

  constructor(channel: BusChannel, options: OptimisticRegistryOptions) {
    this.#channel = channel;
    this.#ttlMs = options.ttlMs ?? REGISTRY_TTL_MS;
    this.#settleMs = options.settleMs;
    channel.onmessage = (event) => this.#onNotice(event.data as Notice);
  }

  #live(nameplate: string): Entry | undefined {
    const entry = this.#view.get(nameplate);
    if (entry && entry.expiresAt <= Date.now()) this.#view.delete(nameplate);
    return this.#view.get(nameplate);
  }

  #post(t: Notice["t"], np: string, entry: { owner: string; at: number }): void {
    this.#channel.postMessage({ t, np, owner: entry.owner, at: entry.at } satisfies Notice);
  }

  async reserve(nameplate: string, owner: string): Promise<boolean> {
    await this.#channel.ready;
    const pending = this.#pending.get(nameplate);
    if (pending) return await pending && this.#live(nameplate)?.owner === owner;
    const current = this.#live(nameplate);
    if (current && current.owner !== owner) return false;
    if (current?.held && current.local) {
      current.expiresAt = Date.now() + this.#ttlMs;
      this.#post("held", nameplate, current);
      return true;
    }
    const entry: Entry = {
      owner,
      at: Date.now(),
      held: false,
      local: true,
      expiresAt: Date.now() + this.#ttlMs,
    };
    this.#view.set(nameplate, entry);
    this.#post("claim", nameplate, entry);
    const settled = new Promise<boolean>((resolve) => {
      setTimeout(() => {
        this.#pending.delete(nameplate);
        if (this.#view.get(nameplate) !== entry) return resolve(false);
        entry.held = true;
        entry.expiresAt = Date.now() + this.#ttlMs;
        this.#post("held", nameplate, entry);
        resolve(true);
      }, this.#settleMs);
    });
    this.#pending.set(nameplate, settled);
    return await settled;
  }

  release(nameplate: string, owner: string): Promise<boolean> {
    const entry = this.#live(nameplate);
    if (!entry?.held || !entry.local || entry.owner !== owner) return Promise.resolve(false);
    this.#view.delete(nameplate);
    this.#post("free", nameplate, entry);
    return Promise.resolve(true);
  }

  /**
   * The holder in this instance's view. While another instance is still
   * settling its claim (its `claim` came, its `held` not yet), waits up to
   * twice `settleMs` for the outcome (the holder posts `held` `settleMs`
   * after its claim, and the notice may take as long again): a receiver
   * that claims on this instance right after the sender's allocation
   * elsewhere is not turned away.
   */
  async owner(nameplate: string): Promise<string | undefined> {
    const deadline = Date.now() + 2 * this.#settleMs;
    for (;;) {
      const entry = this.#live(nameplate);
      if (entry?.held) return entry.owner;
      if (entry === undefined || entry.local || Date.now() >= deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, OWNER_POLL_MS));
    }
  }

  #onNotice(notice: Notice): void {
    const { t, np, owner, at } = notice;
    const current = this.#live(np);
    const fresh = (held: boolean): void => {
      this.#view.set(np, { owner, at, held, local: false, expiresAt: Date.now() + this.#ttlMs });
    };
    if (t === "free") {
      if (current && !current.local && current.owner === owner) this.#view.delete(np);
      return;
    }
    if (!current) return fresh(t === "held");
    if (current.owner === owner) {
      if (!current.local) fresh(t === "held" || current.held);
      return;
    }
    if (t === "claim") {
      if (current.held && current.local) this.#post("held", np, current);
      else if (current.held) return;
      else if (beats(notice, current)) fresh(false);
      // Our pending claim wins: say so again, in case the claimant missed it.
      else if (current.local) this.#post("claim", np, current);
      return;
    }
    // A `held` from another owner: it beats any pending claim; between two
    // holders (a broken guarantee) the lower (at, owner) stays.
    if (!current.held || beats(notice, current)) fresh(true);
  }
}
