/**
 * End-to-end: a real `punch serve` process and real `punch send` and
 * `punch receive` processes.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { partialName } from "../lib/transfer/resume.ts";
import { exec } from "./natlab/_exec.ts";
import {
  assertWrongCode,
  CAN_NETNS,
  describeTree,
  loopbackNamespace,
  misspell,
  Punch,
  startServe,
  tempDir,
  transfer,
  writeRandomFile,
} from "./_helpers.ts";

const MiB = 1024 * 1024;

async function makeTree(root: string): Promise<string> {
  const tree = join(root, "tree");
  await Deno.mkdir(join(tree, "empty", "deeper"), { recursive: true });
  await Deno.mkdir(join(tree, "фото", "日本"), { recursive: true });
  await Deno.writeTextFile(join(tree, "фото", "日本", "名前 🎉.txt"), "unicode\n");
  await Deno.writeTextFile(join(tree, "run.sh"), "#!/bin/sh\necho hi\n");
  await Deno.writeFile(join(tree, "zero"), new Uint8Array());
  await writeRandomFile(join(tree, "фото", "blob.bin"), 3 * MiB + 17);
  if (Deno.build.os !== "windows") {
    await Deno.chmod(join(tree, "run.sh"), 0o755);
    await Deno.chmod(join(tree, "zero"), 0o600);
  }
  return tree;
}

Deno.test("punch moves a 64 MiB file and a directory tree byte-identical through punch serve", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const big = join(dir.path, "big.bin");
  await writeRandomFile(big, 64 * MiB);
  const tree = await makeTree(dir.path);
  const out = join(dir.path, "out");

  const { sent, received } = await transfer(server.url, [big, tree], out, {
    sendArgs: ["--relay-only"],
  });
  equal(sent.code, 0, sent.stderr);
  equal(received.code, 0, received.stderr);
  const done = received.events.find((e) => e.type === "done")!;
  equal(done.path, "relay");
  equal(
    received.events.find((e) => e.type === "path")?.reason,
    "the other side takes no direct connection (--relay-only)",
  );
  equal(done.bytes, 64 * MiB + 3 * MiB + 17 + 8 + 18);
  deepEqual(
    sent.events.map((e) => e.type).filter((t) => !["progress", "waiting", "path"].includes(t)),
    ["code", "connected", "done"],
  );
  ok(received.events.some((e) => e.type === "progress"));
  deepEqual(await describeTree(join(out, "tree")), await describeTree(tree));
  deepEqual(
    await describeTree(join(out)).then((t) => t.find((l) => l.startsWith("big.bin "))),
    (await describeTree(dir.path)).find((l) => l.startsWith("big.bin ")),
  );
  // No temporary file is left behind.
  equal((await describeTree(out)).some((line) => line.includes(".punch-")), false);
});

Deno.test("punch fails both sides on a wrong code and writes nothing", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const file = join(dir.path, "secret.txt");
  await Deno.writeTextFile(file, "secret");
  const out = join(dir.path, "out");
  await assertWrongCode(await transfer(server.url, [file], out, { code: misspell }), out);
});

Deno.test("punch receive refuses without --yes when stdin is not a terminal", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const file = join(dir.path, "a.txt");
  await Deno.writeTextFile(file, "a");
  const out = join(dir.path, "out");
  const { sent, received } = await transfer(server.url, [file], out, { receiveArgs: [] });
  equal(received.code, 6, received.stderr);
  match(received.events.find((e) => e.type === "error")!.message as string, /--yes/);
  equal(sent.code, 6, sent.stderr);
  equal(sent.events.find((e) => e.type === "error")?.error, "refused");
  equal(await Deno.stat(out).then(() => true, () => false), false);
});

Deno.test("punch receive never overwrites an existing file unless --overwrite", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const file = join(dir.path, "a.txt");
  await Deno.writeTextFile(file, "new");
  const out = join(dir.path, "out");
  await Deno.mkdir(out);
  await Deno.writeTextFile(join(out, "a.txt"), "old");

  const refused = await transfer(server.url, [file], out);
  equal(refused.received.code, 1, refused.received.stderr);
  equal(refused.received.events.find((e) => e.type === "error")?.error, "conflict");
  match(refused.received.events.find((e) => e.type === "error")!.message as string, /--overwrite/);
  equal(await Deno.readTextFile(join(out, "a.txt")), "old");
  equal(refused.sent.code, 4);

  const replaced = await transfer(server.url, [file], out, {
    receiveArgs: ["--yes", "--overwrite"],
  });
  equal(replaced.received.code, 0, replaced.received.stderr);
  equal(await Deno.readTextFile(join(out, "a.txt")), "new");
});

/** Whether this process may mount a tmpfs (root on Linux), for a small real file system. */
const CAN_MOUNT = Deno.build.os === "linux" && Deno.uid() === 0;

Deno.test({
  name: "punch receive refuses an offer that cannot fit, before asking or writing anything",
  ignore: !CAN_MOUNT,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const file = join(dir.path, "big.bin");
    await writeRandomFile(file, 16 * MiB);
    const small = join(dir.path, "small");
    await Deno.mkdir(small);
    await exec(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small]);
    try {
      const out = join(small, "out");
      const { sent, received } = await transfer(server.url, [file], out);
      equal(received.code, 1, received.stderr);
      const error = received.events.find((e) => e.type === "error")!;
      equal(error.error, "no_space", JSON.stringify(error));
      match(error.message as string, /only 8\.0 MiB is free/);
      equal(received.events.some((e) => e.type === "offer"), false);
      equal(sent.code, 4, sent.stderr);
      match(sent.events.find((e) => e.type === "error")!.message as string, /only 8\.0 MiB/);
      equal(await Deno.stat(out).then(() => true, () => false), false);
    } finally {
      await exec(["umount", small]);
    }
  },
});

Deno.test("punch serve drops garbage clients while another pair's transfer completes", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const file = join(dir.path, "f.bin");
  await writeRandomFile(file, 16 * MiB);
  const out = join(dir.path, "out");
  const ws = server.url.replace("http", "ws") + "/v1/ws";

  const running = transfer(server.url, [file], out);
  const attackers = Array.from({ length: 6 }, async (_, i) => {
    const socket = new WebSocket(ws);
    const closed = new Promise<number>((resolve) => socket.onclose = (e) => resolve(e.code));
    await new Promise((resolve) => socket.onopen = resolve);
    if (i % 3 === 0) socket.send("{not json");
    else if (i % 3 === 1) socket.send("x".repeat(100_000));
    else socket.send(new Uint8Array(3 * MiB));
    return await closed;
  });
  deepEqual(await Promise.all(attackers), [1008, 1008, 1008, 1008, 1008, 1008]);
  const { sent, received } = await running;
  equal(sent.code, 0, sent.stderr);
  equal(received.code, 0, received.stderr);
  deepEqual(
    await describeTree(out),
    (await describeTree(dir.path)).filter((l) => l.startsWith("f.bin ")),
  );
});

Deno.test({
  name: "punch send and receive find each other with no server configured",
  // LAN discovery multicasts on every interface: only inside a namespace
  // that holds nothing but loopback.
  ignore: !CAN_NETNS,
}, async () => {
  await using dir = await tempDir();
  await using netns = await loopbackNamespace();
  const file = join(dir.path, "hello.txt");
  await Deno.writeTextFile(file, "hello over the embedded rendezvous\n");
  const out = join(dir.path, "out");
  const options = { env: { PUNCH_SERVER: "" }, netns: netns.name };
  const sender = new Punch(["send", "--json", file], options);
  const code = (await sender.event("code")).code as string;
  const receiver = new Punch(["receive", "--json", "--yes", "--out", out, code], options);
  const [sent, received] = await Promise.all([sender.done, receiver.done]);
  equal(sent.code, 0, sent.stderr);
  equal(received.code, 0, received.stderr);
  equal(await Deno.readTextFile(join(out, "hello.txt")), "hello over the embedded rendezvous\n");
});

Deno.test("punch receive explains an unknown nameplate", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const receiver = new Punch([
    "receive",
    "--json",
    "--yes",
    "--server",
    server.url,
    "--out",
    dir.path,
    "99999999-abandon-zoo",
  ]);
  const { code, events } = await receiver.done;
  equal(code, 3);
  const error = events.find((e) => e.type === "error")!;
  equal(error.error, "unknown_nameplate");
  match(error.message as string, /still running/);
});

Deno.test("punch prints help, version, and usage errors with exit code 2", async () => {
  const version = await new Punch(["--version"]).done;
  equal(version.code, 0);
  const help = await new Punch(["send", "--help"]).done;
  equal(help.code, 0);
  const none = await new Punch(["send", "--json"]).done;
  equal(none.code, 2);
  equal(none.events[0]?.error, "usage");
  const badCode = await new Punch([
    "receive",
    "--json",
    "--server",
    "http://127.0.0.1:9",
    "nonsense",
  ]).done;
  equal(badCode.code, 2);
  const unknown = await new Punch(["launch"]).done;
  equal(unknown.code, 2);
  const network = await new Punch([
    "receive",
    "--json",
    "--server",
    "http://127.0.0.1:9",
    "12-abandon-zoo",
  ]).done;
  equal(network.code, 5, network.stderr);
  equal(network.events.find((e) => e.type === "error")?.error, "network");
});

Deno.test("punch moves a running transfer from the relay to a direct connection on loopback", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const big = join(dir.path, "big.bin");
  await writeRandomFile(big, 256 * MiB);
  const out = join(dir.path, "out");
  const { sent, received } = await transfer(server.url, [big], out);
  equal(sent.code, 0, sent.stderr);
  equal(received.code, 0, received.stderr);
  const moved = sent.events.find((e) => e.type === "path");
  equal(moved?.path, "direct", JSON.stringify(moved));
  equal(sent.events.find((e) => e.type === "done")?.path, "direct");
  equal(received.events.find((e) => e.type === "done")?.path, "direct");
  deepEqual(
    (await describeTree(out)).find((l) => l.startsWith("big.bin ")),
    (await describeTree(dir.path)).find((l) => l.startsWith("big.bin ")),
  );
});

Deno.test("punch --direct-only sends nothing through the relay and fails clearly without a path", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const file = join(dir.path, "a.txt");
  await Deno.writeTextFile(file, "direct");
  const ok = await transfer(server.url, [file], join(dir.path, "out"), {
    sendArgs: ["--direct-only"],
  });
  equal(ok.sent.code, 0, ok.sent.stderr);
  equal(ok.sent.events.find((e) => e.type === "connected")?.path, "direct");
  equal(await Deno.readTextFile(join(dir.path, "out", "a.txt")), "direct");

  const refused = await transfer(server.url, [file], join(dir.path, "out2"), {
    sendArgs: ["--direct-only"],
    receiveArgs: ["--yes", "--relay-only"],
  });
  equal(refused.sent.code, 5, refused.sent.stderr);
  const error = refused.sent.events.find((e) => e.type === "error")!;
  equal(error.error, "no_direct");
  match(error.message as string, /relay-only/);
});

Deno.test("punch resumes an interrupted transfer where it stopped and keeps files already there", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const src = join(dir.path, "src");
  await Deno.mkdir(src);
  await writeRandomFile(join(src, "a.bin"), 3 * MiB);
  await writeRandomFile(join(src, "b.bin"), 256 * MiB);
  const out = join(dir.path, "out");

  // Interrupted with Ctrl-C once data flows: what arrived is kept.
  const sender = new Punch(["send", "--json", "--relay-only", "--server", server.url, src]);
  const code = (await sender.event("code")).code as string;
  const receiver = new Punch(
    ["receive", "--json", "--yes", "--relay-only", "--server", server.url, "--out", out, code],
  );
  await receiver.event("progress", (e) => (e.bytes as number) > 4 * MiB);
  receiver.child.kill("SIGINT");
  const [stopped, interrupted] = await Promise.all([sender.done, receiver.done]);
  ok(stopped.code !== 0 && interrupted.code !== 0, interrupted.stderr);
  const kept = interrupted.events.find((e) => e.type === "kept");
  ok(kept, interrupted.stderr);
  const keptBytes = kept.bytes as number;
  equal(kept.files, 1);
  ok(keptBytes > MiB && keptBytes < 256 * MiB, JSON.stringify(kept));
  const left = (await describeTree(out)).map((line) => line.split(" ")[0]!);
  deepEqual(left.filter((path) => !path.includes(".partial")), ["src", "src/a.bin"]);

  // The same send and receive again: only the rest moves.
  const { sent, received } = await transfer(server.url, [src], out);
  equal(received.code, 0, received.stderr);
  equal(sent.code, 0, sent.stderr);
  const resume = received.events.find((e) => e.type === "resume")!;
  deepEqual(resume, { type: "resume", files: 2, bytes: 3 * MiB + keptBytes });
  // Both sides showed their hashing of the held bytes, to the end.
  for (const side of [received, sent]) {
    deepEqual(side.events.findLast((e) => e.type === "checking"), {
      type: "checking",
      bytes: 3 * MiB + keptBytes,
      total: 3 * MiB + keptBytes,
    });
  }
  const done = received.events.find((e) => e.type === "done")!;
  equal(done.resumed, 3 * MiB + keptBytes);
  equal(done.bytes, 256 * MiB - keptBytes);
  equal(sent.events.find((e) => e.type === "done")?.bytes, 256 * MiB - keptBytes);
  deepEqual(await describeTree(join(out, "src")), await describeTree(src));
});

Deno.test("punch resumes after the receiver is killed with SIGKILL, and leaves nothing hidden behind", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const src = join(dir.path, "src");
  await Deno.mkdir(src);
  await writeRandomFile(join(src, "big.bin"), 256 * MiB);
  const out = join(dir.path, "out");

  // Killed outright once data flows: the receiver parks nothing itself.
  const sender = new Punch(["send", "--json", "--relay-only", "--server", server.url, src]);
  const code = (await sender.event("code")).code as string;
  const receiver = new Punch(
    ["receive", "--json", "--yes", "--relay-only", "--server", server.url, "--out", out, code],
  );
  await receiver.event("progress", (e) => (e.bytes as number) > 4 * MiB);
  receiver.kill();
  const killed = await receiver.done;
  equal(killed.events.find((e) => e.type === "done"), undefined, "killed before the end");
  // The sender hears of it from the relay; it is stopped if it waits on.
  const stop = setTimeout(() => sender.child.kill("SIGINT"), 15_000);
  const stopped = await sender.done;
  clearTimeout(stop);
  ok(stopped.code !== 0, stopped.stderr);
  // The bytes are under the name a rerun looks for, and nowhere else.
  const partial = partialName("src/big.bin");
  deepEqual((await describeTree(out)).map((line) => line.split(" ")[0]!), [
    "src",
    `src/${partial}`,
  ]);
  const held = (await Deno.stat(join(out, "src", partial))).size;
  ok(held > 0 && held < 256 * MiB, String(held));

  // The same commands again: only the rest moves, and nothing is left over.
  const { sent, received } = await transfer(server.url, [src], out, {
    sendArgs: ["--relay-only"],
  });
  equal(received.code, 0, received.stderr);
  equal(sent.code, 0, sent.stderr);
  deepEqual(received.events.find((e) => e.type === "resume"), {
    type: "resume",
    files: 1,
    bytes: held,
  });
  const done = received.events.find((e) => e.type === "done")!;
  equal(done.resumed, held);
  equal(done.bytes, 256 * MiB - held);
  deepEqual((await describeTree(out)).map((line) => line.split(" ")[0]!), ["src", "src/big.bin"]);
  deepEqual(await describeTree(join(out, "src")), await describeTree(src));
});
