/**
 * A connection to the holder of a code: messages in order, once each, over
 * whichever carrier the path machine (path.ts) has them on — the relay at
 * first, a direct connection once one is found, the relay again when it
 * breaks — with flow control and liveness of its own.
 *
 * Protocol flow (docs/protocol/connection.md):
 * - After the key is confirmed, each side sends a hello on the relay and
 *   reads the other's: the same protocol version, or a clear refusal.
 * - Every message is a record sealed once with its sequence number; the
 *   receiver acknowledges what it took, and the sender keeps what is not
 *   acknowledged, at most a window of it.
 * - A message goes on the carrier of the moment. When a carrier dies, what
 *   was last sent on it goes again on the next one; the receiver drops what
 *   it has already and puts the rest in order.
 * - Each carrier carries pings when quiet, and one that stays silent too
 *   long is dead.
 *
 * The workers are wired here, in one place: the outbox and inbox (the
 * message stream), the carriers, the search rounds, the path machine.
 *
 * @module
 */

import type { SessionKeys, Side } from "../crypto/keys.ts";
import { RecordError } from "../crypto/records.ts";
import { KIND_MESSAGE, RecordSeal, RecordUnseal } from "../crypto/sealing.ts";
import { RECORD_MAX_PLAINTEXT } from "../crypto/records.ts";
import { asPunchError, PunchError } from "../errors.ts";
import { allocateMessage, recordAround } from "../link/room.ts";
import type { FramePipe } from "../link/frames.ts";
import type { RendezvousClient } from "../rendezvous/client.ts";
import {
  type Candidates,
  decodeCandidates,
  encodeCandidates,
  NO_CANDIDATES,
} from "../transit/candidates.ts";
import { Carrier } from "./_carrier.ts";
import { EventFeed } from "./_events.ts";
import { Inbox } from "./_inbox.ts";
import { Outbox, type Sent } from "./_outbox.ts";
import { type RoundOptions, type RoundResult, runRound } from "./_search.ts";
import { type Control, decodeControl, encodeControl } from "./_wire.ts";
import {
  ACK_BATCH_BYTES,
  CARRIER_STALL_MS,
  CLOSE_WAIT_MS,
  FLOW_STALL_MS,
  KEEPALIVE_MS,
  SEARCH_RETRY_AFTER_MISS_MS,
  SEARCH_RETRY_MAX_MS,
  SEARCH_RETRY_MIN_MS,
  WINDOW_BYTES,
} from "./defaults.ts";
import {
  type Path,
  type PathFacts,
  type PathInput,
  pathOf,
  type PathOutput,
  type PathState,
  transition,
} from "./path.ts";

/** What {@linkcode Connection.events} yields. */
export type ConnectionEvent =
  | { type: "paired" }
  | { type: "path"; path: "relay" | "direct"; address?: string; reason?: string }
  | { type: "fallback"; reason: string }
  | { type: "closed" }
  | { type: "error"; error: PunchError };

/** A connection to the other side: docs/api.md, "Connection". */
export interface Connection extends AsyncDisposable {
  readonly code: string;
  readonly side: Side;
  readonly path: Path;
  readonly ready: Promise<void>;
  events(): AsyncIterableIterator<ConnectionEvent>;
  send(message: Uint8Array): Promise<void>;
  receive(options?: { signal?: AbortSignal }): Promise<Uint8Array | null>;
  close(): Promise<void>;
  abort(reason?: unknown): void;
  readonly sentTag: Uint8Array;
  readonly receivedTag: Uint8Array;
}

/** The timings of a connection (defaults.ts); tests shorten them. */
export interface ConnectionTimings {
  keepaliveMs: number;
  carrierStallMs: number;
  flowStallMs: number;
  closeWaitMs: number;
  retryMinMs: number;
  retryAfterMissMs: number;
  retryMaxMs: number;
}

/** The timings of defaults.ts. */
export const DEFAULT_TIMINGS: Readonly<ConnectionTimings> = Object.freeze({
  keepaliveMs: KEEPALIVE_MS,
  carrierStallMs: CARRIER_STALL_MS,
  flowStallMs: FLOW_STALL_MS,
  closeWaitMs: CLOSE_WAIT_MS,
  retryMinMs: SEARCH_RETRY_MIN_MS,
  retryAfterMissMs: SEARCH_RETRY_AFTER_MISS_MS,
  retryMaxMs: SEARCH_RETRY_MAX_MS,
});

/** How a connection looks for direct paths. */
export interface DirectPolicy {
  direct: "auto" | "only" | "never";
  server: string;
  port: number;
  portMapping: boolean;
  /** Runs one search round; tests give a fake network. @default {runRound} */
  search?: (options: RoundOptions) => Promise<RoundResult>;
  /** @default {DEFAULT_TIMINGS} */
  timings?: ConnectionTimings;
}

/** Details an input carries into the machine's outputs. */
interface Detail {
  reason?: string;
  final?: boolean;
  round?: number;
  found?: { pipe: FramePipe; address: string };
  error?: PunchError;
}

/** The most a well-behaved peer can have in this side's inbox: its window and one record. */
const INBOX_BYTES = WINDOW_BYTES + RECORD_MAX_PLAINTEXT;
/** How often carriers are checked for pings due and for silence: a fifth of the keepalive. */
const LIVENESS_TICKS_PER_KEEPALIVE = 5;

/** The connection; made by `openSender()` / `openReceiver()` (open.ts). */
export class PunchConnection implements Connection {
  readonly code: string;
  readonly side: Side;
  readonly #client: RendezvousClient;
  readonly #policy: DirectPolicy;
  readonly #timings: ConnectionTimings;
  readonly #ready = Promise.withResolvers<void>();
  readonly #events = new EventFeed<ConnectionEvent>();
  readonly #outbox = new Outbox(WINDOW_BYTES, RECORD_MAX_PLAINTEXT);
  readonly #inbox = new Inbox(INBOX_BYTES);
  #state: PathState = "pairing";
  #keys: SessionKeys | undefined;
  #seal: RecordSeal | undefined;
  #unseal: RecordUnseal | undefined;
  #relay: Carrier | undefined;
  #direct: Carrier | undefined;
  readonly #lastControl = new Map<number, number>();
  readonly #toldBroken = new Set<number>();
  #round = 0;
  /** The direct carrier dropped last. */
  #dropped = 0;
  #roundStop: AbortController | undefined;
  readonly #heard = new Map<number, PromiseWithResolvers<Candidates>>();
  #backoffMs: number;
  #whySaid = false;
  #roundTimer: ReturnType<typeof setTimeout> | undefined;
  #liveness: ReturnType<typeof setInterval> | undefined;
  #error: PunchError | undefined;
  #sentTag: Uint8Array = new Uint8Array(16);
  #receivedTag: Uint8Array = new Uint8Array(16);
  /** The message `receive()` returned last, taken once `receive()` is called again. */
  #inHand: number | undefined;
  #ackedTaken = 0;
  #owedBytes = 0;
  #closing = false;
  readonly #settled = Promise.withResolvers<void>();

  constructor(code: string, side: Side, client: RendezvousClient, policy: DirectPolicy) {
    this.code = code;
    this.side = side;
    this.#client = client;
    this.#policy = policy;
    this.#timings = policy.timings ?? DEFAULT_TIMINGS;
    this.#backoffMs = this.#timings.retryMinMs;
    this.#ready.promise.catch(() => {});
  }

  get path(): Path {
    return pathOf(this.#state);
  }

  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  get sentTag(): Uint8Array {
    return this.#sentTag;
  }

  get receivedTag(): Uint8Array {
    return this.#receivedTag;
  }

  events(): AsyncIterableIterator<ConnectionEvent> {
    return this.#events.watch();
  }

  /** The rendezvous paired this side (open.ts). */
  paired(): void {
    this.#events.emit({ type: "paired" });
  }

  /**
   * The key is confirmed and the other side speaks this version: messages
   * flow on the relay, whose two ends (after the hellos) are given (open.ts).
   */
  begin(keys: SessionKeys, messageKeys: { send: Uint8Array; receive: Uint8Array }, relay: {
    writer: WritableStreamDefaultWriter<Uint8Array>;
    reader: ReadableStreamDefaultReader<Uint8Array>;
  }): void {
    if (this.#error) return;
    this.#keys = keys;
    this.#seal = new RecordSeal(messageKeys.send);
    this.#unseal = new RecordUnseal(messageKeys.receive);
    this.#relay = new Carrier(0, null, relay, this.#handlers);
    this.#relay.read();
    const tick = this.#timings.keepaliveMs / LIVENESS_TICKS_PER_KEEPALIVE;
    this.#liveness = setInterval(() => this.#checkLiveness(), tick);
    this.#input("confirmed");
  }

  async send(message: Uint8Array): Promise<void> {
    if (message.length === 0 || message.length > RECORD_MAX_PLAINTEXT) {
      throw new TypeError(
        `Cannot send a message of ${message.length} bytes: 1 to ${RECORD_MAX_PLAINTEXT}`,
      );
    }
    if (this.#closing) throw new TypeError("Cannot send on a connection being closed");
    await this.#ready.promise;
    await this.#room();
    if (this.#error) throw this.#error;
    this.#queue(message);
    const carrier = this.#carrier();
    if (carrier) await carrier.write(this.#lastSent!.record);
  }

  async receive(options: { signal?: AbortSignal } = {}): Promise<Uint8Array | null> {
    this.#release();
    for (;;) {
      const arrived = this.#inbox.take();
      if (arrived) {
        this.#receivedTag = arrived.tag;
        if (arrived.message.length === 0) {
          this.#ack(true);
          return null;
        }
        this.#inHand = arrived.message.length;
        return arrived.message;
      }
      this.#ack(true);
      await raceSignal(this.#inbox.arrival(), options.signal);
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return await this.#settled.promise;
    this.#closing = true;
    if (this.#state === "closed") return this.#settled.resolve();
    try {
      // A connection that failed has said so already (ready, events, every call).
      if (!await this.#ready.promise.then(() => true, () => false)) return;
      this.#release();
      this.#drain();
      await this.#room();
      this.#queue(new Uint8Array(0));
      const carrier = this.#carrier();
      if (carrier) await carrier.write(this.#lastSent!.record);
      await this.#whenEnded(this.#timings.closeWaitMs);
      for (const carrier of [this.#direct, this.#relay]) {
        if (carrier && !carrier.ended) {
          await carrier.write(this.#control({ type: "final" }, carrier));
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
    if (this.#state === "closed") return;
    await this.close().catch(() => {});
  }

  /** Fails the connection (open.ts calls it for a failed pairing). */
  fail(error: PunchError): void {
    this.#fail(error);
  }

  // --- the message stream ---

  #lastSent: Sent | undefined;

  /** Seals and keeps the next message; it goes out with {@linkcode #carrier}. */
  #queue(message: Uint8Array): void {
    let record = recordAround(message);
    if (record === null) {
      const copy = allocateMessage(message.length);
      copy.set(message);
      record = recordAround(copy)!;
    }
    this.#seal!.message(this.#outbox.next, record);
    this.#sentTag = record.slice(record.length - 16);
    this.#lastSent = this.#outbox.add(record, message.length, this.#carrier()?.id ?? null);
  }

  /** Where messages go now: the direct carrier, else the relay (not with `direct: "only"`). */
  #carrier(): Carrier | undefined {
    if (this.#direct) return this.#direct;
    return this.#policy.direct === "only" ? undefined : this.#relay;
  }

  /** Waits for room in the window, failing with `stalled` when it stays shut while the peer lives. */
  async #room(): Promise<void> {
    if (this.#outbox.open) return;
    const ms = this.#timings.flowStallMs;
    const timer = setTimeout(() =>
      this.#fail(
        new PunchError("stalled", `The other side has taken nothing for ${ms / 1000} s; giving up`),
      ), ms);
    try {
      await this.#outbox.room();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends again, on the carrier of now, what last went out on `carrier`. */
  #resend(carrier: number | null): void {
    const next = this.#carrier();
    if (!next) return;
    for (const sent of this.#outbox.on(carrier)) {
      sent.carrier = next.id;
      next.write(sent.record);
    }
  }

  /** The message in the application's hands is done with: it counts as taken. */
  #release(): void {
    if (this.#inHand === undefined) return;
    this.#owedBytes += this.#inHand;
    this.#inHand = undefined;
    this.#ack(false);
  }

  /** Acknowledges what was taken: in batches, or everything owed when `now`. */
  #ack(now: boolean): void {
    const taken = this.#inbox.taken - (this.#inHand === undefined ? 0 : 1);
    if (taken <= this.#ackedTaken || (!now && this.#owedBytes < ACK_BATCH_BYTES)) return;
    const carrier = this.#direct ?? this.#relay;
    if (!carrier) return;
    this.#ackedTaken = taken;
    this.#owedBytes = 0;
    carrier.write(this.#control({ type: "ack", taken }, carrier));
  }

  /** While closing, whatever arrives is taken at once, so the other side's close can finish. */
  #drain(): void {
    if (!this.#closing) return;
    while (this.#inbox.waiting) {
      const arrived = this.#inbox.take()!;
      this.#owedBytes += arrived.message.length;
    }
    this.#ack(true);
  }

  /** Resolves once both directions ended (or the other side left, or `ms` passed). */
  async #whenEnded(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (
      !(this.#outbox.empty && this.#inbox.ended) && performance.now() < deadline &&
      this.#relay !== undefined && !(this.#relay.ended && !this.#direct)
    ) {
      if (this.#error) throw this.#error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  // --- carriers ---

  readonly #handlers = {
    frame: (carrier: Carrier, frame: Uint8Array<ArrayBuffer>) => this.#onFrame(carrier, frame),
    end: (carrier: Carrier, error: unknown) => this.#onCarrierEnd(carrier, error),
  };

  #onFrame(carrier: Carrier, frame: Uint8Array<ArrayBuffer>): void {
    try {
      const record = this.#unseal!.open(frame, carrier.id);
      if (record.kind === KIND_MESSAGE) {
        this.#inbox.accept(record.number, record.plaintext, record.tag);
        return this.#drain();
      }
      const last = this.#lastControl.get(carrier.id) ?? -1;
      if (record.number <= last) {
        throw new PunchError(
          "tampered",
          `Control record ${record.number} came again on carrier ${carrier.id}`,
        );
      }
      this.#lastControl.set(carrier.id, record.number);
      this.#onControl(carrier, decodeControl(record.plaintext));
    } catch (error) {
      const kind = error instanceof RecordError && error.code === "tampered"
        ? "tampered"
        : "protocol";
      this.#fail(asPunchError(error, kind));
    }
  }

  #onControl(carrier: Carrier, control: Control): void {
    switch (control.type) {
      case "ack":
        this.#outbox.ack(control.taken);
        return;
      case "broken":
        if (this.#direct?.id === control.carrier) {
          this.#toldBroken.add(control.carrier);
          this.#input("peer_broken", { reason: "the other side's direct connection broke" });
        }
        return;
      case "candidates":
        return this.#onCandidates(control.round, control.json);
      case "final":
        carrier.finalHeard = true;
        if (carrier === this.#direct && !this.#inbox.ended) {
          this.#input("broken", { reason: "the other side closed it" });
        }
        return;
      case "ping":
        return;
    }
  }

  #onCarrierEnd(carrier: Carrier, error: unknown): void {
    if (this.#state === "closed") return;
    // The other side is done with it (its final record, or the end of its
    // messages): nothing is lost, only where later records go changes.
    const quiet = carrier.finalHeard || this.#inbox.ended;
    if (carrier === this.#relay) {
      this.#resend(0);
      if (quiet) return;
      const detail = error instanceof PunchError ? { error } : {
        error: new PunchError("peer_gone", "The other side left before the end", { cause: error }),
      };
      return this.#input("relay_lost", detail);
    }
    if (carrier !== this.#direct) return;
    if (quiet) {
      this.#direct = undefined;
      return this.#resend(carrier.id);
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
        carrier.write(this.#control({ type: "ping" }, carrier));
      }
    }
  }

  #control(control: Control, carrier: Carrier): Uint8Array {
    return this.#seal!.control(encodeControl(control), carrier.id);
  }

  // --- the search ---

  #heardFor(round: number): PromiseWithResolvers<Candidates> {
    let heard = this.#heard.get(round);
    if (!heard) this.#heard.set(round, heard = Promise.withResolvers<Candidates>());
    return heard;
  }

  #onCandidates(round: number, json: Uint8Array): void {
    let candidates: Candidates;
    try {
      candidates = decodeCandidates(json);
    } catch (error) {
      return this.#fail(asPunchError(error, "protocol"));
    }
    if (round < this.#round) return;
    this.#heardFor(round).resolve(candidates);
    if (this.side === "receiver" && round > this.#round) this.#input("candidates", { round });
  }

  #startRound(round: number): void {
    this.#round = round;
    this.#roundStop?.abort();
    const stop = this.#roundStop = new AbortController();
    const relay = this.#relay!;
    (this.#policy.search ?? runRound)({
      round,
      side: this.side,
      keys: this.#keys!,
      server: this.#policy.server,
      port: this.#policy.port,
      portMapping: this.#policy.portMapping,
      tell: (own) =>
        relay.write(
          this.#control({ type: "candidates", round, json: encodeCandidates(own) }, relay),
        ),
      heard: this.#heardFor(round).promise,
      signal: stop.signal,
    }).then((result) => {
      this.#heard.delete(round);
      if (this.#round !== round || this.#state !== "searching") {
        if (result.found) result.pipe.writable.abort().catch(() => {});
        return;
      }
      if (result.found) return this.#input("found", { round, found: result });
      relay.write(this.#control({ type: "broken", carrier: round }, relay));
      this.#input("not_found", { reason: result.reason, final: result.final });
      const later = [...this.#heard.keys()].find((r) => r > round);
      if (this.side === "receiver" && later !== undefined) {
        this.#input("candidates", { round: later });
      }
    }, (error) => this.#fail(asPunchError(error, "network")));
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
    if (!row) return;
    this.#state = row.to;
    for (const output of row.outputs) this.#perform(output, detail);
  }

  #perform(output: PathOutput, detail: Detail): void {
    switch (output) {
      case "announce_relay":
        this.#ready.resolve();
        return this.#events.emit({ type: "path", path: "relay" });
      case "offer_none":
        return void this.#relay!.write(
          this.#control(
            { type: "candidates", round: 1, json: encodeCandidates(NO_CANDIDATES) },
            this.#relay!,
          ),
        );
      case "start_round":
        return this.#startRound(detail.round ?? this.#round + 1);
      case "use_direct": {
        const { pipe, address } = detail.found!;
        this.#direct = Carrier.over(detail.round!, address, pipe, this.#handlers);
        this.#direct.read();
        return this.#resend(null);
      }
      case "announce_direct":
        return this.#events.emit({ type: "path", path: "direct", address: detail.found!.address });
      case "reset_backoff":
        this.#backoffMs = this.#timings.retryMinMs;
        this.#whySaid = false;
        return;
      case "announce_why":
        if (this.#whySaid) return;
        this.#whySaid = true;
        if (this.#policy.direct !== "only") {
          this.#events.emit({ type: "path", path: "relay", reason: detail.reason! });
        }
        if (this.#backoffMs === this.#timings.retryMinMs) {
          this.#backoffMs = this.#timings.retryAfterMissMs;
        }
        return;
      case "schedule_round": {
        const wait = this.#backoffMs;
        this.#backoffMs = Math.min(this.#backoffMs * 2, this.#timings.retryMaxMs);
        this.#roundTimer = setTimeout(() => this.#input("due"), wait);
        return;
      }
      case "drop_direct": {
        const direct = this.#direct!;
        this.#direct = undefined;
        this.#dropped = direct.id;
        direct.drop();
        return this.#resend(direct.id);
      }
      case "tell_broken": {
        const id = this.#dropped;
        if (this.#toldBroken.has(id)) return;
        this.#toldBroken.add(id);
        return void this.#relay?.write(this.#control({ type: "broken", carrier: id }, this.#relay));
      }
      case "announce_fallback":
        this.#whySaid = false;
        return this.#events.emit({ type: "fallback", reason: detail.reason! });
      case "fail_no_direct":
        return this.#teardown(
          new PunchError("no_direct", `No direct connection (direct only): ${detail.reason}`),
        );
      case "fail":
        return this.#teardown(
          detail.error ?? new PunchError("network", detail.reason ?? "The connection failed"),
        );
      case "announce_closed":
        this.#stopTimers();
        this.#events.emit({ type: "closed" });
        return this.#events.end();
    }
  }

  #fail(error: PunchError): void {
    this.#input("fail", { error });
  }

  #teardown(error: PunchError): void {
    this.#error = error;
    this.#stopTimers();
    this.#ready.reject(error);
    this.#outbox.fail(error);
    this.#inbox.fail(error);
    this.#direct?.drop(error);
    this.#relay?.drop(error);
    this.#client.release(error.kind === "wrong_code" ? "scary" : "errory").catch(() => {});
    this.#events.emit({ type: "error", error });
    this.#events.end();
  }

  #stopTimers(): void {
    clearInterval(this.#liveness);
    clearTimeout(this.#roundTimer);
    this.#roundStop?.abort();
  }
}

/** `promise`, or a `cancelled` rejection when `signal` aborts first. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new PunchError("cancelled", "Cancelled"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new PunchError("cancelled", "Cancelled"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
