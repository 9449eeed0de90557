// The receiving half of a connection's message stream: messages from any
// carrier put back in order, each delivered once, and the count of those
// taken that acknowledgements report.

import { PunchError } from "../errors.ts";
import { MESSAGE_MIN_CHARGE_BYTES } from "./defaults.ts";

/** A message ready for the application. */
export interface Arrived {
  /** The plaintext; empty for the end of the stream. */
  message: Uint8Array;
  /** Its record's tag (a copy). */
  tag: Uint8Array;
}

/** Messages in order, those that came early, and what the application took. */
export class Inbox {
  readonly #maxBytes: number;
  #expected = 0;
  #taken = 0;
  /** Ready from `#readyHead` on; the slots before it were taken and emptied. */
  #ready: (Arrived | undefined)[] = [];
  #readyHead = 0;
  #early = new Map<number, Arrived>();
  #heldBytes = 0;
  #ended = false;
  #wake: (() => void) | undefined;
  #error: PunchError | undefined;

  /** `maxBytes`: the most a well-behaved peer can have here at once (its window and one record). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** The sequence number the stream waits for next. */
  get expected(): number {
    return this.#expected;
  }

  /** How many messages the application has taken. */
  get taken(): number {
    return this.#taken;
  }

  /** Whether the other side's end of stream has arrived in order. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Whether a message waits to be taken. */
  get waiting(): boolean {
    return this.#readyHead < this.#ready.length;
  }

  /**
   * Takes message `sequence` as it came, from any carrier: an old one is a
   * copy and dropped, one that comes early waits for the ones before it.
   * Throws `protocol` when the peer has more here than its window allows.
   */
  accept(sequence: number, message: Uint8Array, tag: Uint8Array): void {
    if (sequence < this.#expected || this.#early.has(sequence) || this.#ended) return;
    const arrived = { message, tag: tag.slice() };
    this.#heldBytes += Math.max(message.length, MESSAGE_MIN_CHARGE_BYTES);
    if (this.#heldBytes > this.#maxBytes) {
      throw new PunchError(
        "protocol",
        `The other side sent ${this.#heldBytes} bytes beyond what this side took, more than its window`,
      );
    }
    if (sequence > this.#expected) return void this.#early.set(sequence, arrived);
    this.#push(arrived);
    for (let next = this.#early.get(this.#expected); next; next = this.#early.get(this.#expected)) {
      this.#early.delete(this.#expected);
      this.#push(next);
    }
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The next message in order, or `undefined` if none is here yet; counts it taken. */
  take(): Arrived | undefined {
    if (this.#readyHead === this.#ready.length) {
      if (this.#error) throw this.#error;
      return undefined;
    }
    const arrived = this.#ready[this.#readyHead]!;
    this.#ready[this.#readyHead++] = undefined;
    if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#readyHead);
      this.#readyHead = 0;
    }
    this.#heldBytes -= Math.max(arrived.message.length, MESSAGE_MIN_CHARGE_BYTES);
    this.#taken++;
    return arrived;
  }

  /** Resolves once a message waits, or rejects with the inbox's failure. */
  async arrival(): Promise<void> {
    while (!this.waiting) {
      if (this.#error) throw this.#error;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Fails every wait, now and later (messages already here are still taken first). */
  fail(error: PunchError): void {
    this.#error ??= error;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #push(arrived: Arrived): void {
    this.#expected++;
    if (arrived.message.length === 0) this.#ended = true;
    this.#ready.push(arrived);
  }
}
