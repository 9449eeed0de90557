import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { crc32 } from "./_crc32.ts";
import { ZIP_QUEUE_BYTES, ZipWriter } from "./_zip.ts";

const MiB = 1 << 20;
const GiB = 1 << 30;
const HAS_UNZIP = new Deno.Command("sh", { args: ["-c", "command -v unzip"], stdout: "null" })
  .outputSync().success;
const HAS_PYTHON = new Deno.Command("sh", { args: ["-c", "command -v python3"], stdout: "null" })
  .outputSync().success;

async function run(command: string, args: string[], cwd?: string): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C.UTF-8" },
    ...(cwd !== undefined ? { cwd } : {}),
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (!success) {
    throw new Error(
      `${command} ${args.join(" ")} failed:\n${text}\n${new TextDecoder().decode(stderr)}`,
    );
  }
  return text;
}

/** The archive written to a file, while `fill` adds its entries. */
async function zipTo(path: string, fill: (zip: ZipWriter) => Promise<void>): Promise<void> {
  const zip = new ZipWriter();
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const written = zip.readable.pipeTo(file.writable);
  await fill(zip);
  await zip.close();
  await written;
}

/** A stream of `total` bytes made of `chunk` over and over (the last one cut). */
function repeated(chunk: Uint8Array, total: number): ReadableStream<Uint8Array> {
  let left = total;
  return new ReadableStream({
    pull(controller) {
      if (left === 0) return controller.close();
      const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= part.length;
      controller.enqueue(part);
    },
  }, { highWaterMark: 0 });
}

const bytesOf = (text: string) => new TextEncoder().encode(text);

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "punch-zip-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test({
  name:
    "ZipWriter writes a tree that unzip and Python's zipfile unpack identical, modes and times kept",
  ignore: !HAS_UNZIP || !HAS_PYTHON,
  async fn() {
    await using dir = await tempDir();
    const big = crypto.getRandomValues(new Uint8Array(65536));
    const bigFile = new Uint8Array(3 * MiB + 12345);
    for (let at = 0; at < bigFile.length; at += big.length) {
      bigFile.set(big.subarray(0, bigFile.length - at), at);
    }
    const mtime = new Date("2024-05-06T07:08:10Z");
    const files: { path: string; bytes: Uint8Array; mode: number; sized: boolean }[] = [
      { path: "tree/empty.txt", bytes: new Uint8Array(0), mode: 0o644, sized: true },
      { path: "tree/naïve 日本 ü😀.txt", bytes: bytesOf("unicode ✓\n"), mode: 0o600, sized: true },
      {
        path: "tree/sub/run.sh",
        bytes: bytesOf("#!/bin/sh\necho hi\n"),
        mode: 0o755,
        sized: false,
      },
      { path: "tree/sub/big.bin", bytes: bigFile, mode: 0o644, sized: false },
      { path: "top.txt", bytes: bytesOf("top\n"), mode: 0o640, sized: true },
    ];
    const archive = join(dir.path, "out.zip");
    await zipTo(archive, async (zip) => {
      await zip.addDirectory("tree", { mtime });
      await zip.addDirectory("tree/sub", { mode: 0o750, mtime });
      await zip.addDirectory("tree/emptydir", { mtime });
      for (const { path, bytes, mode, sized } of files) {
        const writable = zip.addFile(path, {
          mode,
          mtime,
          ...(sized ? { size: bytes.length } : {}),
        });
        // Chunks of odd sizes, so CRC-32 runs over unaligned pieces.
        const writer = writable.getWriter();
        for (let at = 0; at < bytes.length; at += 100_003) {
          await writer.write(bytes.slice(at, at + 100_003));
        }
        await writer.close();
      }
    });

    await run("unzip", ["-tq", archive]);
    const out = join(dir.path, "unzipped");
    await run("unzip", ["-q", archive, "-d", out]);
    for (const { path, bytes, mode } of files) {
      deepEqual(await Deno.readFile(join(out, path)), bytes, path);
      const info = await Deno.stat(join(out, path));
      equal(info.mode! & 0o777, mode, path);
      equal(info.mtime!.getTime(), mtime.getTime(), path);
    }
    equal((await Deno.stat(join(out, "tree/emptydir"))).isDirectory, true);
    equal((await Deno.stat(join(out, "tree/sub"))).mode! & 0o777, 0o750);

    // A second reader: names, flags, sizes, CRCs and the Unix attributes as Python sees them.
    const listing = JSON.parse(
      await run("python3", [
        "-c",
        `import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps([[i.filename, i.flag_bits, i.file_size, i.CRC, i.external_attr >> 16, i.create_system] for i in z.infolist()]))`,
        archive,
      ]),
    );
    deepEqual(listing, [
      ["tree/", 0x800, 0, 0, 0o40755, 3],
      ["tree/sub/", 0x800, 0, 0, 0o40750, 3],
      ["tree/emptydir/", 0x800, 0, 0, 0o40755, 3],
      ...files.map((
        { path, bytes, mode },
      ) => [path, 0x808, bytes.length, crc32(bytes), 0o100000 | mode, 3]),
    ]);
  },
});

Deno.test({
  name: "ZipWriter streams a file over 4 GiB as ZIP64 that unzip reads back, memory flat",
  ignore: !HAS_UNZIP || !HAS_PYTHON,
  async fn() {
    await using dir = await tempDir();
    const chunk = new Uint8Array(MiB);
    for (let at = 0; at < MiB; at += 65536) crypto.getRandomValues(chunk.subarray(at, at + 65536));
    const size = 4 * GiB + 3 * MiB + 7;
    const hash = createHash("sha256");
    const archive = join(dir.path, "big.zip");
    const rss = Deno.memoryUsage().rss;
    let peak = 0;
    const start = performance.now();
    await zipTo(archive, async (zip) => {
      await repeated(chunk, size)
        .pipeThrough(
          new TransformStream({
            transform(part, controller) {
              hash.update(part);
              peak = Math.max(peak, Deno.memoryUsage().rss - rss);
              controller.enqueue(part);
            },
          }),
        )
        .pipeTo(zip.addFile("big.bin", { size }));
      // After the big file, an entry whose offset needs the ZIP64 field, and one of unknown size.
      await zip.addDirectory("after");
      const small = zip.addFile("after/small.txt", { size: 6 });
      await new Blob(["small\n"]).stream().pipeTo(small);
      await new Blob(["unsized\n"]).stream().pipeTo(zip.addFile("after/unsized.txt"));
    });
    const seconds = (performance.now() - start) / 1000;
    console.log(
      `zipped ${size} bytes to a file in ${seconds.toFixed(1)} s (${
        (size / MiB / seconds).toFixed(0)
      } MiB/s), memory +${(peak / MiB).toFixed(0)} MiB at most`,
    );
    ok(peak < 256 * MiB, `memory grew by ${peak} bytes while streaming`);
    ok((await Deno.stat(archive)).size > size);

    const info = JSON.parse(
      await run("python3", [
        "-c",
        `import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(json.dumps({i.filename: [i.file_size, i.header_offset, z.read(i) if i.file_size < 100 else None] for i in z.infolist()}, default=bytes.decode))`,
        archive,
      ]),
    );
    equal(info["big.bin"][0], size);
    equal(info["big.bin"][1], 0);
    ok(info["after/"][1] > 4 * GiB);
    deepEqual(info["after/small.txt"].slice(0, 1).concat(info["after/small.txt"][2]), [
      6,
      "small\n",
    ]);
    equal(info["after/unsized.txt"][2], "unsized\n");

    // unzip checks the CRC of what it extracts; the bytes go through a hash, not to disk.
    const unzip = new Deno.Command("unzip", {
      args: ["-p", archive, "big.bin"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const got = createHash("sha256");
    for await (const part of unzip.stdout) got.update(part);
    const status = await unzip.status;
    equal(status.code, 0, new TextDecoder().decode((await unzip.output()).stderr));
    equal(got.digest("hex"), hash.digest("hex"));
  },
});

Deno.test("ZipWriter refuses unsafe or repeated names, and a second file while one is open", async () => {
  const zip = new ZipWriter();
  const drained = new Response(zip.readable).arrayBuffer();
  throws(() => zip.addFile("../escape"), { name: "TypeError", message: /"\.\." component/ });
  throws(() => zip.addFile("/etc/passwd"), { name: "TypeError", message: /absolute/ });
  await rejects(zip.addDirectory("a//b"), TypeError);
  throws(() => zip.addFile("x", { mode: 0o1000 }), RangeError);
  throws(() => zip.addFile("x", { size: -1 }), RangeError);
  const open = zip.addFile("a.txt", { size: 1 });
  throws(() => zip.addFile("b.txt"), {
    name: "TypeError",
    message: /"a\.txt" is still being written/,
  });
  await rejects(zip.close(), /still being written/);
  const writer = open.getWriter();
  await writer.write(bytesOf("a"));
  await writer.close();
  throws(() => zip.addFile("a.txt"), { message: /there already/ });
  await zip.close();
  throws(() => zip.addFile("c.txt"), { message: /closed/ });
  ok((await drained).byteLength > 0);
});

Deno.test("ZipWriter fails the whole archive when a file brings more or fewer bytes than its size", async () => {
  for (const text of ["toolong", "ab"]) {
    const zip = new ZipWriter();
    const drained = new Response(zip.readable).arrayBuffer();
    await rejects(new Blob([text]).stream().pipeTo(zip.addFile("f.txt", { size: 3 })), RangeError);
    await rejects(drained, RangeError);
  }
  const zip = new ZipWriter();
  const drained = new Response(zip.readable).arrayBuffer();
  const writer = zip.addFile("f.txt").getWriter();
  await writer.abort(new Error("peer gone"));
  await rejects(drained, /peer gone/);
});

Deno.test("ZipWriter waits for its reader: writes stall past the queue, and a cancel fails them", async () => {
  const zip = new ZipWriter();
  const writer = zip.addFile("f.bin").getWriter();
  let settled = 0;
  const writes = Array.from(
    { length: 4 },
    () => writer.write(new Uint8Array(ZIP_QUEUE_BYTES / 2)).then(() => settled++),
  );
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  ok(settled < 4, "every write resolved with nobody reading");
  const reader = zip.readable.getReader();
  let read = 0;
  // The local header, then the four chunks as they were written.
  while (read < 2 * ZIP_QUEUE_BYTES) read += (await reader.read()).value!.length;
  await Promise.all(writes);
  equal(settled, 4);
  await reader.cancel(new Error("download cancelled"));
  await rejects(writer.write(new Uint8Array(1)), /download cancelled/);
});

Deno.test({
  name: "ZipWriter ends an archive of more than 65535 entries with the ZIP64 end record",
  ignore: !HAS_UNZIP || !HAS_PYTHON,
  async fn() {
    await using dir = await tempDir();
    const archive = join(dir.path, "many.zip");
    const count = 70_000;
    await zipTo(archive, async (zip) => {
      for (let i = 0; i < count; i++) await zip.addDirectory(`d${i}`);
      await new Blob(["last\n"]).stream().pipeTo(
        zip.addFile(`d${count - 1}/last.txt`, { size: 5 }),
      );
    });
    const listed = await run("python3", [
      "-c",
      "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(len(z.infolist()), z.read(z.infolist()[-1]).decode(), end='')",
      archive,
    ]);
    equal(listed, `${count + 1} last\n`);
    await run("unzip", ["-tq", archive]);
  },
});

Deno.test("ZipWriter and what it imports use Web APIs only, so that a browser can run them", async () => {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("./_zip.ts", import.meta.url).pathname],
    stdout: "piped",
  }).output();
  const modules: { specifier: string }[] = JSON.parse(new TextDecoder().decode(stdout)).modules;
  deepEqual(
    modules.map((m) => m.specifier.replace(/^.*\/lib\//, "lib/")).sort(),
    ["lib/transfer/_crc32.ts", "lib/transfer/_path_rules.ts", "lib/transfer/_zip.ts"],
  );
  for (const { specifier } of modules) {
    const text = await Deno.readTextFile(new URL(specifier));
    ok(!/\bDeno\.|["']node:/.test(text.replace(/^\s*(\/\/|\*).*$/gm, "")), specifier);
  }
});
