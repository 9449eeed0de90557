/**
 * The secure channel the transfer runs on: whole messages, encrypted as
 * records, over a {@linkcode FramePipe}.
 *
 * Protocol flow:
 * - Each message is one record (docs/protocol/crypto.md), sealed and opened
 *   synchronously, so order is the call order.
 * - `close()` sends the final record; a pipe that ends without one is
 *   reported as truncated, so a cut connection never looks like a clean end.
 *
 * @module
 */

import {
  RECORD_TAG_BYTES,
  RecordOpener,
  RecordSealer,
  type RecordStreamEnding,
} from "../crypto/records.ts";
import { GarbageMeter } from "../memory.ts";
import type { FramePipe } from "./frames.ts";
import { recordAround } from "./room.ts";
import type { Connection } from "../connection/types.ts";

/**
 * What the transfer protocol needs from a connection (lib/connection/): a
 * `Connection` is one.
 */
export type Channel = Pick<Connection, "send" | "receive" | "sentTag" | "receivedTag">;

/** Raw record keys for one side of a secure channel. */
export interface ChannelKeys {
  send: Uint8Array;
  receive: Uint8Array;
}

/**
 * The locked ends of a frame pipe, which {@linkcode SecureChannel.reopen}
 * hands from a channel to the next one on the same carrier.
 */
export interface Carrier {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  reader: ReadableStreamDefaultReader<Uint8Array>;
}

/** A {@linkcode Channel} of ChaCha20-Poly1305 records over a frame pipe. */
export class SecureChannel {
  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #meter = new GarbageMeter();
  #closing = false;
  #movedOut = false;
  /** Why the channel was aborted: what a later `send()` throws. */
  #aborted: { reason: unknown } | undefined;
  #sentTag: Uint8Array = new Uint8Array(RECORD_TAG_BYTES);
  #receivedTag: Uint8Array = new Uint8Array(RECORD_TAG_BYTES);

  constructor(pipe: FramePipe, keys: ChannelKeys);
  constructor(pipe: Carrier, keys: ChannelKeys);
  constructor(pipe: FramePipe | Carrier, keys: ChannelKeys) {
    this.#sealer = new RecordSealer(keys.send);
    this.#opener = new RecordOpener(keys.receive);
    if ("writer" in pipe) {
      this.#writer = pipe.writer;
      this.#reader = pipe.reader;
    } else {
      this.#writer = pipe.writable.getWriter();
      this.#reader = pipe.readable.getReader();
    }
  }

  /**
   * A new record stream on this channel's carrier, under other keys (their
   * sequence numbers start again at 0), once both directions of this one
   * moved away: for taking the carrier up again when the connection they
   * moved to broke.
   */
  reopen(keys: ChannelKeys): SecureChannel {
    if (!this.#movedOut || this.#opener.ending !== "moved") {
      throw new TypeError("Cannot reopen a channel before both directions moved away from it");
    }
    return new SecureChannel({ writer: this.#writer, reader: this.#reader }, keys);
  }

  async send(message: Uint8Array): Promise<void> {
    if (this.#aborted) throw this.#aborted.reason;
    if (this.#closing) throw new TypeError("Cannot send on a closed channel");
    const record = recordAround(message, 1);
    const frame = record === null ? this.#sealer.seal(message) : this.#sealer.sealInPlace(record);
    this.#sentTag = frame.slice(frame.length - RECORD_TAG_BYTES);
    await this.#write(frame);
  }

  get sentTag(): Uint8Array {
    return this.#sentTag;
  }

  get receivedTag(): Uint8Array {
    return this.#receivedTag;
  }

  async receive(): Promise<Uint8Array | null> {
    if (this.#opener.finished) return null;
    const { value, done } = await this.#reader.read();
    if (done) {
      this.#opener.end();
      return null;
    }
    this.#meter.count(value.length);
    const message = this.#opener.open(value);
    this.#receivedTag = value.slice(value.length - RECORD_TAG_BYTES);
    return message;
  }

  /** Sends the final record, then closes the carrier's writing side after it. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#write(this.#sealer.sealFinal());
    this.#writer.close().catch(() => {});
  }

  /** Whether this side's direction has ended (closed or moved). */
  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Ends this side's direction with a `moved` record: what follows goes over
   * another channel. The other side's {@linkcode receive} then returns
   * `null` with {@linkcode ending} `"moved"`.
   */
  async moveOut(): Promise<void> {
    if (this.#closing) throw new TypeError("Cannot move a closed channel");
    this.#closing = this.#movedOut = true;
    await this.#write(this.#sealer.sealFinal("moved"));
  }

  /** How the other side's direction ended, once `receive()` returned `null`. */
  get ending(): RecordStreamEnding | undefined {
    return this.#opener.ending;
  }

  abort(reason?: unknown): void {
    this.#aborted ??= { reason: reason ?? new Error("The channel was aborted") };
    this.#closing = true;
    this.#writer.abort(reason).catch(() => {});
    this.#reader.cancel(reason).catch(() => {});
  }

  /** Queues a frame once the carrier has room; a carrier failure surfaces on a later write. */
  async #write(frame: Uint8Array): Promise<void> {
    this.#meter.count(frame.length);
    await this.#writer.ready;
    this.#writer.write(frame).catch(() => {});
  }
}
