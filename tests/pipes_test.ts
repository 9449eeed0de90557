/**
 * End-to-end: text and pipes with real `punch serve`, `punch send` and
 * `punch receive` processes. The receiver's stdout is read raw: with
 * `--out -` it holds the data and nothing else.
 */

import { equal, match, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Punch, startServe, tempDir } from "./_helpers.ts";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;
/** Longest a test's process may run before it is killed: the test then fails. */
const PROCESS_LIMIT_MS = 180_000;
/** A generous bound on each side's peak RSS for a stream of any size: memory stays flat. */
const PEAK_RSS_LIMIT_MIB = 300;

/** A sender of `args` (after `send --json --relay-only`), on stdin the given bytes; its code. */
async function sender(
  url: string,
  args: string[],
  stdin?: string | ReadableStream<Uint8Array>,
): Promise<{ punch: Punch; code: string }> {
  const punch = new Punch(
    ["send", "--json", "--relay-only", "--server", url, ...args],
    stdin === undefined ? {} : { stdin },
  );
  const code = (await punch.event("code")).code as string;
  return { punch, code };
}

/** `punch receive` with raw stdout and stderr. */
function receiver(url: string, args: string[]): Deno.ChildProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "receive", "--no-port-mapping", "--server", url, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), PROCESS_LIMIT_MS);
  child.status.finally(() => clearTimeout(timer));
  return child;
}

Deno.test("punch send - then punch receive --out - prints what was piped in, and nothing else", async () => {
  await using server = await startServe();
  const { punch, code } = await sender(server.url, ["-"], "hello\n");
  const out = await receiver(server.url, ["--out", "-", code]).output();
  const sent = await punch.done;
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  equal(new TextDecoder().decode(out.stdout), "hello\n");
  match(new TextDecoder().decode(out.stderr), /Offer: a stream of unknown length, as stdin/);
  equal(sent.code, 0, sent.stderr);
  const progress = sent.events.filter((e) => e.type === "progress");
  ok(progress.length > 0 && progress.every((e) => !("total" in e)), "no total for a stream");
});

Deno.test("punch send --text: the receiver prints short text without asking, exact through a pipe", async () => {
  await using server = await startServe();
  for (const text of ["hi", "line\n\ttab \x1b[31mred\x1b[0m \u202e ünï"]) {
    const { punch, code } = await sender(server.url, ["--text", text]);
    // No --yes, stdin not a terminal: short text needs no answer.
    const out = await receiver(server.url, [code]).output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
    equal(new TextDecoder().decode(out.stdout), text);
    equal((await punch.done).code, 0);
  }
});

Deno.test("punch receive --out - refuses several files before anything is written", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a"), "a");
  await Deno.writeTextFile(join(dir.path, "b"), "b");
  const { punch, code } = await sender(server.url, [join(dir.path, "a"), join(dir.path, "b")]);
  const out = await receiver(server.url, ["--out", "-", code]).output();
  equal(out.code, 6);
  equal(out.stdout.length, 0);
  match(new TextDecoder().decode(out.stderr), /Cannot write 2 file\(s\) to stdout/);
  equal((await punch.done).code, 6);
});

Deno.test("punch send - streams into a file through a temporary name, none left behind", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const text = Array.from({ length: 200_000 }, (_, i) => `${i}\n`).join("");
  const { punch, code } = await sender(server.url, ["-"], text);
  const out = await receiver(server.url, ["--yes", "--out", dir.path, code]).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  equal(out.stdout.length, 0);
  equal((await punch.done).code, 0);
  equal(await Deno.readTextFile(join(dir.path, "stdin")), text);
  equal([...Deno.readDirSync(dir.path)].length, 1);
});

/** `bytes` of random data in 1 MiB chunks, hashed into `hash` as they are read. */
function randomStream(bytes: number, hash: ReturnType<typeof createHash>) {
  let left = bytes;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left === 0) return controller.close();
      const chunk = new Uint8Array(Math.min(MiB, left));
      for (let at = 0; at < chunk.length; at += 65536) {
        crypto.getRandomValues(chunk.subarray(at, at + 65536));
      }
      hash.update(chunk);
      left -= chunk.length;
      controller.enqueue(chunk);
    },
  });
}

/** Samples the peak RSS (VmHWM) of a process until it exits; MiB, 0 where /proc is missing. */
function peakRss(pid: number, status: Promise<unknown>): { peak: () => number } {
  let peak = 0;
  const sample = () => {
    try {
      const kib = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1];
      peak = Math.max(peak, Number(kib ?? 0) / 1024);
    } catch { /* exited, or no /proc */ }
  };
  const timer = setInterval(sample, 50);
  status.finally(() => clearInterval(timer));
  return { peak: () => peak };
}

Deno.test("punch moves a 256 MiB stream from a pipe to a pipe intact, each side's memory flat", async () => {
  await using server = await startServe();
  const size = 256 * MiB;
  const sentHash = createHash("sha256");
  const { punch, code } = await sender(server.url, ["-"], randomStream(size, sentHash));
  const child = receiver(server.url, ["--out", "-", code]);
  const senderRss = peakRss(punch.child.pid, punch.child.status);
  const receiverRss = peakRss(child.pid, child.status);
  const receivedHash = createHash("sha256");
  let received = 0;
  const stderr = new Response(child.stderr).text();
  for await (const chunk of child.stdout) {
    receivedHash.update(chunk);
    received += chunk.length;
  }
  const [status, sent] = await Promise.all([child.status, punch.done]);
  equal(status.code, 0, await stderr);
  equal(sent.code, 0, sent.stderr);
  equal(received, size);
  equal(receivedHash.digest("hex"), sentHash.digest("hex"));
  const done = sent.events.find((e) => e.type === "done")!;
  equal(done.bytes, size);
  if (Deno.build.os === "linux") {
    ok(senderRss.peak() > 0 && receiverRss.peak() > 0, "peak RSS read from /proc");
    ok(senderRss.peak() < PEAK_RSS_LIMIT_MIB, `sender peak RSS ${senderRss.peak()} MiB`);
    ok(receiverRss.peak() < PEAK_RSS_LIMIT_MIB, `receiver peak RSS ${receiverRss.peak()} MiB`);
    console.log(
      `peak RSS: sender ${senderRss.peak().toFixed(0)} MiB, receiver ${
        receiverRss.peak().toFixed(0)
      } MiB`,
    );
  }
});

Deno.test("punch receive --out - writes a single file to stdout byte-identical", async () => {
  await using server = await startServe();
  await using dir = await tempDir();
  const file = join(dir.path, "blob.bin");
  const bytes = crypto.getRandomValues(new Uint8Array(65536));
  const blob = new Uint8Array(3 * MiB + 5).map((_, i) => bytes[i % 65536]! ^ (i >> 16));
  await Deno.writeFile(file, blob);
  const { punch, code } = await sender(server.url, [file]);
  const out = await receiver(server.url, ["--out", "-", code]).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  equal(Buffer.compare(out.stdout, blob), 0);
  equal((await punch.done).code, 0);
  equal([...Deno.readDirSync(dir.path)].length, 1, "nothing written beside the source");
});
