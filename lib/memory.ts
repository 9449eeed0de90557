/**
 * Keeping memory flat on the data path.
 *
 * Every record allocates fresh buffers (WebSocket messages, cipher output).
 * V8 frees them only when their small JS wrappers are collected, and it
 * schedules that by external memory growth of ~64 MB — so a process that
 * streams a gigabyte sits 60–150 MB above its baseline. When the runtime
 * exposes `gc` (`deno run --v8-flags=--expose-gc`, which `deno task compile`
 * bakes into the binary), a young-generation collection every few MiB costs
 * ~0.3 ms and keeps the process within a few MiB of its baseline. Without
 * the flag this does nothing.
 *
 * @module
 */

/** Bytes moved between two young-generation collections. */
export const GC_EVERY_BYTES = 2 * 1024 * 1024;

type Gc = (options?: { type?: "minor" | "major" }) => void;

const gc: Gc | undefined = (globalThis as { gc?: Gc }).gc;

/** Counts bytes moved and collects young garbage every {@linkcode GC_EVERY_BYTES}. */
export class GarbageMeter {
  readonly #every: number;
  #bytes = 0;

  constructor(everyBytes: number = GC_EVERY_BYTES) {
    this.#every = everyBytes;
  }

  /** Counts `bytes`; collects when enough have passed. */
  count(bytes: number): void {
    if (gc === undefined) return;
    this.#bytes += bytes;
    if (this.#bytes < this.#every) return;
    this.#bytes = 0;
    gc({ type: "minor" });
  }
}
