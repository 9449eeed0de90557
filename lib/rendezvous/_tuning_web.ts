// The browser page's stand-in for _tuning.ts (web/build.ts): browsers turn
// Nagle's algorithm off on their own.

/** Nothing to do in a browser. */
export function tuneSocket(_url: string): Promise<void> {
  return Promise.resolve();
}
