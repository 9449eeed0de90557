import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { PunchError } from "../errors.ts";
import type { Channel } from "../link/channel.ts";
import { type Manifest, scanPaths } from "./manifest.ts";
import { allocateData, decodeMessage, encodeMessage, TransferError } from "./messages.ts";
import { receiveFiles } from "./receive.ts";
import { partialName } from "./resume.ts";
import { receiveMessage, sendFiles } from "./send.ts";
import { channels, cutAfter, listTree, tempDir } from "./_test_utils.ts";

/** A hostile sender: sends a hand-made manifest, then whatever `script` sends. */
async function hostileOffer(channel: Channel, manifest: unknown): Promise<void> {
  const piece = new TextEncoder().encode(JSON.stringify(manifest));
  await channel.send(encodeMessage({ type: "offer", more: false, piece }));
}

function manifestOf(entries: { path: string; kind: "file" | "dir"; size: number; mode: number }[]) {
  return {
    entries,
    files: entries.filter((e) => e.kind === "file").length,
    bytes: entries.reduce((n, e) => n + e.size, 0),
  };
}

Deno.test("sendFiles() and receiveFiles() move a tree with empty dirs, unicode and modes", async () => {
  const src = await tempDir();
  const out = await tempDir();
  try {
    await Deno.mkdir(join(src, "d", "empty"), { recursive: true });
    await Deno.writeTextFile(join(src, "d", "ünï 📦.txt"), "x".repeat(200_000));
    await Deno.writeFile(join(src, "d", "zero"), new Uint8Array());
    const scan = await scanPaths([join(src, "d")]);
    const [a, b] = channels();
    const progress: number[] = [];
    const [sent, received] = await Promise.all([
      sendFiles(a, scan),
      receiveFiles(b, { out, onProgress: (p) => progress.push(p.bytes) }),
    ]);
    deepEqual(sent, { files: 2, bytes: 200_000, resumed: 0 });
    equal(received.files, 2);
    equal(progress.at(-1), 200_000);
    deepEqual(await listTree(out), ["d", "d/empty", "d/zero", "d/ünï 📦.txt"]);
    equal(await Deno.readTextFile(join(out, "d", "ünï 📦.txt")), "x".repeat(200_000));
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

const HOSTILE_PATHS = [
  "/etc/passwd",
  "../escape",
  "a/../../escape",
  "C:evil",
  "a\\..\\b",
  "nul\u0000byte",
  "",
  "a//b",
  "CON",
];

for (const path of HOSTILE_PATHS) {
  Deno.test(`receiveFiles() refuses the manifest path ${JSON.stringify(path)} and writes nothing`, async () => {
    const out = await tempDir();
    try {
      const [a, b] = channels();
      const offered = hostileOffer(a, manifestOf([{ path, kind: "file", size: 1, mode: 0o644 }]));
      await rejects(
        receiveFiles(b, { out }),
        (e) => e instanceof TransferError && (e.code === "bad_path" || e.code === "bad_manifest"),
      );
      await offered;
      const reply = decodeMessage((await a.receive())!);
      equal(reply.type, "error");
      deepEqual(await listTree(out), []);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}

Deno.test("receiveFiles() refuses a path through a link that escapes --out", async () => {
  if (Deno.build.os === "windows") return;
  const out = await tempDir();
  const outside = await tempDir();
  try {
    await Deno.symlink(outside, join(out, "link"));
    const [a, b] = channels();
    const offered = hostileOffer(
      a,
      manifestOf([{ path: "link/x", kind: "file", size: 1, mode: 0o644 }]),
    );
    await rejects(
      receiveFiles(b, { out }),
      (e) => e instanceof TransferError && e.code === "bad_path",
    );
    await offered;
    deepEqual(await listTree(outside), []);
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test({
  name:
    "receiveFiles() never creates or writes through a directory swapped for a link while it waits",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await tempDir();
    const out = join(dir, "out");
    const outside = join(dir, "outside");
    try {
      await Deno.mkdir(join(out, "d"), { recursive: true });
      await Deno.mkdir(outside);
      // A partial file of x makes the receiver wait for the sender's check.
      await Deno.writeFile(join(out, partialName("x")), Uint8Array.of(1, 2, 3));
      const [a, b] = channels();
      const attack = (async () => {
        await hostileOffer(
          a,
          manifestOf([
            { path: "d", kind: "dir", size: 0, mode: 0o755 },
            { path: "d/e", kind: "dir", size: 0, mode: 0o755 },
            { path: "d/f", kind: "file", size: 4, mode: 0o644 },
            { path: "x", kind: "file", size: 10, mode: 0o644 },
          ]),
        );
        equal(decodeMessage((await a.receive())!).type, "answer");
        deepEqual(decodeMessage((await a.receive())!), {
          type: "have",
          entries: [{ index: 3, bytes: 3 }],
        });
        // Every check passed; the sender holds its check back while a local
        // accomplice swaps the directory for a link to elsewhere.
        await Deno.rename(join(out, "d"), join(out, "d.moved"));
        await Deno.symlink(outside, join(out, "d"));
        await a.send(
          encodeMessage({ type: "check", entries: [{ index: 3, sha256: new Uint8Array(32) }] }),
        );
        equal(decodeMessage((await a.receive())!).type, "resume");
        await a.send(allocateData(2, 0, 4));
      })();
      const kept: unknown[] = [];
      await rejects(
        receiveFiles(b, { out, onKept: (k) => kept.push(k) }),
        (e) =>
          e instanceof TransferError && e.code === "bad_path" &&
          e.message.includes('"d" is a symbolic link in the output directory'),
      );
      await attack;
      deepEqual(await listTree(outside), []);
      deepEqual(await listTree(join(out, "d.moved")), []);
      // The claimed partial file is given back for the next receive.
      deepEqual(kept, [{ files: 1, bytes: 3 }]);
      deepEqual(await Deno.readFile(join(out, partialName("x"))), Uint8Array.of(1, 2, 3));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "receiveFiles() never moves a file into place through a directory swapped while it was written",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await tempDir();
    const out = join(dir, "out");
    const outside = join(dir, "outside");
    try {
      await Deno.mkdir(join(out, "d"), { recursive: true });
      await Deno.mkdir(outside);
      const [a, b] = channels();
      const attack = (async () => {
        await hostileOffer(a, manifestOf([{ path: "d/f", kind: "file", size: 4, mode: 0o644 }]));
        equal(decodeMessage((await a.receive())!).type, "answer");
        const data = allocateData(0, 0, 4);
        await a.send(data);
        const digest = new Uint8Array(createHash("sha256").update(a.sentTag).digest());
        // Once the bytes are on disk, the directory is swapped for a link.
        const partial = join(out, "d", partialName("d/f"));
        for (let i = 0; i < 500; i++) {
          if ((await Deno.stat(partial).catch(() => null))?.size === 4) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await Deno.rename(join(out, "d"), join(out, "d.moved"));
        await Deno.symlink(outside, join(out, "d"));
        await a.send(encodeMessage({ type: "file_end", index: 0, digest }));
        await a.send(encodeMessage({ type: "done" }));
      })();
      await rejects(
        receiveFiles(b, { out }),
        (e) => e instanceof TransferError && e.code === "bad_path",
      );
      await attack;
      deepEqual(await listTree(outside), []);
      // What came is kept where it was written, for a later receive.
      deepEqual(await listTree(join(out, "d.moved")), [partialName("d/f")]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "receiveFiles() never writes through a hard link planted at a partial name",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await tempDir();
    const src = join(dir, "src");
    const out = join(dir, "out");
    const outside = join(dir, "outside");
    try {
      await Deno.mkdir(src);
      await Deno.mkdir(out);
      await Deno.mkdir(outside);
      const data = new Uint8Array(100_000).map((_, i) => (i * 7919) % 251);
      await Deno.writeFile(join(src, "f"), data);
      // Someone else's file, linked at the name f's partial file would have.
      await Deno.writeTextFile(join(outside, "victim"), "secret");
      await Deno.link(join(outside, "victim"), join(out, partialName("f")));
      // And another at the same bytes as the sender's start, which a resume would append to.
      await Deno.writeFile(join(src, "g"), data);
      await Deno.writeFile(join(outside, "victim2"), data.subarray(0, 1000));
      await Deno.link(join(outside, "victim2"), join(out, partialName("g")));
      const scan = await scanPaths([join(src, "f"), join(src, "g")]);
      const [a, b] = channels();
      const [sent, received] = await Promise.all([sendFiles(a, scan), receiveFiles(b, { out })]);
      deepEqual(sent, { files: 2, bytes: 200_000, resumed: 0 });
      equal(received.files, 2);
      deepEqual(await Deno.readFile(join(out, "f")), data);
      deepEqual(await Deno.readFile(join(out, "g")), data);
      equal(await Deno.readTextFile(join(outside, "victim")), "secret");
      deepEqual(await Deno.readFile(join(outside, "victim2")), data.subarray(0, 1000));
      equal((await Deno.stat(join(out, "f"))).nlink, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("receiveFiles() rejects data that does not match the manifest or the digest, saying which", async () => {
  // What is left: nothing, or the bytes that came in order, kept to resume.
  const cases: [string, (c: Channel) => Promise<void>, RegExp, string[]?][] = [
    ["data beyond the declared size", async (c) => {
      const msg = allocateData(0, 0, 5);
      await c.send(msg);
    }, /^Data for f runs to byte 5, past its size of 4$/],
    ["data at the wrong offset", async (c) => {
      await c.send(allocateData(0, 2, 1));
    }, /^Data for f at offset 2, where 0 was due$/],
    [
      "data past the end once the file is complete",
      async (c) => {
        await c.send(allocateData(0, 0, 4));
        await c.send(allocateData(0, 4, 1));
      },
      /^Data for f runs to byte 5, past its size of 4$/,
      [partialName("f")],
    ],
    ["a wrong digest", async (c) => {
      await c.send(allocateData(0, 0, 4));
      await c.send(encodeMessage({ type: "file_end", index: 0, digest: new Uint8Array(32) }));
    }, /^Cannot keep f: its digest does not match the sender's$/],
    ["done before every file", async (c) => {
      await c.send(encodeMessage({ type: "done" }));
    }, /^The sender finished before sending every file$/],
    ["an unknown file index", async (c) => {
      await c.send(allocateData(7, 0, 1));
    }, /^Unexpected file index 7$/],
  ];
  for (const [name, script, message, left = []] of cases) {
    const out = await tempDir();
    try {
      const [a, b] = channels();
      const attack = (async () => {
        await hostileOffer(a, manifestOf([{ path: "f", kind: "file", size: 4, mode: 0o644 }]));
        const answer = decodeMessage((await a.receive())!);
        equal(answer.type, "answer");
        await script(a);
      })();
      await rejects(
        receiveFiles(b, { out }),
        (e) =>
          e instanceof TransferError && ["protocol", "integrity"].includes(e.code) &&
          message.test(e.message),
        name,
      );
      await attack;
      deepEqual(await listTree(out), left, `${name}: no .part left`);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  }
});

Deno.test("receiveFiles() refuses data for a file it holds whole, saying so", async () => {
  const out = await tempDir();
  try {
    await Deno.writeTextFile(join(out, "f"), "same");
    const [a, b] = channels();
    const attack = (async () => {
      await hostileOffer(a, manifestOf([{ path: "f", kind: "file", size: 4, mode: 0o644 }]));
      deepEqual(decodeMessage((await a.receive())!), {
        type: "answer",
        accept: true,
        have: 1,
      });
      equal(decodeMessage((await a.receive())!).type, "have");
      const sha256 = new Uint8Array(createHash("sha256").update("same").digest());
      await a.send(encodeMessage({ type: "check", entries: [{ index: 0, sha256 }] }));
      deepEqual(decodeMessage((await a.receive())!), {
        type: "resume",
        entries: [{ index: 0, offset: 4 }],
      });
      await a.send(allocateData(0, 0, 1));
    })();
    await rejects(
      receiveFiles(b, { out }),
      (e) =>
        e instanceof TransferError && e.code === "protocol" &&
        e.message === "Data for f, which the receiver holds whole: no data was due",
    );
    await attack;
    equal(await Deno.readTextFile(join(out, "f")), "same");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("receiveFiles() keeps a file whose digest of record tags matches", async () => {
  const out = await tempDir();
  try {
    const [a, b] = channels();
    const script = (async () => {
      await hostileOffer(a, manifestOf([{ path: "f", kind: "file", size: 4, mode: 0o640 }]));
      await a.receive();
      const msg = allocateData(0, 0, 4);
      msg.set([1, 2, 3, 4], 13);
      await a.send(msg);
      const digest = new Uint8Array(createHash("sha256").update(a.sentTag).digest());
      await a.send(encodeMessage({ type: "file_end", index: 0, digest }));
      await a.send(encodeMessage({ type: "done" }));
      await a.close();
    })();
    const result = await receiveFiles(b, { out });
    await script;
    equal(result.files, 1);
    deepEqual(await Deno.readFile(join(out, "f")), Uint8Array.of(1, 2, 3, 4));
    if (Deno.build.os !== "windows") equal((await Deno.stat(join(out, "f"))).mode! & 0o777, 0o640);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test({
  name: "receiveFiles() honours the receiver's umask: mode 0777 arrives as 0750 under umask 027",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const src = await tempDir();
    const out = await tempDir();
    const before = Deno.umask(0o027);
    try {
      await Deno.writeTextFile(join(src, "run.sh"), "#!/bin/sh\n");
      await Deno.chmod(join(src, "run.sh"), 0o777);
      const scan = await scanPaths([join(src, "run.sh")]);
      equal(scan.manifest.entries[0]!.mode, 0o777);
      const [a, b] = channels();
      await Promise.all([sendFiles(a, scan), receiveFiles(b, { out })]);
      equal((await Deno.stat(join(out, "run.sh"))).mode! & 0o777, 0o750);
    } finally {
      Deno.umask(before);
      await Deno.remove(src, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("sendFiles() reports a receiver that declines", async () => {
  const src = await tempDir();
  const out = await tempDir();
  try {
    await Deno.writeTextFile(join(src, "a"), "a");
    const scan = await scanPaths([join(src, "a")]);
    const [a, b] = channels();
    let asked: Manifest | undefined;
    const [sent, received] = await Promise.allSettled([
      sendFiles(a, scan),
      receiveFiles(b, { out, confirm: (m) => (asked = m, false) }),
    ]);
    equal(asked?.files, 1);
    ok(
      sent.status === "rejected" && sent.reason instanceof TransferError &&
        sent.reason.code === "refused",
    );
    ok(received.status === "rejected" && received.reason.code === "refused");
    deepEqual(await listTree(out), []);
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

/** Runs a transfer whose frames pass through `tap`; returns the receiver's error. */
async function tamperedTransfer(tap: TransformStream<Uint8Array, Uint8Array>): Promise<unknown> {
  const src = await tempDir();
  const out = await tempDir();
  try {
    await Deno.writeFile(join(src, "f"), new Uint8Array(3_500_000).fill(7));
    const scan = await scanPaths([join(src, "f")]);
    const [a, b] = channels(tap);
    const [, received] = await Promise.allSettled([sendFiles(a, scan), receiveFiles(b, { out })]);
    // At most the authenticated records before the bad one, parked for a
    // later transfer; never a file under its final name.
    const left = await listTree(out);
    ok(left.length === 0 || (left.length === 1 && left[0] === partialName("f")), String(left));
    if (left.length === 1) {
      const kept = await Deno.readFile(join(out, left[0]!));
      ok(kept.length < 3_500_000 && kept.every((byte) => byte === 7));
    }
    a.abort();
    return received.status === "rejected" ? received.reason : undefined;
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
}

Deno.test("a tampered record is rejected", async () => {
  let n = 0;
  const error = await tamperedTransfer(
    new TransformStream({
      transform(frame, controller) {
        if (n++ === 2) frame[frame.length - 20]! ^= 1;
        controller.enqueue(frame);
      },
    }),
  );
  ok(error instanceof PunchError && error.kind === "tampered", String(error));
});

Deno.test("messages that arrive out of order are put back in order", async () => {
  const src = await tempDir();
  const out = await tempDir();
  try {
    await Deno.writeFile(join(src, "f"), new Uint8Array(3_500_000).fill(7));
    let n = 0;
    let held: Uint8Array | undefined;
    const [a, b] = channels(
      new TransformStream({
        transform(frame, controller) {
          if (n++ === 2) return void (held = frame);
          controller.enqueue(frame);
          if (held) controller.enqueue(held), held = undefined;
        },
      }),
    );
    const [sent] = await Promise.all([
      sendFiles(a, await scanPaths([join(src, "f")])),
      receiveFiles(b, { out }),
    ]);
    equal(sent.bytes, 3_500_000);
    deepEqual(await Deno.readFile(join(out, "f")), new Uint8Array(3_500_000).fill(7));
    await Promise.all([a.close(), b.close()]);
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a relay that ends mid-transfer fails the receive as the other side gone", async () => {
  const error = await tamperedTransfer(cutAfter(3));
  ok(error instanceof PunchError && error.kind === "peer_gone", String(error));
});

Deno.test("receiveMessage() gives up when its signal aborts, with a cancelled error", async () => {
  const [a] = channels();
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  await rejects(
    receiveMessage(a, controller.signal),
    (e) => e instanceof TransferError && e.code === "cancelled",
  );
  a.abort();
});
