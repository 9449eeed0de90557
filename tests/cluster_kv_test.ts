/**
 * Cluster: two rendezvous handlers in this process sharing one Deno KV
 * database (the Deno Deploy setup); the sender uses one, the receiver the
 * other. Deno KV carries the relay too, slowly: every 64 KiB message is a
 * write (docs/deploy.md).
 */

import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { kvBus } from "../edge/bus.ts";
import { describeTree, tempDir, writeRandomFile } from "./_helpers.ts";
import {
  claimOutcome,
  handlerInstance,
  health,
  relayTransfer,
  thirdClaimant,
  wrongCode,
} from "./cluster_helpers.ts";

const MiB = 1024 * 1024;

/** Two handlers on one Deno KV file, each with its own bus on the shared handle. */
async function twoHandlers() {
  const dir = await tempDir();
  const kv = await Deno.openKv(join(dir.path, "punch.sqlite"));
  const buses = [kvBus(kv), kvBus(kv)] as const;
  const [a, b] = buses.map((bus) => handlerInstance(bus));
  return {
    a: a!,
    b: b!,
    dir: dir.path,
    async [Symbol.asyncDispose]() {
      await a![Symbol.asyncDispose]();
      await b![Symbol.asyncDispose]();
      await Promise.all(buses.map((bus) => bus.close()));
      kv.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("two handlers on one Deno KV pair across instances and relay a 64 MiB file", async () => {
  await using cluster = await twoHandlers();
  await using dir = await tempDir();
  const big = join(dir.path, "big.bin");
  await writeRandomFile(big, 64 * MiB);
  const out = join(dir.path, "out");
  const { sent, received, seconds } = await relayTransfer(cluster.a.url, cluster.b.url, [big], out);
  deepEqual(sent, { files: 1, bytes: 64 * MiB, resumed: 0 });
  equal(received.bytes, 64 * MiB);
  deepEqual(
    await describeTree(out),
    (await describeTree(dir.path)).filter((line) => line.startsWith("big.bin ")),
  );
  console.log(`64 MiB across two handlers on Deno KV in ${seconds.toFixed(2)} s`);
  deepEqual([(await health(cluster.a)).paired, (await health(cluster.b)).paired], [1, 0]);
});

Deno.test("two handlers on one Deno KV fail both sides on a wrong code", async () => {
  await using cluster = await twoHandlers();
  const result = await wrongCode(cluster.a.url, cluster.b.url);
  ok(result.wrongCode, `errors: ${result.errors}`);
  for (const url of [cluster.a.url, cluster.b.url]) {
    notEqual(await claimOutcome(url, result.nameplate), "paired");
  }
});

Deno.test("two handlers on one Deno KV refuse a third claimant on either instance", async () => {
  await using cluster = await twoHandlers();
  await thirdClaimant(cluster.a.url, cluster.b.url);
});
