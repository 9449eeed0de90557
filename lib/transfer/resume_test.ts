import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { scanPaths } from "./manifest.ts";
import {
  decodeMessage,
  encodeMessage,
  type HaveEntry,
  type ResumeEntry,
  TransferError,
} from "./messages.ts";
import { freeBytesAt, receiveFiles } from "./receive.ts";
import { hashPrefix, hashPrefixes, partialName } from "./resume.ts";
import { receiveEntries, receiveMessage, type Resumed, sendEntries, sendFiles } from "./send.ts";
import { channels, cutAfterData, listTree, tempDir } from "./_test_utils.ts";

const MiB = 1024 * 1024;

function random(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  }
  return bytes;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** Two temporary directories, `src` and `out`, removed after `body`. */
async function withDirs(body: (src: string, out: string) => Promise<void>): Promise<void> {
  const src = await tempDir();
  const out = await tempDir();
  try {
    await body(src, out);
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
}

Deno.test("partialName() is fixed per path and fits in a file name", () => {
  equal(partialName("a/b.txt"), partialName("a/b.txt"));
  ok(partialName("a/b.txt") !== partialName("a/c.txt"));
  equal(partialName("x".repeat(4000)).length, ".punch-".length + 16 + ".partial".length);
  // Pinned, so that a later version still finds what this one parked.
  equal(partialName("f"), ".punch-7a5ef20a1ddebf21.partial");
});

Deno.test("hashPrefixes() counts progress over all files and stops between reads on abort", async () => {
  const src = await tempDir();
  try {
    const data = crypto.getRandomValues(new Uint8Array(65536));
    await Deno.writeFile(join(src, "a"), data);
    await Deno.writeFile(join(src, "b"), new Uint8Array(3 * MiB));
    const items = [
      { source: join(src, "a"), bytes: 1000 },
      { source: () => Deno.openSync(join(src, "b")), bytes: 3 * MiB },
    ];
    const seen: number[] = [];
    const sums = await hashPrefixes(items, {
      onProgress: ({ bytes, total }) => {
        equal(total, 1000 + 3 * MiB);
        seen.push(bytes);
      },
    });
    deepEqual(sums[0], sha256(data.subarray(0, 1000)));
    deepEqual(seen, [1000, 1000 + MiB, 1000 + 2 * MiB, 1000 + 3 * MiB]);

    const stop = new AbortController();
    await rejects(
      hashPrefixes(items, { signal: stop.signal, onProgress: () => stop.abort() }),
      (error) => error instanceof TransferError && error.code === "cancelled",
    );
  } finally {
    await Deno.remove(src, { recursive: true });
  }
});

Deno.test("receiveEntries() reads entries over several messages, and refuses one too many", async () => {
  const [a, b] = channels();
  const entries = [
    { index: 0, sha256: new Uint8Array(32).fill(1) },
    { index: 2, sha256: new Uint8Array(32).fill(2) },
  ];
  await sendEntries(a, "check", entries.slice(0, 1));
  await sendEntries(a, "check", entries.slice(1));
  deepEqual(await receiveEntries(b, "check", 2, "sender"), entries);
  await sendEntries(a, "check", entries);
  await rejects(
    receiveEntries(b, "check", 1, "sender"),
    (error) => error instanceof TransferError && error.code === "protocol",
  );
  a.abort();
  b.abort();
});

Deno.test("hashPrefix() hashes the first bytes, or says the file is shorter", async () => {
  await withDirs(async (src) => {
    const data = random(3 * MiB + 5);
    await Deno.writeFile(join(src, "f"), data);
    deepEqual(await hashPrefix(join(src, "f"), 2 * MiB + 1), sha256(data.subarray(0, 2 * MiB + 1)));
    deepEqual(await hashPrefix(join(src, "f"), 0), sha256(new Uint8Array()));
    equal(await hashPrefix(join(src, "f"), data.length + 1), null);
  });
});

Deno.test("a failed receive parks its partial file, and the next one sends only the rest", async () => {
  await withDirs(async (src, out) => {
    const data = random(5 * MiB + 123);
    await Deno.writeFile(join(src, "f"), data);
    const scan = await scanPaths([join(src, "f")]);

    // The stream ends after two data records.
    const [a1, b1] = channels(cutAfterData(2));
    const kept: Resumed[] = [];
    const [, failed] = await Promise.allSettled([
      sendFiles(a1, scan),
      receiveFiles(b1, { out, onKept: (k) => kept.push(k) }),
    ]);
    a1.abort();
    equal(failed.status, "rejected");
    deepEqual(await listTree(out), [partialName("f")]);
    deepEqual(kept, [{ files: 1, bytes: 2 * MiB }]);
    deepEqual(await Deno.readFile(join(out, partialName("f"))), data.subarray(0, 2 * MiB));

    const [a2, b2] = channels();
    const resumes: Resumed[] = [];
    const checks: Resumed[] = [];
    const [sent, received] = await Promise.all([
      sendFiles(a2, scan, { onCheck: (c) => checks.push(c), onResume: (r) => resumes.push(r) }),
      receiveFiles(b2, { out, onCheck: (c) => checks.push(c), onResume: (r) => resumes.push(r) }),
    ]);
    deepEqual(checks, [{ files: 1, bytes: 2 * MiB }, { files: 1, bytes: 2 * MiB }]);
    deepEqual(sent, { files: 1, bytes: data.length - 2 * MiB, resumed: 2 * MiB });
    equal(received.bytes, data.length - 2 * MiB);
    equal(received.resumed, 2 * MiB);
    deepEqual(resumes, [{ files: 1, bytes: 2 * MiB }, { files: 1, bytes: 2 * MiB }]);
    deepEqual(await listTree(out), ["f"]);
    deepEqual(await Deno.readFile(join(out, "f")), data);
  });
});

Deno.test("a partial file whose bytes differ from the sender's is sent again from the start", async () => {
  await withDirs(async (src, out) => {
    const data = random(3 * MiB);
    await Deno.writeFile(join(src, "f"), data);
    await Deno.writeFile(join(out, partialName("f")), random(MiB));
    // Longer than the offered file: removed, not used.
    await Deno.writeFile(join(src, "g"), Uint8Array.of(1, 2));
    await Deno.writeFile(join(out, partialName("g")), Uint8Array.of(1, 2, 3));
    const scan = await scanPaths([join(src, "f"), join(src, "g")]);
    const [a, b] = channels();
    const [sent, received] = await Promise.all([sendFiles(a, scan), receiveFiles(b, { out })]);
    deepEqual(sent, { files: 2, bytes: data.length + 2, resumed: 0 });
    equal(received.resumed, 0);
    deepEqual(await listTree(out), ["f", "g"]);
    deepEqual(await Deno.readFile(join(out, "f")), data);
  });
});

Deno.test("an existing file with the sender's bytes is kept, not refused or sent again", async () => {
  await withDirs(async (src, out) => {
    const same = random(MiB + 7);
    await Deno.mkdir(join(src, "d"));
    await Deno.writeFile(join(src, "d", "same"), same);
    await Deno.writeFile(join(src, "d", "empty"), new Uint8Array());
    await Deno.writeFile(join(src, "d", "new"), Uint8Array.of(9));
    await Deno.mkdir(join(out, "d"));
    await Deno.writeFile(join(out, "d", "same"), same, { mode: 0o600 });
    await Deno.writeFile(join(out, "d", "empty"), new Uint8Array());
    const before = await Deno.stat(join(out, "d", "same"));
    const scan = await scanPaths([join(src, "d")]);
    const [a, b] = channels();
    const [sent, received] = await Promise.all([sendFiles(a, scan), receiveFiles(b, { out })]);
    deepEqual(sent, { files: 3, bytes: 1, resumed: same.length });
    equal(received.files, 3);
    deepEqual(await listTree(out), ["d", "d/empty", "d/new", "d/same"]);
    const after = await Deno.stat(join(out, "d", "same"));
    equal(after.ino, before.ino, "the same file, untouched");
    equal(after.mtime?.getTime(), before.mtime?.getTime());
  });
});

Deno.test("an existing file of the same size with other bytes is refused before anything is written", async () => {
  await withDirs(async (src, out) => {
    await Deno.mkdir(join(src, "d"));
    await Deno.writeTextFile(join(src, "d", "a"), "new a");
    await Deno.writeTextFile(join(src, "d", "b"), "sender");
    await Deno.mkdir(join(out, "d"));
    await Deno.writeTextFile(join(out, "d", "b"), "theirs");
    const scan = await scanPaths([join(src, "d")]);
    const [a, b] = channels();
    const [sent, received] = await Promise.allSettled([
      sendFiles(a, scan),
      receiveFiles(b, { out }),
    ]);
    ok(received.status === "rejected" && received.reason.code === "conflict");
    ok(/d\/b.*--overwrite/.test(received.reason.message), received.reason.message);
    ok(sent.status === "rejected");
    deepEqual(await listTree(out), ["d", "d/b"]);
    equal(await Deno.readTextFile(join(out, "d", "b")), "theirs");

    const [a2, b2] = channels();
    const [, done] = await Promise.all([
      sendFiles(a2, scan),
      receiveFiles(b2, { out, overwrite: true }),
    ]);
    equal(done.files, 2);
    equal(await Deno.readTextFile(join(out, "d", "b")), "sender");
  });
});

Deno.test("a file that appears at the target while receiving is not overwritten, and the received copy is kept to resume", async () => {
  await withDirs(async (src, out) => {
    const data = random(3 * MiB);
    await Deno.writeFile(join(src, "f"), data);
    const scan = await scanPaths([join(src, "f")]);
    const [a, b] = channels();
    const kept: Resumed[] = [];
    let appeared = false;
    const [, failed] = await Promise.allSettled([
      sendFiles(a, scan),
      receiveFiles(b, {
        out,
        onKept: (k) => kept.push(k),
        onProgress: () => {
          if (!appeared) Deno.writeTextFileSync(join(out, "f"), "theirs");
          appeared = true;
        },
      }),
    ]);
    a.abort();
    ok(failed.status === "rejected" && failed.reason instanceof TransferError);
    equal(failed.reason.code, "conflict");
    equal(
      failed.reason.message,
      "Cannot write f: it appeared while receiving, and nothing was overwritten; the received copy is kept, so receiving again with --overwrite replaces it without sending it again",
    );
    equal(await Deno.readTextFile(join(out, "f")), "theirs");
    deepEqual(kept, [{ files: 1, bytes: data.length }]);
    deepEqual(await listTree(out), [partialName("f"), "f"].sort());

    const [c, d] = channels();
    const [, done] = await Promise.all([
      sendFiles(c, scan),
      receiveFiles(d, { out, overwrite: true }),
    ]);
    deepEqual({ bytes: done.bytes, resumed: done.resumed }, { bytes: 0, resumed: data.length });
    deepEqual(await listTree(out), ["f"]);
    deepEqual(await Deno.readFile(join(out, "f")), data);
  });
});

/**
 * A receiver that accepts, sends `have` as given (announcing `count`
 * entries), and answers the sender's `check` with `resume`.
 */
async function hostileReceiver(
  channel: Awaited<ReturnType<typeof channels>>[1],
  have: HaveEntry[],
  count = have.length,
  resume: ResumeEntry[] = [],
): Promise<void> {
  await receiveMessage(channel);
  await channel.send(encodeMessage({ type: "answer", accept: true, have: count }));
  if (have.length === 0) return;
  await channel.send(encodeMessage({ type: "have", entries: have }));
  if (resume.length === 0) return;
  const check = await receiveMessage(channel);
  equal(check.type, "check");
  await channel.send(encodeMessage({ type: "resume", entries: resume }));
}

Deno.test("sendFiles() refuses a have list or a resume that does not fit the manifest", async () => {
  await withDirs(async (src) => {
    await Deno.mkdir(join(src, "d"));
    await Deno.writeTextFile(join(src, "d", "a"), "aaaa");
    await Deno.writeTextFile(join(src, "d", "b"), "bbbb");
    const scan = await scanPaths([join(src, "d")]); // 0: d, 1: d/a, 2: d/b
    const cases: [string, HaveEntry[], number?, ResumeEntry[]?][] = [
      ["more bytes than the file", [{ index: 1, bytes: 5 }]],
      ["a directory", [{ index: 0, bytes: 0 }]],
      ["no such entry", [{ index: 9, bytes: 0 }]],
      ["out of order", [{ index: 2, bytes: 1 }, { index: 1, bytes: 1 }]],
      ["more held files than files", [], 3],
      ["a resume offset between", [{ index: 1, bytes: 2 }], 1, [{ index: 1, offset: 1 }]],
      ["a resume of another file", [{ index: 1, bytes: 2 }], 1, [{ index: 2, offset: 0 }]],
    ];
    for (const [name, have, count, resume] of cases) {
      const [a, b] = channels();
      const attack = hostileReceiver(b, have, count, resume);
      await rejects(
        sendFiles(a, scan),
        (e) => e instanceof TransferError && e.code === "protocol",
        name,
      );
      await attack;
      b.abort();
    }
  });
});

Deno.test("receiveFiles() sends no hash, refuses a check for another file, and parks the partial file again", async () => {
  await withDirs(async (_, out) => {
    const held = random(1000);
    await Deno.writeFile(join(out, partialName("f")), held);
    const [a, b] = channels();
    const attack = (async () => {
      const piece = new TextEncoder().encode(
        JSON.stringify({
          entries: [{ path: "f", kind: "file", size: 2000, mode: 0o644 }],
          files: 1,
          bytes: 2000,
        }),
      );
      await a.send(encodeMessage({ type: "offer", more: false, piece }));
      const answer = decodeMessage((await a.receive())!);
      deepEqual(answer, { type: "answer", accept: true, have: 1 });
      const have = decodeMessage((await a.receive())!);
      deepEqual(have, { type: "have", entries: [{ index: 0, bytes: 1000 }] });
      await a.send(encodeMessage({ type: "check", entries: [{ index: 1, sha256: sha256(held) }] }));
    })();
    const kept: Resumed[] = [];
    await rejects(
      receiveFiles(b, { out, onKept: (k) => kept.push(k) }),
      (e) => e instanceof TransferError && e.code === "protocol",
    );
    await attack;
    deepEqual(kept, [{ files: 1, bytes: 1000 }]);
    deepEqual(await listTree(out), [partialName("f")]);
    deepEqual(await Deno.readFile(join(out, partialName("f"))), held);
  });
});

Deno.test("receiveFiles() refuses what cannot fit, counting what held files may supply", async () => {
  await withDirs(async (src, out) => {
    const data = random(3 * MiB);
    await Deno.writeFile(join(src, "f"), data);
    await Deno.writeFile(join(src, "same"), data.subarray(0, MiB));
    const scan = await scanPaths([join(src, "f"), join(src, "same")]);
    const freeBytes = () => MiB; // a fake disk with 1 MiB free
    // Nothing held: 4 MiB cannot fit in 1 MiB, and nobody is asked.
    let asked = false;
    const [a, b] = channels();
    const [sent, received] = await Promise.allSettled([
      sendFiles(a, scan),
      receiveFiles(b, { out, freeBytes, confirm: () => asked = true }),
    ]);
    ok(received.status === "rejected" && received.reason instanceof TransferError);
    equal(received.reason.code, "no_space");
    equal(
      received.reason.message,
      `Cannot receive 4.0 MiB into ${out}: only 1.0 MiB is free there; make room or choose another --out`,
    );
    ok(sent.status === "rejected" && sent.reason.peerCode === "no_space", String(sent));
    equal(asked, false);
    deepEqual(await listTree(out), []);
    // 2.5 MiB of f parked by an earlier transfer, and a file of same's size
    // already there: 0.5 MiB may be all that is left to write, so it is tried.
    await Deno.writeFile(join(out, partialName("f")), data.subarray(0, 2.5 * MiB));
    await Deno.writeFile(join(out, "same"), data.subarray(0, MiB));
    const [c, d] = channels();
    const [, done] = await Promise.all([sendFiles(c, scan), receiveFiles(d, { out, freeBytes })]);
    deepEqual({ bytes: done.bytes, resumed: done.resumed }, {
      bytes: 0.5 * MiB,
      resumed: 3.5 * MiB,
    });
    deepEqual(await Deno.readFile(join(out, "f")), data);
  });
});

Deno.test("freeBytesAt() asks the nearest existing directory, and says null for a size-less file system", async () => {
  const dir = await tempDir();
  try {
    const free = freeBytesAt(dir);
    // Elsewhere the system may not tell: then nothing is checked.
    if (free === null && Deno.build.os !== "linux") return;
    ok(free !== null && free > 0, String(free));
    const missing = freeBytesAt(join(dir, "not", "yet"));
    ok(missing !== null && Math.abs(missing - free) < 64 * MiB, `${missing} vs ${free}`);
    if (Deno.build.os === "linux") equal(freeBytesAt("/proc"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
