// The direct search for the browser page (web/): a browser can neither
// listen nor punch, so it takes the relay only (`direct: "never"`, which
// never starts a round). The page's bundle (web/build.ts) puts this module
// in place of _search.ts, leaving Transit, node:net and FFI out of the
// page; should a round run anyway, it ends at once and for good.

import type { EarlyTransit, RoundOptions, RoundResult } from "./_search.ts";

export type { EarlyTransit, RoundOptions, RoundResult } from "./_search.ts";

/** Why a browser has no direct path. */
export const NO_DIRECT_IN_BROWSER = "a browser takes the relay only";

/** Finds nothing, and says no later round will. */
export function runRound(_options: RoundOptions): Promise<RoundResult> {
  return Promise.resolve({ found: false, reason: NO_DIRECT_IN_BROWSER, final: true });
}

/** Never called with `direct: "never"`; a Transit that never opens. */
export function openTransit(_options: Pick<RoundOptions, "side">): EarlyTransit {
  const transit = Promise.reject(new Error(`Cannot listen: ${NO_DIRECT_IN_BROWSER}`));
  transit.catch(() => {});
  return { transit, late: () => {} };
}
