/**
 * End-to-end: large offers through a real `punch serve` and real `punch`
 * processes (issue 16, finding 5).
 */

import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { describeTree, startServe, tempDir, transfer } from "./_helpers.ts";

/**
 * A tree whose manifest takes about 33 MB: 9000 one-byte files under 14
 * nested directories of 240-character names, the files' names 200
 * characters long, so that every path is about 3600 bytes (the path
 * limit is 4096, with room for the temporary directory's own path).
 */
async function makeLongPaths(root: string): Promise<{ tree: string; entries: number }> {
  let dir = join(root, "m");
  for (let level = 0; level < 14; level++) dir = join(dir, `${level}`.padStart(240, "d"));
  await Deno.mkdir(dir, { recursive: true });
  const one = Uint8Array.of(0x2a);
  for (let i = 0; i < 9000; i++) Deno.writeFileSync(join(dir, `${i}`.padStart(200, "f")), one);
  return { tree: join(root, "m"), entries: 1 + 14 + 9000 };
}

Deno.test("punch moves a 9015-entry offer (a 33 MB manifest) through the relay", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const { tree, entries } = await makeLongPaths(join(dir.path, "src"));
  const out = join(dir.path, "out");
  const { sent, received } = await transfer(server.url, [tree], out, {
    sendArgs: ["--relay-only"],
  });
  equal(sent.code, 0, sent.stderr);
  equal(received.code, 0, received.stderr);
  const offer = received.events.find((e) => e.type === "offer")!;
  deepEqual([offer.files, offer.dirs, offer.bytes], [9000, entries - 9000, 9000]);
  equal(received.events.find((e) => e.type === "done")?.path, "relay");
  deepEqual(await describeTree(join(out, "m")), await describeTree(tree));
});
