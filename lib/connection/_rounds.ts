// The rounds of a connection's search for a direct path: numbering, the
// candidates each side sends for a round, and the backoff between rounds.
// Whether a round runs is the path machine's call; this runs it.

import type { SessionKeys, Side } from "../crypto/keys.ts";
import { asPunchError, type PunchError } from "../errors.ts";
import type { FramePipe } from "../link/frames.ts";
import { type Candidates, decodeCandidates, encodeCandidates } from "../transit/candidates.ts";
import { type EarlyTransit, runRound } from "./_search.ts";
import type { Control } from "./_wire.ts";
import type { ConnectionTimings, DirectPolicy } from "./types.ts";

/**
 * How long the sender waits for the echo of its probe: the relay's round
 * trip is milliseconds to a few hundred; past this the dialing starts
 * untimed rather than late.
 */
const ECHO_WAIT_MS = 1_000;
/**
 * How long the sender waits for its messages in flight to be taken before
 * it probes: a window's worth on a relay of a few MB/s; past this it
 * probes behind what is left.
 */
const DRAIN_WAIT_MS = 1_000;
/**
 * The longest the sender holds its messages back for one round's timing,
 * from the round's start: where the other side's candidates are slow to come,
 * the transfer goes on meanwhile (and `go` is held back again, briefly,
 * once they have come).
 */
const HOLD_MAX_MS = 500;
/** How long the receiver waits for `go` once it has both sides' candidates. */
const GO_WAIT_MS = 2_000;

/** The other side's candidates of one round, as they trickle in. */
interface PeerCandidates {
  /** Every address it has named. */
  seen: Set<string>;
  /** The addresses of its first list, which the round dials from the start. */
  first?: Set<string>;
  /** Makes the running round dial one more, once it dials. */
  add?: (address: string) => void;
}

/** The sender holding its messages back for one round's timing. */
interface Holding {
  round: number;
  /** Settles once what was in flight has been taken (or the wait for it ran out). */
  drained: Promise<void>;
  /** Ends the hold HOLD_MAX_MS after `drained`. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** What the rounds tell their connection. */
export interface RoundHooks {
  /** Sends a control record on the relay (candidates, probe, go). */
  send(control: Control): Promise<void>;
  /**
   * Holds this side's messages back and resolves once none is in flight
   * (or after `ms`): the relay then carries the probe, its echo and `go`
   * with nothing queued before them.
   */
  hold(ms: number): Promise<void>;
  /** Lets this side's messages out again. */
  resume(): void;
  /** The round found a direct connection. */
  found(round: number, found: { pipe: FramePipe; address: string }): void;
  /** The round found none; `final` when no later round can. */
  missed(round: number, reason: string, final: boolean): void;
  /** The other side began a round this side has not (the receiver follows the sender). */
  began(round: number): void;
  /** A round failed for a reason no retry mends (a fixed port that cannot be had). */
  fail(error: PunchError): void;
}

/** The search rounds of one connection. */
export class Rounds {
  readonly #side: Side;
  readonly #keys: SessionKeys;
  readonly #policy: DirectPolicy;
  readonly #timings: ConnectionTimings;
  readonly #hooks: RoundHooks;
  readonly #heard = new Map<number, PromiseWithResolvers<Candidates>>();
  /** Per round: the echo of the sender's probe (sender), or the sender's go (receiver). */
  readonly #timing = new Map<number, PromiseWithResolvers<void>>();
  /** Round 1's Transit, opened while the key exchange ran. */
  #early: EarlyTransit | undefined;
  /** The round for which the sender holds its messages back, if any. */
  #holding: Holding | undefined;
  /** Per round: the other side's candidates seen, and what makes the round dial one more. */
  readonly #peer = new Map<number, PeerCandidates>();
  /** The round that runs or ran last. */
  current = 0;
  #stop: AbortController | undefined;
  /** The running round, settled once it ends (found, missed or failed). */
  #running: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #backoffMs: number;

  constructor(
    side: Side,
    keys: SessionKeys,
    policy: DirectPolicy,
    timings: ConnectionTimings,
    hooks: RoundHooks,
    early?: EarlyTransit,
  ) {
    this.#side = side;
    this.#keys = keys;
    this.#policy = policy;
    this.#timings = timings;
    this.#hooks = hooks;
    this.#backoffMs = timings.retryMinMs;
    this.#early = early;
  }

  /** Starts `round` (the next one by default), ending any that runs. */
  start(round: number = this.current + 1): void {
    this.current = round;
    this.#stop?.abort();
    const stop = this.#stop = new AbortController();
    this.#running = (this.#policy.search ?? runRound)({
      round,
      side: this.#side,
      keys: this.#keys,
      server: this.#policy.server,
      port: this.#policy.port,
      portMapping: this.#policy.portMapping,
      tell: (own) => this.#hooks.send({ type: "candidates", round, json: encodeCandidates(own) }),
      heard: this.#heardFor(round).promise,
      align: () => this.#align(round),
      dialing: (add) => {
        const peer = this.#peerFor(round);
        peer.add = add;
        // What trickled in between the first list and the dialing.
        for (const address of peer.seen) if (!peer.first?.has(address)) add(address);
      },
      ...(round === 1 && this.#early ? { transit: this.#early } : {}),
      signal: stop.signal,
    }).then((result) => {
      this.#heard.delete(round);
      this.#timing.delete(round);
      this.#peer.delete(round);
      this.#release(round);
      if (result.found) return this.#hooks.found(round, result);
      this.#hooks.missed(round, result.reason, result.final);
      // The sender may have begun the next round while this one ran here.
      const later = [...this.#heard.keys()].find((r) => r > round);
      if (this.#side === "receiver" && later !== undefined) this.#hooks.began(later);
    }, (error) => {
      this.#release(round);
      this.#hooks.fail(asPunchError(error, "network"));
    });
    // The sender holds its messages back at once, so that nothing is
    // queued on the relay by the time the candidates have crossed.
    if (this.#side === "sender") void this.#hold(round);
  }

  /** The other side's candidates for `round` arrived. Throws `TypeError` if malformed. */
  heard(round: number, json: Uint8Array): void {
    const candidates = decodeCandidates(json);
    if (round < this.current) return;
    // The same round again: the other side's list grew (a late port mapping).
    const peer = this.#peerFor(round);
    const fresh = candidates.candidates.filter((address) => !peer.seen.has(address));
    for (const address of fresh) peer.seen.add(address);
    peer.first ??= new Set(candidates.candidates);
    if (peer.add) { for (const address of fresh) peer.add(address); }
    this.#heardFor(round).resolve(candidates);
    if (this.#side === "receiver" && round > this.current) this.#hooks.began(round);
  }

  /** The echo of this side's probe for `round` came (the sender), or the sender's go (the receiver). */
  timed(round: number): void {
    this.#timingFor(round).resolve();
  }

  /**
   * Resolves with the moment to dial in `round` (`performance.now()`'s
   * clock). The sender probes the relay once it has the candidates, sends
   * `go` on the echo, and dials half the round trip after the echo came:
   * then its first SYN leaves as the receiver's does, which dials on `go`.
   * A side that hears nothing in time dials at once.
   */
  async #align(round: number): Promise<number> {
    if (this.#side === "receiver") {
      await within(this.#timingFor(round).promise, GO_WAIT_MS);
      return performance.now();
    }
    // Still held from the round's start, or, where that ran out while the
    // candidates came, held again until go has gone.
    const holding = this.#holding?.round === round ? this.#holding : undefined;
    await (holding?.drained ?? this.#hold(round));
    try {
      const started = performance.now();
      await this.#hooks.send({ type: "probe", round, id: round });
      const echoed = await within(this.#timingFor(round).promise, ECHO_WAIT_MS);
      const echoAt = performance.now();
      // Counted from the echo, not from when the send below returns.
      await this.#hooks.send({ type: "go", round });
      return echoed ? echoAt + (echoAt - started) / 2 : performance.now();
    } finally {
      this.#release(round);
    }
  }

  /**
   * Holds this side's messages back for `round` (up to HOLD_MAX_MS), once
   * those in flight have been taken: messages queued on the relay would
   * hold the probe and `go` back by their own time (seen in the lab: 640 ms
   * behind a transfer's window, against a 170 ms round trip, where two SYNs
   * had to leave within 20 ms of each other).
   */
  #hold(round: number): Promise<void> {
    this.#release(this.#holding?.round);
    const holding: Holding = {
      round,
      timer: undefined,
      drained: this.#hooks.hold(DRAIN_WAIT_MS).then(() => {
        if (this.#holding === holding) {
          holding.timer = setTimeout(() => this.#release(round), HOLD_MAX_MS);
        }
      }),
    };
    this.#holding = holding;
    return holding.drained;
  }

  /** Lets this side's messages out again, if `round` holds them. */
  #release(round: number | undefined): void {
    if (round === undefined || this.#holding?.round !== round) return;
    clearTimeout(this.#holding.timer);
    this.#holding = undefined;
    this.#hooks.resume();
  }

  #peerFor(round: number): PeerCandidates {
    let peer = this.#peer.get(round);
    if (!peer) this.#peer.set(round, peer = { seen: new Set() });
    return peer;
  }

  #timingFor(round: number): PromiseWithResolvers<void> {
    let timing = this.#timing.get(round);
    if (!timing) this.#timing.set(round, timing = Promise.withResolvers<void>());
    return timing;
  }

  /** The next round is due after the backoff (the sender's timer), which then doubles. */
  schedule(due: () => void): void {
    const wait = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#timings.retryMaxMs);
    this.#timer = setTimeout(due, wait);
  }

  /** A round found a path: the next break waits the shortest backoff again. */
  resetBackoff(): void {
    this.#backoffMs = this.#timings.retryMinMs;
  }

  /** A round that found nothing where no break came before: the next waits longer. */
  missed(): void {
    if (this.#backoffMs === this.#timings.retryMinMs) {
      this.#backoffMs = this.#timings.retryAfterMissMs;
    }
  }

  /** Ends the running round and the timer. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#stop?.abort();
    this.#release(this.#holding?.round);
  }

  /**
   * Ends the running round and the timer, and resolves once the round has
   * said what it found (a round stopped early still says why there is no
   * direct path, as far as it knows).
   */
  async finish(): Promise<void> {
    this.stop();
    await this.#running;
  }

  #heardFor(round: number): PromiseWithResolvers<Candidates> {
    let heard = this.#heard.get(round);
    if (!heard) this.#heard.set(round, heard = Promise.withResolvers<Candidates>());
    return heard;
  }
}

/** Whether `promise` settles within `ms`. */
function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  return Promise.race([promise.then(() => true), late]).finally(() => clearTimeout(timer));
}
