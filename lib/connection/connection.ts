/**
 * A connection to the holder of a code: messages in order, once each, over
 * whichever carrier the path machine (path.ts) has them on — the relay at
 * first, a direct connection once one is found, the relay again when it
 * breaks — with flow control and liveness of its own.
 *
 * Protocol flow (docs/protocol/connection.md):
 * - After the key is confirmed and the hellos agree (open.ts), messages
 *   flow on the relay and the first search round starts.
 * - Every message is sealed once with its number; the receiver acknowledges
 *   what it took, and the sender keeps what is not acknowledged (_stream.ts).
 * - A message goes on the carrier of the moment. When a carrier dies, what
 *   was last sent on it goes again on the next one; the receiver drops what
 *   it has already and puts the rest in order.
 * - Each carrier carries pings when quiet; one that stays silent is dead.
 *
 * The workers are wired here, in one place: the message stream, the
 * carriers, the search rounds (_rounds.ts) and the path machine, whose
 * outputs this class performs.
 *
 * @module
 */

import type { SessionKeys, Side } from "../crypto/keys.ts";
import { RECORD_MAX_PLAINTEXT } from "../crypto/records.ts";
import { asPunchError, PunchError } from "../errors.ts";
import type { FramePipe } from "../link/frames.ts";
import type { RendezvousClient } from "../rendezvous/client.ts";
import { encodeCandidates, NO_CANDIDATES } from "../transit/candidates.ts";
import { Carrier } from "./_carrier.ts";
import { EventFeed } from "./_events.ts";
import { Rounds } from "./_rounds.ts";
import { type EarlyTransit, openTransit } from "./_search.ts";
import { MessageStream } from "./_stream.ts";
import type { Control } from "./_wire.ts";
import {
  type Path,
  type PathFacts,
  type PathInput,
  pathOf,
  type PathOutput,
  type PathState,
  transition,
} from "./path.ts";
import {
  type Connection,
  type ConnectionEvent,
  type ConnectionTimings,
  DEFAULT_TIMINGS,
  type DirectPolicy,
  type Traffic,
} from "./types.ts";

/** Details an input carries into the machine's outputs. */
interface Detail {
  reason?: string;
  final?: boolean;
  round?: number;
  found?: { pipe: FramePipe; address: string };
  error?: PunchError;
}

/** How often carriers are checked for pings due and for silence: five times a keepalive. */
const LIVENESS_TICKS_PER_KEEPALIVE = 5;

/** The two ends of the relay's frame pipe, after the hellos. */
export interface RelayEnds {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  reader: ReadableStreamDefaultReader<Uint8Array>;
}

/** The connection; made by `openSender()` / `openReceiver()` (open.ts). */
export class PunchConnection implements Connection {
  readonly code: string;
  readonly side: Side;
  readonly #client: RendezvousClient;
  readonly #policy: DirectPolicy;
  readonly #timings: ConnectionTimings;
  readonly #ready = Promise.withResolvers<void>();
  readonly #events = new EventFeed<ConnectionEvent>();
  readonly #settled = Promise.withResolvers<void>();
  #state: PathState = "pairing";
  #stream: MessageStream | undefined;
  #rounds: Rounds | undefined;
  #relay: Carrier | undefined;
  #direct: Carrier | undefined;
  /** The direct carrier dropped last, and those the other side was told of (or told us of). */
  #dropped = 0;
  readonly #toldBroken = new Set<number>();
  /** Why a direct path is missing has been said since the last move. */
  #whySaid = false;
  /** A direct path was found at some point: at the end, a missed round is no news. */
  #everDirect = false;
  #liveness: ReturnType<typeof setInterval> | undefined;
  /** Round 1's Transit, opened at pairing; closed by its round, or here if none runs. */
  #early: EarlyTransit | undefined;
  readonly #earlyStop = new AbortController();
  #error: PunchError | undefined;
  #closing = false;

  constructor(code: string, side: Side, client: RendezvousClient, policy: DirectPolicy) {
    this.code = code;
    this.side = side;
    this.#client = client;
    this.#policy = policy;
    this.#timings = policy.timings ?? DEFAULT_TIMINGS;
    this.#ready.promise.catch(() => {});
  }

  get path(): Path {
    return pathOf(this.#state);
  }

  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  get sentTag(): Uint8Array {
    return this.#stream?.sentTag ?? new Uint8Array(16);
  }

  get receivedTag(): Uint8Array {
    return this.#stream?.receivedTag ?? new Uint8Array(16);
  }

  get traffic(): Readonly<Traffic> {
    return this.#stream?.traffic ?? { relay: 0, direct: 0, resent: 0 };
  }

  events(): AsyncIterableIterator<ConnectionEvent> {
    return this.#events.watch();
  }

  /** The claimant left before the key exchange; the sender waits for another (open.ts). */
  unpaired(): void {
    this.#events.emit({ type: "unpaired" });
  }

  /**
   * The rendezvous paired this side (open.ts): round 1's listening port and
   * its public address are set up while the key exchange runs.
   */
  paired(): void {
    this.#events.emit({ type: "paired" });
    const policy = this.#policy;
    if (policy.direct === "never" || policy.search !== undefined || this.#early) return;
    this.#early = openTransit({ ...policy, side: this.side, signal: this.#earlyStop.signal });
    this.#early.transit.catch(() => {});
  }

  /** The key is confirmed and the hellos agree (open.ts): messages flow on the relay. */
  begin(
    keys: SessionKeys,
    messageKeys: { send: Uint8Array; receive: Uint8Array },
    relay: RelayEnds,
  ): void {
    if (this.#error) return;
    this.#stream = new MessageStream(messageKeys, {
      carrier: () => this.#direct ?? (this.#policy.direct === "only" ? undefined : this.#relay),
      controlCarrier: () => this.#direct ?? this.#relay,
      fail: (error) => this.#fail(error),
      flowStallMs: this.#timings.flowStallMs,
    });
    this.#rounds = new Rounds(this.side, keys, this.#policy, this.#timings, {
      send: (control) => this.#sendControl(this.#relay, control),
      hold: (ms) => this.#stream?.hold(ms) ?? Promise.resolve(),
      resume: () => this.#stream?.resume(),
      found: (round, found) => this.#input("found", { round, found }),
      missed: (round, reason, final) => {
        this.#sendControl(this.#relay, { type: "broken", carrier: round });
        if (round === this.#rounds?.current) this.#input("not_found", { reason, final });
      },
      began: (round) => this.#input("candidates", { round }),
      fail: (error) => this.#fail(error),
    }, this.#early);
    this.#relay = new Carrier(0, null, relay, this.#handlers);
    this.#relay.read();
    const tick = this.#timings.keepaliveMs / LIVENESS_TICKS_PER_KEEPALIVE;
    this.#liveness = setInterval(() => this.#checkLiveness(), tick);
    this.#input("confirmed");
  }

  /**
   * Seals the message at once once the connection is ready (so that
   * `sentTag` is its tag when this returns), and resolves once the window
   * has room for more.
   */
  send(message: Uint8Array): Promise<void> {
    if (message.length === 0 || message.length > RECORD_MAX_PLAINTEXT) {
      return Promise.reject(
        new TypeError(
          `Cannot send a message of ${message.length} bytes: 1 to ${RECORD_MAX_PLAINTEXT}`,
        ),
      );
    }
    if (this.#closing) {
      return Promise.reject(new TypeError("Cannot send on a connection being closed"));
    }
    if (this.#error) return Promise.reject(this.#error);
    const stream = this.#stream;
    if (stream === undefined) return this.#ready.promise.then(() => this.send(message));
    return stream.send(message).then(() => {
      if (this.#error) throw this.#error;
    });
  }

  async receive(options: { signal?: AbortSignal } = {}): Promise<Uint8Array | null> {
    await this.#ready.promise;
    return await this.#stream!.receive(options.signal);
  }

  async close(): Promise<void> {
    if (this.#closing) return await this.#settled.promise;
    this.#closing = true;
    try {
      // A connection that failed has said so already (ready, events, every call).
      if (this.#state === "closed" || !await this.#ready.promise.then(() => true, () => false)) {
        return;
      }
      // Why there is no direct path, if a round ran to the end without one.
      await this.#rounds!.finish();
      const stream = this.#stream!;
      stream.drain();
      await stream.send(new Uint8Array(0));
      await this.#whenTaken(this.#timings.closeWaitMs);
      for (const carrier of [this.#direct, this.#relay]) {
        if (carrier && !carrier.ended) {
          await this.#sendControl(carrier, { type: "final" });
          await carrier.close();
        }
      }
      if (this.#error) return;
      this.#input("ended");
      await this.#client.release("happy");
    } catch (error) {
      this.#fail(asPunchError(error, "network"));
    } finally {
      this.#settled.resolve();
    }
  }

  abort(reason?: unknown): void {
    this.#fail(
      reason instanceof PunchError
        ? reason
        : new PunchError("cancelled", "Cancelled", { cause: reason }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Fails the connection (open.ts calls it for a failed pairing). */
  fail(error: PunchError): void {
    this.#fail(error);
  }

  /**
   * Resolves once the other side has taken everything this side sent, its
   * end included, or cannot be heard any more, or `ms` passed. It need not
   * have ended its own direction: what it sends later is taken and dropped.
   */
  async #whenTaken(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (!this.#stream!.allTaken && performance.now() < deadline) {
      if (this.#error) throw this.#error;
      if (this.#relay!.ended && !this.#direct) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  // --- carriers ---

  readonly #handlers = {
    frame: (carrier: Carrier, frame: Uint8Array<ArrayBuffer>) => {
      try {
        const control = this.#stream!.open(carrier, frame);
        if (control) this.#onControl(carrier, control);
      } catch (error) {
        this.#fail(asPunchError(error, "protocol"));
      }
    },
    end: (carrier: Carrier, error: unknown) => this.#onCarrierEnd(carrier, error),
  };

  #onControl(carrier: Carrier, control: Control): void {
    switch (control.type) {
      case "ack":
        return this.#stream!.acked(control.taken);
      case "broken":
        if (this.#direct?.id !== control.carrier) return;
        this.#toldBroken.add(control.carrier);
        return this.#input("peer_broken", { reason: "the other side's direct connection broke" });
      case "candidates":
        try {
          return this.#rounds!.heard(control.round, control.json);
        } catch (error) {
          return this.#fail(asPunchError(error, "protocol"));
        }
      case "probe":
        return void this.#sendControl(carrier, {
          type: "echo",
          round: control.round,
          id: control.id,
        });
      case "echo":
      case "go":
        return this.#rounds!.timed(control.round);
      case "final":
        carrier.finalHeard = true;
        if (carrier !== this.#direct || this.#stream!.peerEnded) return;
        return this.#input("broken", { reason: "the other side closed it" });
      case "ping":
        return;
    }
  }

  #onCarrierEnd(carrier: Carrier, error: unknown): void {
    if (this.#state === "closed") return;
    // The other side is done with it (its final record, or the end of its
    // messages): nothing is lost, only where later records go changes.
    const quiet = carrier.finalHeard || this.#stream!.peerEnded;
    if (carrier === this.#relay) {
      this.#stream!.resend(0);
      if (quiet) return;
      const detail = error instanceof PunchError ? { error } : {
        error: new PunchError("peer_gone", "The other side left before the end", { cause: error }),
      };
      return this.#input("relay_lost", detail);
    }
    if (carrier !== this.#direct) return;
    if (quiet) {
      this.#direct = undefined;
      return this.#stream!.resend(carrier.id);
    }
    const why = error === null || error === undefined
      ? "it ended without a word"
      : (error as Error).message ?? String(error);
    this.#input("broken", { reason: `the direct connection broke (${why})` });
  }

  #checkLiveness(): void {
    const now = performance.now();
    const { carrierStallMs, keepaliveMs } = this.#timings;
    for (const carrier of [this.#relay, this.#direct]) {
      if (!carrier || carrier.ended) continue;
      if (now - carrier.heardAt >= carrierStallMs) {
        const silent = `nothing came on it for ${carrierStallMs / 1000} s`;
        if (carrier === this.#direct) {
          this.#input("broken", { reason: `the direct connection broke (${silent})` });
        } else {
          carrier.drop();
          this.#onCarrierEnd(
            carrier,
            new PunchError("network", `The relay went silent: ${silent}`),
          );
        }
      } else if (now - carrier.sentAt >= keepaliveMs) {
        this.#sendControl(carrier, { type: "ping" });
      }
    }
  }

  #sendControl(carrier: Carrier | undefined, control: Control): Promise<void> {
    if (!carrier || carrier.ended) return Promise.resolve();
    return carrier.write(this.#stream!.control(control, carrier));
  }

  // --- the path machine ---

  #input(input: PathInput, detail: Detail = {}): void {
    const facts: PathFacts = {
      never: this.#policy.direct === "never",
      only: this.#policy.direct === "only",
      final: detail.final ?? false,
      receiver: this.side === "receiver",
    };
    const row = transition(this.#state, input, facts);
    if (!row) {
      // A connection nobody will use any more is closed here.
      if (input === "found") detail.found!.pipe.writable.abort().catch(() => {});
      return;
    }
    this.#state = row.to;
    for (const output of row.outputs) this.#perform(output, detail);
  }

  #perform(output: PathOutput, detail: Detail): void {
    switch (output) {
      case "announce_relay":
        this.#ready.resolve();
        return this.#events.emit({ type: "path", path: "relay" });
      case "offer_none":
        return void this.#sendControl(this.#relay, {
          type: "candidates",
          round: 1,
          json: encodeCandidates(NO_CANDIDATES),
        });
      case "start_round":
        return this.#rounds!.start(detail.round);
      case "use_direct": {
        const { pipe, address } = detail.found!;
        this.#direct = Carrier.over(detail.round!, address, pipe, this.#handlers);
        this.#direct.read();
        return this.#stream!.resend(null);
      }
      case "announce_direct":
        this.#everDirect = true;
        return this.#events.emit({ type: "path", path: "direct", address: detail.found!.address });
      case "reset_backoff":
        this.#whySaid = false;
        return this.#rounds!.resetBackoff();
      case "announce_why":
        this.#rounds!.missed();
        if (this.#whySaid || this.#closing && this.#everDirect) return;
        this.#whySaid = true;
        if (this.#policy.direct === "only") return;
        return this.#events.emit({ type: "path", path: "relay", reason: detail.reason! });
      case "schedule_round":
        return this.#rounds!.schedule(() => this.#input("due"));
      case "drop_direct": {
        const direct = this.#direct!;
        this.#direct = undefined;
        this.#dropped = direct.id;
        direct.drop();
        return this.#stream!.resend(direct.id);
      }
      case "tell_broken":
        if (this.#toldBroken.has(this.#dropped)) return;
        this.#toldBroken.add(this.#dropped);
        return void this.#sendControl(this.#relay, { type: "broken", carrier: this.#dropped });
      case "announce_fallback":
        this.#whySaid = false;
        return this.#events.emit({ type: "fallback", reason: detail.reason! });
      case "fail_no_direct":
        return this.#teardown(
          new PunchError("no_direct", `No direct connection (direct only): ${detail.reason}`),
        );
      case "fail":
        return this.#teardown(detail.error ?? new PunchError("network", "The connection failed"));
      case "announce_closed":
        this.#stop();
        this.#events.emit({ type: "closed" });
        return this.#events.end();
    }
  }

  #fail(error: PunchError): void {
    this.#input("fail", { error });
  }

  #teardown(error: PunchError): void {
    this.#error = error;
    this.#stop();
    this.#ready.reject(error);
    this.#stream?.fail(error);
    this.#direct?.drop(error);
    this.#relay?.drop(error);
    this.#client.release(error.kind === "wrong_code" ? "scary" : "errory").catch(() => {});
    this.#events.emit({ type: "error", error });
    this.#events.end();
  }

  #stop(): void {
    clearInterval(this.#liveness);
    this.#rounds?.stop();
    if (!this.#rounds) {
      this.#earlyStop.abort();
      this.#early?.transit.then((transit) => transit.close(), () => {});
    }
  }
}
