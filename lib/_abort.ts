// Reacting to an abort, one that came before the listener included.

/**
 * Calls `onAbort` once when `signal` aborts, or at once if it has aborted
 * already (an abort listener added then would never fire). Returns what
 * stops listening; without a signal, nothing happens.
 */
export function whenAborted(signal: AbortSignal | undefined, onAbort: () => void): () => void {
  if (signal === undefined) return () => {};
  if (signal.aborted) {
    onAbort();
    return () => {};
  }
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}
