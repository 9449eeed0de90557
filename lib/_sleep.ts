// Waiting that an abort cuts short.

/**
 * Resolves after `ms` milliseconds, or as soon as `signal` aborts: at once if
 * it has aborted already (an abort listener added then would never fire).
 * Never rejects.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    signal.addEventListener("abort", finish, { once: true });
  });
}
