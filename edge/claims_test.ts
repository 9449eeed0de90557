import { deepEqual, equal } from "node:assert/strict";
import { ClaimBudgets } from "./claims.ts";
import { DEFAULT_LIMITS } from "./defaults.ts";

function budgets() {
  const clock = { now: 0 };
  const claims = new ClaimBudgets({ ...DEFAULT_LIMITS, now: () => clock.now });
  return { clock, claims };
}

Deno.test("ClaimBudgets gives an address its burst, then one claim per refill", () => {
  const { clock, claims } = budgets();
  const { claimBurst, claimRefillMs } = DEFAULT_LIMITS;
  for (let i = 0; i < claimBurst; i++) equal(claims.claim("203.0.113.7"), 0);
  equal(claims.claim("203.0.113.7"), claimRefillMs);
  equal(claims.claim("203.0.113.8"), 0, "another address has its own budget");
  clock.now += claimRefillMs / 2;
  equal(claims.claim("203.0.113.7"), claimRefillMs / 2);
  clock.now += claimRefillMs / 2;
  equal(claims.claim("203.0.113.7"), 0);
  equal(claims.claim("203.0.113.7"), claimRefillMs);
});

Deno.test("ClaimBudgets holds back addresses that failed while a sweep runs, and grows nameplates", () => {
  const { clock, claims } = budgets();
  const { sweepFailedClaimsPerMinute: threshold, sweepRetryMs } = DEFAULT_LIMITS;
  equal(claims.sweeping, false);
  // Sixty-one addresses fail a claim each within a second.
  for (let i = 0; i <= threshold; i++) {
    equal(claims.claim(`10.0.0.${i}`), 0);
    claims.failed(`10.0.0.${i}`);
    clock.now += 10;
  }
  equal(claims.sweeping, true);
  equal(claims.extraDigits, 1);
  const wait = claims.claim("10.0.0.1");
  equal(wait > sweepRetryMs - 1000 && wait <= sweepRetryMs, true, `waits ${wait} ms`);
  equal(claims.claim("192.0.2.1"), 0, "an address that never failed keeps its budget");
  // Ten times the threshold: another digit.
  for (let i = 0; i < 9 * threshold; i++) claims.failed(`10.1.${i >> 8}.${i & 255}`);
  equal(claims.extraDigits, 2);
  // Minutes later the sweep has died down.
  clock.now += 5 * 60_000;
  deepEqual([claims.sweeping, claims.extraDigits, claims.claim("10.0.0.1")], [false, 0, 0]);
});
