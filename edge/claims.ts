/**
 * Claim budgets: how often a client address may claim a nameplate, and how
 * the instance notices a sweep — many failed claims, from one address or
 * many — and answers it.
 *
 * Protocol flow:
 * - Every claim takes a token from its address's bucket (`claimBurst`
 *   tokens, one back every `claimRefillMs`); an empty bucket is refused
 *   with `rate_limited` and the wait. A receiver claims once or twice.
 * - A failed claim (no such nameplate, claimed already, a wrong code, or a
 *   claimant that left before the key exchange) is remembered for its
 *   address and counted in a failure rate across all addresses (failures
 *   in about the last minute, decaying).
 * - While that rate is at or above `sweepFailedClaimsPerMinute`, an address
 *   that failed lately may claim once per `sweepRetryMs` only, and new
 *   nameplates grow a digit for each tenfold of the threshold (up to 8), so
 *   a sweep spread over many addresses has ten times the nameplates to try
 *   for each step, while honest receivers, whose claims succeed, keep their
 *   budget.
 *
 * State is per instance: a cluster's load balancer spreads a sweep over the
 * instances, each of which sees its share.
 *
 * @module
 */

import { MAX_TRACKED_ADDRESSES, SWEEP_WINDOW_MS } from "./defaults.ts";

/** Options for {@linkcode ClaimBudgets}. */
export interface ClaimBudgetsOptions {
  /** Claims an address may make at once. */
  claimBurst: number;
  /** One claim comes back to an address's budget this often. */
  claimRefillMs: number;
  /** Failed claims per minute, across all addresses, that make a sweep. */
  sweepFailedClaimsPerMinute: number;
  /** During a sweep, an address that failed lately claims at most this often. */
  sweepRetryMs: number;
  /** The clock, for tests. @default {Date.now} */
  now?: () => number;
}

interface Budget {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
  /** When a claim of this address last failed, or -Infinity. */
  failedAt: number;
}

/** Claim budgets per client address and the failure rate across them. */
export class ClaimBudgets {
  readonly #options: Required<ClaimBudgetsOptions>;
  /** In order of last use, so the least recently used goes first when the table is full. */
  readonly #budgets = new Map<string, Budget>();
  #failures = 0;
  #failuresAt = 0;

  constructor(options: ClaimBudgetsOptions) {
    this.#options = { now: Date.now, ...options };
  }

  /**
   * Takes a claim from `key`'s budget: 0 if it may claim now, else how many
   * milliseconds until it may.
   */
  claim(key: string): number {
    const now = this.#options.now();
    const budget = this.#budget(key, now);
    const sinceFailure = now - budget.failedAt;
    if (this.sweeping && sinceFailure < this.#options.sweepRetryMs) {
      return this.#options.sweepRetryMs - sinceFailure;
    }
    if (budget.tokens < 1) return Math.ceil((1 - budget.tokens) * this.#options.claimRefillMs);
    budget.tokens -= 1;
    return 0;
  }

  /** A claim of `key` failed. */
  failed(key: string): void {
    const now = this.#options.now();
    this.#budget(key, now).failedAt = now;
    this.#failures = this.#failureRate(now) + 1;
    this.#failuresAt = now;
  }

  /** Failed claims in about the last minute, across all addresses. */
  get failuresPerMinute(): number {
    return this.#failureRate(this.#options.now());
  }

  /** Whether failed claims run at or above the sweep threshold. */
  get sweeping(): boolean {
    return this.failuresPerMinute >= this.#options.sweepFailedClaimsPerMinute;
  }

  /** Digits to add to new nameplates: one per tenfold of the threshold, at most 4. */
  get extraDigits(): number {
    const ratio = this.failuresPerMinute / this.#options.sweepFailedClaimsPerMinute;
    return ratio < 1 ? 0 : Math.min(4, 1 + Math.floor(Math.log10(ratio)));
  }

  #failureRate(now: number): number {
    return this.#failures * Math.exp(-(now - this.#failuresAt) / SWEEP_WINDOW_MS);
  }

  #budget(key: string, now: number): Budget {
    const { claimBurst, claimRefillMs } = this.#options;
    let budget = this.#budgets.get(key);
    if (budget === undefined) {
      budget = { tokens: claimBurst, at: now, failedAt: -Infinity };
      if (this.#budgets.size >= MAX_TRACKED_ADDRESSES) {
        const [oldest] = this.#budgets.keys();
        this.#budgets.delete(oldest!);
      }
    } else {
      budget.tokens = Math.min(claimBurst, budget.tokens + (now - budget.at) / claimRefillMs);
      budget.at = now;
      this.#budgets.delete(key);
    }
    this.#budgets.set(key, budget);
    return budget;
  }
}
