// The sending half of a connection's message stream: numbers, the window,
// and the messages kept until the other side has taken them.

import { PunchError } from "../errors.ts";

/** A message sent and not yet taken by the other side. */
export interface Sent {
  sequence: number;
  /** The sealed record (a view with room for the frame's length prefix before it). */
  record: Uint8Array;
  /** Plaintext bytes: what the message counts against the window. */
  bytes: number;
  /** The carrier it last went out on, or `null` while it waits for one. */
  carrier: number | null;
  /** How many times it went out: a carrier's socket may hold it until sent, on every one. */
  sends: number;
}

/**
 * Lets a taken record's memory go at once: its buffer is detached (the
 * record and every view of it become empty) and its bytes freed now, not
 * when the garbage collector finds the wrapper. A kept record outlives two
 * young collections and is promoted, so without this each waited for a full
 * collection: on 1 GiB over the direct path, 59 of them and 1 s of the
 * sender's CPU (0.1 s before records were kept). Only a record that went
 * out once: the other side has it from that very carrier, so no socket
 * holds it any more. One sent again may still wait in the socket of the
 * carrier it went on last (the other side took it from the first), and is
 * left to the collector.
 */
function free(sent: Sent): void {
  if (sent.sends !== 1) return;
  const buffer = sent.record.buffer;
  if (buffer instanceof ArrayBuffer && !buffer.detached) buffer.transfer(0);
}

/** Messages in flight, in sequence order, and the window they fill. */
export class Outbox {
  readonly #windowBytes: number;
  readonly #slackBytes: number;
  /** In flight from `#head` on; those before it were taken, and their slots emptied. */
  #items: (Sent | undefined)[] = [];
  #head = 0;
  #next = 0;
  #bytes = 0;
  /** Held: no new message goes out until resumed (the timing of a search round). */
  #held = false;
  readonly #wake = new Set<() => void>();
  #error: PunchError | undefined;

  /**
   * `windowBytes` is the window; `send()` may go on while less than
   * `windowBytes - slackBytes` is in flight, so one more message of up to
   * `slackBytes` never overfills it.
   */
  constructor(windowBytes: number, slackBytes: number) {
    this.#windowBytes = windowBytes;
    this.#slackBytes = slackBytes;
  }

  /** The sequence number the next message gets. */
  get next(): number {
    return this.#next;
  }

  /** Plaintext bytes in flight. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether nothing is in flight. */
  get empty(): boolean {
    return this.#head === this.#items.length;
  }

  /** Keeps sealed message `sequence` (the next in order) until it is taken. */
  add(sequence: number, record: Uint8Array, bytes: number, carrier: number | null): Sent {
    if (sequence !== this.#next) {
      throw new RangeError(`Cannot keep message ${sequence}: message ${this.#next} comes first`);
    }
    this.#next++;
    const sent = { sequence, record, bytes, carrier, sends: carrier === null ? 0 : 1 };
    this.#items.push(sent);
    this.#bytes += bytes;
    return sent;
  }

  /** The other side has taken every message below `taken`; returns whether that was news. */
  ack(taken: number): boolean {
    if (taken > this.#next) {
      throw new PunchError(
        "protocol",
        `The other side acknowledges ${taken} of ${this.#next} messages`,
      );
    }
    let freed = false;
    while (this.#head < this.#items.length && this.#items[this.#head]!.sequence < taken) {
      const sent = this.#items[this.#head]!;
      this.#bytes -= sent.bytes;
      free(sent);
      // The record is the other side's now: let it go at once, not at the next compaction.
      this.#items[this.#head++] = undefined;
      freed = true;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (freed) this.#wakeUp();
    return freed;
  }

  /** Whether the window has room for one more message. */
  get open(): boolean {
    return !this.#held && this.#bytes <= this.#windowBytes - this.#slackBytes;
  }

  /** Resolves once the window has room, or rejects with the outbox's failure. */
  async room(): Promise<void> {
    while (!this.open) {
      if (this.#error) throw this.#error;
      await new Promise<void>((resolve) => this.#wake.add(resolve));
    }
    if (this.#error) throw this.#error;
  }

  /**
   * Lets no new message out until {@linkcode resume}, and resolves once
   * nothing is in flight or `ms` have passed: a relay with nothing queued
   * on it, so that control records cross it in its bare round trip.
   */
  async hold(ms: number): Promise<void> {
    this.#held = true;
    const deadline = performance.now() + ms;
    while (this.#bytes > 0 && !this.#error && performance.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake.add(resolve);
        timer = setTimeout(resolve, deadline - performance.now());
      });
      clearTimeout(timer);
    }
  }

  /** Lets messages out again after {@linkcode hold}. */
  resume(): void {
    this.#held = false;
    this.#wakeUp();
  }

  /**
   * The messages last sent on `carrier` (or, for `null`, those never sent),
   * oldest first: what must go out again on another.
   */
  on(carrier: number | null): Sent[] {
    const found: Sent[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      if (this.#items[i]!.carrier === carrier) found.push(this.#items[i]!);
    }
    return found;
  }

  /** Fails every wait for room, now and later. */
  fail(error: PunchError): void {
    this.#error ??= error;
    this.#wakeUp();
  }

  #wakeUp(): void {
    const waiting = [...this.#wake];
    this.#wake.clear();
    for (const wake of waiting) wake();
  }
}
