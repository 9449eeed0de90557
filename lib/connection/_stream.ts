// A connection's stream of messages: sealed once and numbered, kept until
// taken, sent again after a carrier dies, put back in order on arrival, and
// acknowledged (docs/protocol/connection.md, "Records" and "Flow control").

import { RECORD_MAX_PLAINTEXT, RecordError } from "../crypto/records.ts";
import { KIND_MESSAGE, RecordSeal, RecordUnseal, SEALED_OVERHEAD } from "../crypto/sealing.ts";
import { asPunchError, PunchError } from "../errors.ts";
import { allocateMessage, recordAround } from "../link/room.ts";
import { GarbageMeter } from "../memory.ts";
import type { Carrier } from "./_carrier.ts";
import { Inbox } from "./_inbox.ts";
import { Outbox } from "./_outbox.ts";
import { type Control, decodeControl, encodeControl } from "./_wire.ts";
import { ACK_BATCH_BYTES, MESSAGE_MIN_CHARGE_BYTES, WINDOW_BYTES } from "./defaults.ts";

/** What a message of `bytes` counts against the window. */
function charge(bytes: number): number {
  return Math.max(bytes, MESSAGE_MIN_CHARGE_BYTES);
}

/** What the stream needs from its connection. */
export interface StreamHooks {
  /** Where messages go now, if anywhere (`direct: "only"` without a direct path: nowhere). */
  carrier(): Carrier | undefined;
  /** Where control records go now. */
  controlCarrier(): Carrier | undefined;
  /** The stream failed: the whole connection does. */
  fail(error: PunchError): void;
  /** How long a send may wait for room while the other side lives. */
  flowStallMs: number;
}

/** The most a well-behaved peer can have in this side's inbox: its window and one record. */
const INBOX_BYTES = WINDOW_BYTES + RECORD_MAX_PLAINTEXT;

/** Both directions of a connection's messages. */
export class MessageStream {
  readonly #seal: RecordSeal;
  readonly #unseal: RecordUnseal;
  readonly #hooks: StreamHooks;
  readonly #outbox = new Outbox(WINDOW_BYTES, RECORD_MAX_PLAINTEXT);
  readonly #inbox = new Inbox(INBOX_BYTES);
  /** Young garbage collections as bytes pass (lib/memory.ts). */
  readonly #meter = new GarbageMeter();
  /** The last control number seen on each carrier. */
  readonly #lastControl = new Map<number, number>();
  /** Message bytes this side sent on the relay and on direct carriers, and sent again. */
  readonly traffic = { relay: 0, direct: 0, resent: 0 };
  sentTag: Uint8Array = new Uint8Array(16);
  receivedTag: Uint8Array = new Uint8Array(16);
  /** The size of the message `receive()` returned last; taken once `receive()` is called again. */
  #inHand: number | undefined;
  #ackedTaken = 0;
  #owedBytes = 0;
  /** Messages sealed so far: the next one's number. */
  #sealed = 0;
  /** The last send queued: the next one goes after it. */
  #sending: Promise<void> = Promise.resolve();
  /** Closing: whatever arrives is taken at once, so that the other side's close can finish. */
  #draining = false;

  constructor(keys: { send: Uint8Array; receive: Uint8Array }, hooks: StreamHooks) {
    this.#seal = new RecordSeal(keys.send);
    this.#unseal = new RecordUnseal(keys.receive);
    this.#hooks = hooks;
  }

  /** Whether the other side has taken every message this side sent. */
  get allTaken(): boolean {
    return this.#outbox.empty;
  }

  /** Whether the other side's end of stream has arrived. */
  get peerEnded(): boolean {
    return this.#inbox.ended;
  }

  /**
   * Seals one message at once (so that {@linkcode sentTag} is its tag when
   * this returns), then keeps and sends it once the window has room; an
   * empty message ends this direction. Calls made without waiting for the
   * last one go out in call order.
   */
  send(message: Uint8Array): Promise<void> {
    let record = recordAround(message);
    if (record === null) {
      const copy = allocateMessage(message.length);
      copy.set(message);
      record = recordAround(copy)!;
    }
    const sequence = this.#sealed++;
    this.#seal.message(sequence, record);
    this.#meter.count(record.length);
    this.sentTag = record.slice(record.length - 16);
    const sent = this.#sending.then(() => this.#keep(sequence, record, charge(message.length)));
    this.#sending = sent.catch(() => {});
    return sent;
  }

  async #keep(sequence: number, record: Uint8Array, bytes: number): Promise<void> {
    await this.#room();
    const carrier = this.#hooks.carrier();
    this.#outbox.add(sequence, record, bytes, carrier?.id ?? null);
    if (carrier) this.#count(carrier, record);
    await carrier?.write(record);
  }

  /** Counts a message's plaintext towards the carrier's traffic. */
  #count(carrier: Carrier, record: Uint8Array): void {
    const bytes = record.length - SEALED_OVERHEAD;
    if (carrier.id === 0) this.traffic.relay += bytes;
    else this.traffic.direct += bytes;
  }

  /** The next message in order, `null` at the other side's end. */
  async receive(signal?: AbortSignal): Promise<Uint8Array | null> {
    this.#release();
    for (;;) {
      const arrived = this.#inbox.take();
      if (arrived) {
        this.receivedTag = arrived.tag;
        if (arrived.message.length === 0) {
          this.#ack(true);
          return null;
        }
        this.#inHand = arrived.message.length;
        return arrived.message;
      }
      this.#ack(true);
      await raceSignal(this.#inbox.arrival(), signal);
    }
  }

  /** From now on, everything that arrives counts as taken (the application is done reading). */
  drain(): void {
    this.#release();
    this.#draining = true;
    this.#takeAll();
  }

  /**
   * Takes a record that came on `carrier`: a message goes into the inbox,
   * a control record is returned decoded. Throws `tampered` or `protocol`.
   */
  open(carrier: Carrier, frame: Uint8Array<ArrayBuffer>): Control | null {
    this.#meter.count(frame.length);
    let record;
    try {
      record = this.#unseal.open(frame, carrier.id);
    } catch (error) {
      const tampered = error instanceof RecordError && error.code === "tampered";
      throw asPunchError(error, tampered ? "tampered" : "protocol");
    }
    if (record.kind === KIND_MESSAGE) {
      this.#inbox.accept(record.number, record.plaintext, record.tag);
      if (this.#draining) this.#takeAll();
      return null;
    }
    const last = this.#lastControl.get(carrier.id) ?? -1;
    if (record.number <= last) {
      throw new PunchError(
        "tampered",
        `Control record ${record.number} came again on carrier ${carrier.id}`,
      );
    }
    this.#lastControl.set(carrier.id, record.number);
    return decodeControl(record.plaintext);
  }

  /** The other side took every message below `taken`. */
  acked(taken: number): void {
    this.#outbox.ack(taken);
  }

  /** Sends again, where messages go now, what last went out on `carrier` (or nowhere). */
  resend(carrier: number | null): void {
    const next = this.#hooks.carrier();
    if (!next) return;
    for (const sent of this.#outbox.on(carrier)) {
      if (sent.carrier !== null) this.traffic.resent += sent.record.length - SEALED_OVERHEAD;
      sent.carrier = next.id;
      sent.sends++;
      this.#count(next, sent.record);
      next.write(sent.record);
    }
  }

  /** A control record for `carrier`, sealed. */
  control(control: Control, carrier: Carrier): Uint8Array {
    return this.#seal.control(encodeControl(control), carrier.id);
  }

  /** Holds new messages back until {@linkcode resume}; resolves once none is in flight, or after `ms`. */
  hold(ms: number): Promise<void> {
    return this.#outbox.hold(ms);
  }

  /** Lets messages out again. */
  resume(): void {
    this.#outbox.resume();
  }

  /** Fails every wait, now and later. */
  fail(error: PunchError): void {
    this.#outbox.fail(error);
    this.#inbox.fail(error);
  }

  /** Waits for room in the window, failing with `stalled` when it stays shut. */
  async #room(): Promise<void> {
    if (this.#outbox.open) return;
    const ms = this.#hooks.flowStallMs;
    const timer = setTimeout(() =>
      this.#hooks.fail(
        new PunchError("stalled", `The other side has taken nothing for ${ms / 1000} s; giving up`),
      ), ms);
    try {
      await this.#outbox.room();
    } finally {
      clearTimeout(timer);
    }
  }

  /** The message in the application's hands is done with: it counts as taken. */
  #release(): void {
    if (this.#inHand === undefined) return;
    this.#owedBytes += this.#inHand;
    this.#inHand = undefined;
    this.#ack(false);
  }

  #takeAll(): void {
    while (this.#inbox.waiting) this.#owedBytes += this.#inbox.take()!.message.length;
    this.#ack(true);
  }

  /** Acknowledges what was taken: in batches, or everything owed when `now`. */
  #ack(now: boolean): void {
    const taken = this.#inbox.taken - (this.#inHand === undefined ? 0 : 1);
    if (taken <= this.#ackedTaken || (!now && this.#owedBytes < ACK_BATCH_BYTES)) return;
    const carrier = this.#hooks.controlCarrier();
    if (!carrier) return;
    this.#ackedTaken = taken;
    this.#owedBytes = 0;
    carrier.write(this.control({ type: "ack", taken }, carrier));
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
