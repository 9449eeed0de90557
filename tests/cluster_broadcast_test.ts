/**
 * Cluster: two rendezvous instances as two Workers of this process, sharing
 * native BroadcastChannel; the sender uses one, the receiver the other.
 */

import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { describeTree, tempDir, writeRandomFile } from "./_helpers.ts";
import {
  claimOutcome,
  health,
  relayTransfer,
  thirdClaimant,
  workerInstance,
  wrongCode,
} from "./cluster_helpers.ts";

const MiB = 1024 * 1024;

Deno.test("two Workers on BroadcastChannel pair across instances and relay a 64 MiB file", async () => {
  await using a = await workerInstance();
  await using b = await workerInstance();
  await using dir = await tempDir();
  const big = join(dir.path, "big.bin");
  await writeRandomFile(big, 64 * MiB);
  const out = join(dir.path, "out");

  const { sent, received, seconds } = await relayTransfer(a.url, b.url, [big], out);
  deepEqual(sent, { files: 1, bytes: 64 * MiB, resumed: 0 });
  equal(received.bytes, 64 * MiB);
  deepEqual(
    await describeTree(out),
    await describeTree(dir.path).then((t) => t.filter((l) => l.startsWith("big.bin "))),
  );
  console.log(`64 MiB across two Workers in ${seconds.toFixed(2)} s`);
  // The instance holding the nameplate (the sender's) made the pair.
  const [ha, hb] = [await health(a), await health(b)];
  deepEqual([ha.paired, hb.paired], [1, 0]);
  ok(ha.instance !== hb.instance);
});

Deno.test("two Workers on BroadcastChannel fail both sides on a wrong code", async () => {
  await using a = await workerInstance();
  await using b = await workerInstance();
  const result = await wrongCode(a.url, b.url);
  ok(result.wrongCode, `errors: ${result.errors}`);
  deepEqual([(await health(a)).paired, (await health(b)).paired], [1, 0]);
  // The guess used the nameplate up: no one else pairs with that sender.
  for (const url of [a.url, b.url]) {
    notEqual(await claimOutcome(url, result.nameplate), "paired");
  }
});

Deno.test("two Workers on BroadcastChannel refuse a third claimant on either instance", async () => {
  await using a = await workerInstance();
  await using b = await workerInstance();
  await thirdClaimant(a.url, b.url);
});
