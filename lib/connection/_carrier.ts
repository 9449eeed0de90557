// One carrier of a connection's records: the relay (carrier 0) or a direct
// connection (the number of the search round that found it). It moves
// frames and notices when it goes quiet; what the frames mean is the
// connection's business.

import type { FramePipe } from "../link/frames.ts";

/** What a carrier tells its connection. */
export interface CarrierHandlers {
  /** A frame arrived, in order. */
  frame(carrier: Carrier, frame: Uint8Array<ArrayBuffer>): void;
  /** The carrier ended: `null` after a clean end of its stream, else why it broke. */
  end(carrier: Carrier, error: unknown): void;
}

/** A carrier: frames out, a read loop in, and the times of its last traffic. */
export class Carrier {
  /** 0 for the relay, else the search round that found this direct connection. */
  readonly id: number;
  /** The other side's address on a direct connection; `null` on the relay. */
  readonly address: string | null;
  /** `performance.now()` when something last arrived, or when the carrier started. */
  heardAt = performance.now();
  /** `performance.now()` when something was last sent. */
  sentAt = performance.now();
  /** The other side's final record came: it sends nothing more here. */
  finalHeard = false;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #ended = false;
  readonly #handlers: CarrierHandlers;

  constructor(
    id: number,
    address: string | null,
    ends: {
      writer: WritableStreamDefaultWriter<Uint8Array>;
      reader: ReadableStreamDefaultReader<Uint8Array>;
    },
    handlers: CarrierHandlers,
  ) {
    this.id = id;
    this.address = address;
    this.#writer = ends.writer;
    this.#reader = ends.reader;
    this.#handlers = handlers;
  }

  /** A carrier over a frame pipe. */
  static over(
    id: number,
    address: string | null,
    pipe: FramePipe,
    handlers: CarrierHandlers,
  ): Carrier {
    return new Carrier(id, address, {
      writer: pipe.writable.getWriter(),
      reader: pipe.readable.getReader(),
    }, handlers);
  }

  /** Whether the carrier has ended (cleanly, broken or dropped). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Starts reading; every frame goes to the handlers until the stream ends. */
  read(): void {
    (async () => {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (this.#ended) return;
        if (done) return this.#end(null);
        this.heardAt = performance.now();
        this.#handlers.frame(this, value as Uint8Array<ArrayBuffer>);
      }
    })().catch((error) => this.#end(error));
  }

  /**
   * Queues a frame once the carrier has room for it; resolves then. A
   * failure ends the carrier (a later write is dropped).
   */
  async write(frame: Uint8Array): Promise<void> {
    if (this.#ended) return;
    this.sentAt = performance.now();
    try {
      await this.#writer.ready;
    } catch (error) {
      return this.#end(error);
    }
    if (this.#ended) return;
    this.#writer.write(frame).catch((error) => this.#end(error));
  }

  /** Ends the writing side after what is queued, and stops reading. */
  async close(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#writer.close().catch(() => {});
    this.#reader.cancel().catch(() => {});
  }

  /** Drops the carrier at once. */
  drop(reason?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#writer.abort(reason).catch(() => {});
    this.#reader.cancel(reason).catch(() => {});
  }

  #end(error: unknown): void {
    if (this.#ended) return;
    this.drop(error);
    this.#handlers.end(this, error);
  }
}
