// A token bucket: how an announcer limits its answers.

/** Allows `burst` events at once and `perSecond` a second on average. */
export class TokenBucket {
  #burst: number;
  #perSecond: number;
  #now: () => number;
  #tokens: number;
  #last: number;

  constructor(
    burst: number,
    perSecond: number,
    now: () => number = performance.now.bind(performance),
  ) {
    this.#burst = burst;
    this.#perSecond = perSecond;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  /** Takes a token if one is left; returns whether it did. */
  take(): boolean {
    const now = this.#now();
    const refill = ((now - this.#last) / 1000) * this.#perSecond;
    this.#tokens = Math.min(this.#burst, this.#tokens + refill);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
