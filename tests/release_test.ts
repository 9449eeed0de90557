/**
 * The release workflow cannot run here (`deno compile` downloads a runtime),
 * so these tests check that what it would build matches what the tests and
 * the bench measure: the same V8 flags as `deno task compile`, and one Deno
 * version across CI, the workflows and the README.
 */

import { deepEqual, ok } from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));

/** Every `--v8-flags=…` in `text`. */
function v8Flags(text: string): string[] {
  return [...text.matchAll(/--v8-flags=(\S+)/g)].map((match) => match[1]!);
}

Deno.test("the release workflow compiles with the V8 flags of deno task compile", async () => {
  const [taskFlags] = v8Flags(denoJson.tasks.compile);
  ok(taskFlags, "deno.json: the compile task sets no --v8-flags");
  const release = await read(".github/workflows/release.yml");
  ok(/deno compile /.test(release), "release.yml runs no deno compile");
  deepEqual(v8Flags(release), [taskFlags], "release.yml's deno compile and deno.json disagree");
  deepEqual(v8Flags(denoJson.tasks.punch), [taskFlags], "the punch task runs other V8 flags");
});

Deno.test("one Deno version in .ci/run, the workflows and the README", async () => {
  const ci = /^DENO_VERSION=(\S+)$/m.exec(await read(".ci/run"))?.[1];
  ok(ci, ".ci/run sets no DENO_VERSION");
  const found = new Map<string, string[]>();
  for (const workflow of ["ci.yml", "release.yml", "deploy-edge.yml"]) {
    const text = await read(`.github/workflows/${workflow}`);
    found.set(workflow, [...text.matchAll(/deno-version: v(\S+)/g)].map((match) => match[1]!));
  }
  found.set(
    "README.md",
    [...(await read("README.md")).matchAll(/deno@(\d\S*)/g)].map((m) => m[1]!),
  );
  for (const [file, versions] of found) {
    ok(versions.length > 0, `${file} names no Deno version`);
    deepEqual(new Set(versions), new Set([ci]), `${file} names another Deno version than .ci/run`);
  }
});

Deno.test("the published package holds no test, testdata, test utility or bench file", async () => {
  const { stdout, stderr, success } = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: new URL(".", ROOT).pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  ok(success, text);
  const files = [...text.matchAll(/file:\/\/\S+/g)].map((m) => m[0]);
  ok(files.some((f) => f.endsWith("/lib/mod.ts")), text);
  const testing = files.filter((f) =>
    /_test\.ts$|\/testdata\/|_test_utils\.ts$|\/_testing\.ts$|\/_contract\.ts$|\/_test_worker\.ts$|\/_worker_factory\.ts$|\/_kv_echo_process\.ts$|\/_redis_server\.ts$|_bench\.ts$|\/tests\/|\/bench\//
      .test(f)
  );
  deepEqual(testing, []);
});
