import { deepEqual } from "node:assert/strict";
import { TokenBucket } from "./_token_bucket.ts";

Deno.test("TokenBucket allows a burst, then the refill rate", () => {
  let now = 0;
  const bucket = new TokenBucket(3, 2, () => now);
  deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [
    true,
    true,
    true,
    false,
  ]);
  now += 499;
  deepEqual(bucket.take(), false);
  now += 1;
  deepEqual([bucket.take(), bucket.take()], [true, false]);
  now += 60_000;
  deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [
    true,
    true,
    true,
    false,
  ]);
});
