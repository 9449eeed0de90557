/**
 * Writes a file's chunks in the background, in order, so that opening the
 * next record overlaps writing the last one (file writes run on another
 * thread; awaiting each one left the receiver idle half the time).
 *
 * @module
 */

/** Writes chunks to one file in order, with at most `aheadBytes` waiting. */
export class QueuedWriter {
  readonly #file: Deno.FsFile;
  readonly #aheadBytes: number;
  readonly #onWritten: (bytes: number) => void;
  readonly #pending: { done: Promise<void>; bytes: number }[] = [];
  #tail: Promise<void> = Promise.resolve();
  #queued = 0;
  #failure: { error: unknown } | undefined;

  /** `onWritten` is called with each chunk's length once it is written, in order. */
  constructor(
    file: Deno.FsFile,
    aheadBytes: number,
    onWritten: (bytes: number) => void = () => {},
  ) {
    this.#file = file;
    this.#aheadBytes = aheadBytes;
    this.#onWritten = onWritten;
  }

  /**
   * Queues `bytes` (which must not change until written); resolves once
   * fewer than `aheadBytes` wait.
   *
   * @throws the error of an earlier write that failed.
   */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure.error;
    const length = bytes.length;
    const done = this.#tail.then(async () => {
      for (let n = 0; n < length;) n += await this.#file.write(bytes.subarray(n));
      this.#queued -= length;
      this.#onWritten(length);
    });
    done.catch((error) => this.#failure ??= { error });
    this.#tail = done;
    this.#pending.push({ done, bytes: length });
    this.#queued += length;
    while (this.#queued >= this.#aheadBytes) {
      await this.#pending.shift()!.done;
    }
  }

  /**
   * Resolves once everything queued is written.
   *
   * @throws the error of a write that failed.
   */
  async flush(): Promise<void> {
    this.#pending.length = 0;
    await this.#tail;
  }
}
