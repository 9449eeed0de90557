/**
 * Reading exact byte counts from a stream, then handing over the rest.
 *
 * @module
 */

/** Reads exactly-sized pieces from a byte stream, keeping what it over-read. */
export class ByteReader {
  readonly #readable: ReadableStream<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffered: Uint8Array = new Uint8Array();

  constructor(readable: ReadableStream<Uint8Array>) {
    this.#readable = readable;
    this.#reader = readable.getReader();
  }

  /** The next `n` bytes; throws if the stream ends first. */
  async read(n: number): Promise<Uint8Array> {
    while (this.#buffered.length < n) {
      const { value, done } = await this.#reader.read();
      if (done) {
        throw new TypeError(
          `Cannot read ${n} bytes: the stream ended after ${this.#buffered.length}`,
        );
      }
      const joined = new Uint8Array(this.#buffered.length + value.length);
      joined.set(this.#buffered);
      joined.set(value, this.#buffered.length);
      this.#buffered = joined;
    }
    const out = this.#buffered.slice(0, n);
    this.#buffered = this.#buffered.subarray(n);
    return out;
  }

  /** The rest of the stream, starting with anything already read ahead. */
  rest(): ReadableStream<Uint8Array> {
    if (this.#buffered.length === 0) {
      this.#reader.releaseLock();
      return this.#readable;
    }
    let first: Uint8Array | undefined = this.#buffered;
    const reader = this.#reader;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (first) {
          controller.enqueue(first);
          first = undefined;
          return;
        }
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }
}
