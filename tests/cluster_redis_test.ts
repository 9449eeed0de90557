/**
 * Cluster: two `punch serve` processes sharing a real `redis-server` (started
 * here), real `punch send` on one and `punch receive` on the other.
 */

import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { hasRedisServer, startRedisServer } from "../edge/bus/_redis_server.ts";
import {
  assertWrongCode,
  describeTree,
  misspell,
  tempDir,
  transfer,
  writeRandomFile,
} from "./_helpers.ts";
import { health, serveInstance, thirdClaimant } from "./cluster_helpers.ts";

const MiB = 1024 * 1024;
const HAS_REDIS = hasRedisServer();
const IGNORED = " (ignored: redis-server is not installed; apt-get install -y redis-server)";

/** Two `punch serve` processes on one fresh redis-server. */
async function twoServes() {
  const redis = await startRedisServer();
  const env = { PUNCH_BUS: redis.url };
  const a = await serveInstance(env);
  const b = await serveInstance(env);
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
      await redis[Symbol.asyncDispose]();
    },
  };
}

/** `punch send` through `a`, `punch receive` through `b`, relay only. */
function across(a: string, b: string, paths: string[], out: string, code?: (c: string) => string) {
  return transfer(undefined, paths, out, {
    sendArgs: ["--server", a, "--relay-only"],
    receiveArgs: ["--server", b, "--relay-only", "--yes"],
    ...(code ? { code } : {}),
  });
}

Deno.test({
  name: "two punch serve processes on Redis pair punch send and punch receive and relay 64 MiB" +
    (HAS_REDIS ? "" : IGNORED),
  ignore: !HAS_REDIS,
  async fn() {
    await using cluster = await twoServes();
    await using dir = await tempDir();
    const big = join(dir.path, "big.bin");
    await writeRandomFile(big, 64 * MiB);
    const out = join(dir.path, "out");
    const { sent, received } = await across(cluster.a.url, cluster.b.url, [big], out);
    equal(sent.code, 0, sent.stderr);
    equal(received.code, 0, received.stderr);
    const done = received.events.find((e) => e.type === "done")!;
    equal(done.path, "relay");
    equal(done.bytes, 64 * MiB);
    console.log(`64 MiB across two punch serve on Redis in ${Number(done.seconds).toFixed(2)} s`);
    deepEqual(
      await describeTree(out),
      (await describeTree(dir.path)).filter((line) => line.startsWith("big.bin ")),
    );
    deepEqual([(await health(cluster.a)).paired, (await health(cluster.b)).paired], [1, 0]);
  },
});

Deno.test({
  name: "two punch serve processes on Redis fail both sides on a wrong code" +
    (HAS_REDIS ? "" : IGNORED),
  ignore: !HAS_REDIS,
  async fn() {
    await using cluster = await twoServes();
    await using dir = await tempDir();
    const file = join(dir.path, "secret.txt");
    await Deno.writeTextFile(file, "secret");
    const out = join(dir.path, "out");
    await assertWrongCode(await across(cluster.a.url, cluster.b.url, [file], out, misspell), out);
    deepEqual([(await health(cluster.a)).paired, (await health(cluster.b)).paired], [1, 0]);
  },
});

Deno.test({
  name: "two punch serve processes on Redis refuse a third claimant on either instance" +
    (HAS_REDIS ? "" : IGNORED),
  ignore: !HAS_REDIS,
  async fn() {
    await using cluster = await twoServes();
    await thirdClaimant(cluster.a.url, cluster.b.url);
  },
});
