/**
 * A one-line progress bar: bytes, percent, rate and ETA, redrawn in place.
 * Clock and output are injected so tests compare it exactly.
 *
 * @module
 */

/** Options for {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** Where the bar is drawn. */
  write: (text: string) => void;
  /** @default {() => performance.now()} */
  now?: () => number;
  /** @default {40} */
  width?: number;
  /** Least milliseconds between redraws. @default {100} */
  intervalMs?: number;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Formats a byte count with a binary unit: `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Draws transfer progress on a terminal line. */
export class ProgressBar {
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #width: number;
  readonly #interval: number;
  readonly #start: number;
  #last = -Infinity;
  #drawn = false;

  constructor(options: ProgressBarOptions) {
    this.#write = options.write;
    this.#now = options.now ?? (() => performance.now());
    this.#width = options.width ?? 40;
    this.#interval = options.intervalMs ?? 100;
    this.#start = this.#now();
  }

  /**
   * Redraws if enough time passed, or always when `bytes === total`; with
   * no `total` (a stream's length is known only at its end), bytes and rate
   * alone.
   */
  update(bytes: number, total: number | undefined): void {
    const now = this.#now();
    if (!(bytes >= (total ?? Infinity)) && now - this.#last < this.#interval) return;
    this.#last = now;
    this.#write(`\r${this.render(bytes, total, now)}\x1b[K`);
    this.#drawn = true;
  }

  /** The bar's text at a moment. */
  render(bytes: number, total: number | undefined, now: number = this.#now()): string {
    if (total === undefined) {
      const seconds = Math.max((now - this.#start) / 1000, 1e-3);
      return `${formatBytes(bytes)}  ${formatBytes(bytes / seconds)}/s`;
    }
    const fraction = total === 0 ? 1 : Math.min(1, bytes / total);
    const filled = Math.round(fraction * this.#width);
    const seconds = Math.max((now - this.#start) / 1000, 1e-3);
    const rate = bytes / seconds;
    const eta = rate > 0 ? (total - bytes) / rate : Infinity;
    return `[${"#".repeat(filled)}${"-".repeat(this.#width - filled)}] ` +
      `${(fraction * 100).toFixed(0).padStart(3)}%  ` +
      `${formatBytes(bytes)} / ${formatBytes(total)}  ` +
      `${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`;
  }

  /** Ends the line the bar is on. */
  finish(): void {
    if (this.#drawn) this.#write("\n");
    this.#drawn = false;
  }
}
