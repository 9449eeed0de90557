/**
 * End-to-end: large offers through a real `punch serve` and real `punch`
 * processes (issue 16, findings 5 and 6).
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { openSender } from "../lib/connection/open.ts";
import { type Manifest, type ManifestEntry } from "../lib/transfer/manifest.ts";
import { sendFiles } from "../lib/transfer/send.ts";
import { TransferError } from "../lib/transfer/messages.ts";
import { describeTree, Punch, startServe, tempDir, transfer } from "./_helpers.ts";

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

Deno.test("punch moves 20 000 files end to end", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const tree = join(dir.path, "many");
  for (let d = 0; d < 20; d++) {
    const sub = join(tree, `d${d}`);
    await Deno.mkdir(sub, { recursive: true });
    for (let f = 0; f < 1000; f++) {
      Deno.writeFileSync(join(sub, `f${f}`), Uint8Array.of(d, f & 255));
    }
  }
  const out = join(dir.path, "out");
  const { sent, received } = await transfer(server.url, [tree], out);
  equal(sent.code, 0, sent.stderr);
  equal(received.code, 0, received.stderr);
  equal(received.events.find((e) => e.type === "done")?.files, 20_000);
  deepEqual(await describeTree(join(out, "many")), await describeTree(tree));
});

/** 10^6 entries: 1000 directories of 999 empty files, 54 MB encoded. */
function millionEntries(): Manifest {
  const entries: ManifestEntry[] = [];
  for (let d = 0; d < 1000; d++) {
    const name = `d${String(d).padStart(3, "0")}`;
    entries.push({ path: name, kind: "dir", size: 0, mode: 0o755 });
    for (let f = 0; f < 999; f++) {
      entries.push({ path: `${name}/${f}`.padEnd(8, "_"), kind: "file", size: 0, mode: 0o644 });
    }
  }
  entries.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return { entries, files: 999_000, bytes: 0 };
}

Deno.test("punch receive checks an offer of 10^6 entries and answers it over a live relay", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const manifest = millionEntries();
  const connection = await openSender(server.url, { direct: "never", portMapping: false });
  // No --yes and no terminal: the receiver shows the offer, then refuses it.
  const receiver = new Punch([
    "receive",
    "--json",
    "--relay-only",
    "--server",
    server.url,
    "--out",
    join(dir.path, "out"),
    connection.code,
  ]);
  const sending = sendFiles(connection, { manifest, sources: [], warnings: [] });
  const refused = await sending.then(() => undefined, (error) => error);
  await connection.close();
  const received = await receiver.done;
  ok(refused instanceof TransferError && refused.code === "refused", String(refused));
  match(refused.message, /stdin is not a terminal; pass --yes/);
  equal(received.code, 6, received.stderr);
  const offer = received.events.find((e) => e.type === "offer")!;
  deepEqual([offer.files, offer.dirs, offer.bytes], [999_000, 1000, 0]);
});
