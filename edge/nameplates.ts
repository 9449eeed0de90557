/**
 * The nameplates one instance holds, kept unique across every instance by the
 * bus's registry.
 *
 * Protocol flow:
 * - Allocate: pick a nameplate this instance does not hold, `reserve` it in
 *   the registry under the instance's id. If another instance holds it (a
 *   collision), pick another; after {@linkcode NAMEPLATE_TRIES_PER_LENGTH}
 *   collisions, try one digit more (and skip that length for a few seconds).
 *   A chosen nameplate (`--code`) is tried once: taken is taken.
 * - Hold: every held nameplate is reserved again a third of the registry TTL
 *   after its last reservation, so a live instance keeps its nameplates and a
 *   crashed one's come free within the TTL. Refreshes are spread out (a few
 *   every {@linkcode REFRESH_SWEEP_MS}), never one burst that would delay
 *   claims behind thousands of registry calls. A nameplate found held by
 *   another instance is lost.
 * - Free: `release` once both sides have left.
 *
 * The registry is the truth: a claim on any instance asks it who holds the
 * nameplate, so a third claimant is refused by the holder wherever it lands.
 *
 * @module
 */

import type { ServerErrorCode } from "../lib/rendezvous/messages.ts";
import type { NameplateRegistry } from "./bus.ts";
import type { Plate } from "./conn.ts";
import { NAMEPLATE_MIN_DIGITS, NAMEPLATE_TRIES_PER_LENGTH } from "./defaults.ts";

/** Digits of the longest nameplate (the protocol allows 1 to 8). */
const NAMEPLATE_MAX_DIGITS = 8;

/**
 * How long a nameplate length is skipped after all its tries collided: a
 * busy cluster then spends one registry call per allocation, not seventeen,
 * and codes come back to four digits within seconds once it calms down.
 */
const CROWDED_LENGTH_MS = 5_000;

/**
 * How often due refreshes are sent: often enough that 10 000 nameplates
 * reserved within a second are refreshed ~100 at a time (a millisecond of
 * registry work), not in one burst.
 */
export const REFRESH_SWEEP_MS = 100;

/** Why a nameplate could not be reserved. */
export interface ReserveFailure {
  error: Extract<ServerErrorCode, "nameplate_taken" | "no_nameplates" | "server_busy">;
  message: string;
}

/** Options for {@linkcode Nameplates}. */
export interface NameplatesOptions {
  /** The registry entry's lifetime; held entries are refreshed every third of it. */
  ttlMs: number;
  /** Nameplates held at most, counting those being reserved. */
  maxNameplates: number;
  /** Called with a nameplate another instance took over (a refresh found it held). */
  onLost: (plate: Plate) => void;
  /** A held nameplate nobody claims this long after `hold` is handed to `onExpired`. */
  unclaimedTtlMs: number;
  onExpired: (plate: Plate) => void;
  log: (line: string) => void;
  /**
   * Digits added to new nameplates now (a sweep is running, `claims.ts`).
   * @default {() => 0}
   */
  extraDigits?: () => number;
}

function randomNameplate(digits: number): string {
  const low = 10 ** (digits - 1);
  const [r = 0] = crypto.getRandomValues(new Uint32Array(1));
  return String(low + (r % (9 * low)));
}

/**
 * Nameplates in the order their refreshes fall due. Every one is pushed with
 * "now + a third of the TTL", so appending keeps the order. It holds names,
 * not plates: a plate freed meanwhile (its socket, its buffers) is not kept
 * alive until its turn.
 */
class RefreshQueue {
  #items: { nameplate: string; at: number }[] = [];
  #head = 0;

  push(nameplate: string, at: number): void {
    this.#items.push({ nameplate, at });
  }

  /** Removes every nameplate due by `now`, calling `fn` on each. */
  drain(now: number, fn: (nameplate: string) => void): void {
    while (this.#head < this.#items.length && this.#items[this.#head]!.at <= now) {
      fn(this.#items[this.#head++]!.nameplate);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** This instance's nameplates and their registry entries. */
export class Nameplates {
  readonly #registry: NameplateRegistry;
  readonly #owner: string;
  readonly #options: NameplatesOptions;
  readonly #held = new Map<string, Plate>();
  readonly #reserving = new Set<string>();
  readonly #refreshes = new RefreshQueue();
  readonly #refreshSweep: ReturnType<typeof setInterval>;
  readonly #expirySweep: ReturnType<typeof setInterval>;
  #collisions = 0;
  /** Lengths whose every try collided lately, skipped until the time given. */
  readonly #crowded = new Map<number, number>();

  constructor(registry: NameplateRegistry, owner: string, options: NameplatesOptions) {
    this.#registry = registry;
    this.#owner = owner;
    this.#options = options;
    this.#refreshSweep = setInterval(() => this.#refreshDue(), REFRESH_SWEEP_MS);
    // Expiry is checked by a scan, a fraction of the TTL apart (a second at most).
    const expiryMs = Math.min(1000, Math.max(10, options.unclaimedTtlMs / 4));
    this.#expirySweep = setInterval(() => this.#expireDue(), expiryMs);
    for (const timer of [this.#refreshSweep, this.#expirySweep]) Deno.unrefTimer(timer);
  }

  /** Nameplates held or being reserved. */
  get size(): number {
    return this.#held.size + this.#reserving.size;
  }

  /** Reservations lost to another instance since start. */
  get collisions(): number {
    return this.#collisions;
  }

  get(nameplate: string): Plate | undefined {
    return this.#held.get(nameplate);
  }

  keys(): IterableIterator<string> {
    return this.#held.keys();
  }

  #busy(nameplate: string): boolean {
    return this.#held.has(nameplate) || this.#reserving.has(nameplate);
  }

  /**
   * Reserves `nameplate`; true if this instance now holds it in the registry.
   * A won nameplate stays marked as being reserved until `hold` or `release`:
   * the registry answers "yes" to its owner, so nothing else here may pick it.
   */
  async #try(nameplate: string): Promise<boolean> {
    this.#reserving.add(nameplate);
    let won = false;
    try {
      won = await this.#registry.reserve(nameplate, this.#owner);
      if (!won) this.#collisions++;
      return won;
    } finally {
      if (!won) this.#reserving.delete(nameplate);
    }
  }

  /**
   * Reserves `wanted`, or a free nameplate, in the registry. The caller then
   * {@linkcode hold}s it, or {@linkcode release}s it if its sender left.
   */
  async reserve(wanted?: string): Promise<{ nameplate: string } | ReserveFailure> {
    if (this.size >= this.#options.maxNameplates) {
      return { error: "server_busy", message: "This rendezvous holds too many nameplates now" };
    }
    try {
      if (wanted !== undefined) {
        if (!this.#busy(wanted) && await this.#try(wanted)) return { nameplate: wanted };
        return { error: "nameplate_taken", message: `Nameplate ${wanted} is in use` };
      }
      const shortest = Math.min(
        NAMEPLATE_MAX_DIGITS,
        NAMEPLATE_MIN_DIGITS + (this.#options.extraDigits?.() ?? 0),
      );
      for (let digits = shortest; digits <= NAMEPLATE_MAX_DIGITS; digits++) {
        if ((this.#crowded.get(digits) ?? 0) > Date.now()) continue;
        for (let i = 0; i < NAMEPLATE_TRIES_PER_LENGTH; i++) {
          const pick = randomNameplate(digits);
          if (!this.#busy(pick) && await this.#try(pick)) return { nameplate: pick };
        }
        this.#crowded.set(digits, Date.now() + CROWDED_LENGTH_MS);
      }
    } catch (error) {
      this.#options.log(`registry: cannot reserve: ${(error as Error).message}`);
      return {
        error: "server_busy",
        message: "Cannot reserve a nameplate: the nameplate registry is unreachable",
      };
    }
    return { error: "no_nameplates", message: "No free nameplate" };
  }

  /** The instance holding `nameplate` in the registry, if any. */
  owner(nameplate: string): Promise<string | undefined> {
    return this.#registry.owner(nameplate);
  }

  /** Why `nameplate` takes no claim now, or its plate if it does. */
  refusal(nameplate: string): [ServerErrorCode, string] | Plate {
    const plate = this.#held.get(nameplate);
    if (!plate || plate.senderLeft) {
      return ["unknown_nameplate", `No sender is waiting on nameplate ${nameplate}`];
    }
    if (plate.claimed) {
      return [
        "nameplate_claimed",
        `Nameplate ${nameplate} was already claimed; ask the sender for a new code`,
      ];
    }
    return plate;
  }

  /** Frees `plate`'s nameplate once nobody can use it any more. */
  maybeFree(plate: Plate): void {
    if (!plate.senderLeft) return;
    // A local receiver keeps the nameplate until it leaves too; a remote one
    // cannot be heard from once the sender's link is gone.
    if (plate.claimed && !plate.receiverLeft && !plate.remoteReceiver) return;
    if (this.#held.get(plate.nameplate) === plate) this.release(plate.nameplate);
  }

  /** Starts holding a reserved nameplate. */
  hold(plate: Plate): void {
    this.#reserving.delete(plate.nameplate);
    this.#held.set(plate.nameplate, plate);
    this.#refreshes.push(plate.nameplate, Date.now() + this.#options.ttlMs / 3);
  }

  /** Stops holding (or reserving) `nameplate` and frees its registry entry. */
  release(nameplate: string): Promise<void> {
    this.#held.delete(nameplate);
    this.#reserving.delete(nameplate);
    return this.#registry.release(nameplate, this.#owner).then(
      () => {},
      (error) => this.#options.log(`registry: cannot release ${nameplate}: ${error.message}`),
    );
  }

  /** Refreshes held nameplates whose refresh is due. */
  #refreshDue(): void {
    this.#refreshes.drain(Date.now(), (nameplate) => {
      const plate = this.#held.get(nameplate);
      if (plate) this.#refresh(plate);
    });
  }

  /** Hands every held nameplate unclaimed for its TTL to `onExpired`. */
  #expireDue(): void {
    const deadline = Date.now() - this.#options.unclaimedTtlMs;
    for (const plate of this.#held.values()) {
      if (!plate.claimed && plate.heldAt <= deadline) this.#options.onExpired(plate);
    }
  }

  async #refresh(plate: Plate): Promise<void> {
    this.#refreshes.push(plate.nameplate, Date.now() + this.#options.ttlMs / 3);
    let kept;
    try {
      kept = await this.#registry.reserve(plate.nameplate, this.#owner);
    } catch (error) {
      // Kept for now: the entry outlives two failed refreshes.
      return this.#options.log(
        `registry: cannot refresh ${plate.nameplate}: ${(error as Error).message}`,
      );
    }
    if (kept || this.#held.get(plate.nameplate) !== plate) return;
    this.#held.delete(plate.nameplate);
    this.#options.onLost(plate);
  }

  /** Stops refreshing and frees every held nameplate. */
  async close(): Promise<void> {
    clearInterval(this.#refreshSweep);
    clearInterval(this.#expirySweep);
    await Promise.all([...this.#held.keys()].map((nameplate) => this.release(nameplate)));
  }
}
