/**
 * Turns for the event loop during long synchronous work on a manifest.
 *
 * @module
 */

import { YIELD_EVERY_MS } from "./defaults.ts";

/** How many steps pass between two looks at the clock. */
const STEPS_PER_LOOK = 64;

/**
 * Tells a loop over many entries when to give the event loop a turn: call
 * {@linkcode Pacer.due} at every step (it looks at the clock once every 64),
 * and await {@linkcode Pacer.pause} when it says so.
 */
export class Pacer {
  #last = performance.now();
  #steps = 0;
  readonly #everyMs: number;

  constructor(everyMs = YIELD_EVERY_MS) {
    this.#everyMs = everyMs;
  }

  /** Whether the work has run for {@linkcode YIELD_EVERY_MS} since its last turn. */
  due(): boolean {
    if (++this.#steps % STEPS_PER_LOOK !== 0) return false;
    return performance.now() - this.#last >= this.#everyMs;
  }

  /** Lets timers and I/O run, then throws if `signal` aborted meanwhile. */
  async pause(signal?: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.#last = performance.now();
    signal?.throwIfAborted();
  }
}
