// Tests of scanPaths() from manifest.ts, which _scan.ts implements.

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { decodeManifest, encodeManifest, type ManifestEntry, scanPaths } from "./manifest.ts";
import { PathError } from "./paths.ts";

const IS_WINDOWS = Deno.build.os === "windows";

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "punch_scan_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Makes `photos/` with files, a subdirectory, an empty directory and unicode names. */
async function makePhotos(dir: string): Promise<string> {
  const photos = join(dir, "photos");
  await Deno.mkdir(join(photos, "2024", "фото"), { recursive: true });
  await Deno.mkdir(join(photos, "empty"));
  await Deno.writeTextFile(join(photos, "b.jpg"), "bbb");
  await Deno.writeTextFile(join(photos, "a.jpg"), "a");
  await Deno.writeTextFile(join(photos, "2024", "фото", "日本 😀.jpg"), "12345");
  await Deno.writeTextFile(join(photos, "run.sh"), "#!/bin/sh\n");
  if (!IS_WINDOWS) {
    await Deno.chmod(join(photos, "run.sh"), 0o755);
    await Deno.chmod(join(photos, "a.jpg"), 0o600);
  }
  return photos;
}

function paths(entries: ManifestEntry[]): string[] {
  return entries.map((entry) => `${entry.kind === "dir" ? "d" : "f"} ${entry.path}`);
}

Deno.test("scanPaths() names a file by its basename", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.txt"), "hello");
    const result = await scanPaths([join(dir, "a.txt")]);
    deepEqual(result.manifest, {
      entries: [{ path: "a.txt", kind: "file", size: 5, mode: result.manifest.entries[0]!.mode }],
      files: 1,
      bytes: 5,
    });
    deepEqual(result.sources, [join(dir, "a.txt")]);
    deepEqual(result.warnings, []);
  });
});

Deno.test("scanPaths() lists a directory sorted, parents before children", async () => {
  await withTempDir(async (dir) => {
    const photos = await makePhotos(dir);
    const { manifest, sources, warnings } = await scanPaths([`${photos}/`]);
    deepEqual(paths(manifest.entries), [
      "d photos",
      "d photos/2024",
      "d photos/2024/фото",
      "f photos/2024/фото/日本 😀.jpg",
      "f photos/a.jpg",
      "f photos/b.jpg",
      "d photos/empty",
      "f photos/run.sh",
    ]);
    equal(manifest.files, 4);
    equal(manifest.bytes, 5 + 1 + 3 + 10);
    equal(sources.length, manifest.entries.length);
    equal(sources[3], join(photos, "2024", "фото", "日本 😀.jpg"));
    ok(sources.every((source) => source.startsWith(dir)));
    deepEqual(warnings, []);
    for (const entry of manifest.entries) {
      if (entry.kind === "dir") equal(entry.size, 0);
      ok(entry.mode >= 0 && entry.mode <= 0o777);
    }
  });
});

Deno.test({
  name: "scanPaths() keeps permission bits such as 0o755",
  ignore: IS_WINDOWS,
  fn: async () => {
    await withTempDir(async (dir) => {
      const photos = await makePhotos(dir);
      await Deno.chmod(join(photos, "empty"), 0o700);
      const { manifest } = await scanPaths([photos]);
      const mode = (path: string) => manifest.entries.find((e) => e.path === path)!.mode;
      equal(mode("photos/run.sh"), 0o755);
      equal(mode("photos/a.jpg"), 0o600);
      equal(mode("photos/empty"), 0o700);
    });
  },
});

Deno.test("scanPaths() orders entries the same whatever the argument order", async () => {
  await withTempDir(async (dir) => {
    const photos = await makePhotos(dir);
    await Deno.writeTextFile(join(dir, "notes.txt"), "n");
    const one = await scanPaths([join(dir, "notes.txt"), photos]);
    const two = await scanPaths([photos, join(dir, "notes.txt")]);
    deepEqual(one, two);
    equal(one.manifest.entries.at(-1)!.path, "photos/run.sh");
    equal(one.manifest.entries[0]!.path, "notes.txt");
  });
});

Deno.test("scanPaths() makes a manifest that survives encoding", async () => {
  await withTempDir(async (dir) => {
    const { manifest } = await scanPaths([await makePhotos(dir)]);
    deepEqual(decodeManifest(encodeManifest(manifest)), manifest);
  });
});

Deno.test("scanPaths() follows a top-level symlink", async () => {
  await withTempDir(async (dir) => {
    const photos = await makePhotos(dir);
    await Deno.symlink(photos, join(dir, "pics"), { type: "dir" });
    await Deno.symlink(join(photos, "a.jpg"), join(dir, "link.jpg"), { type: "file" });
    const { manifest, sources } = await scanPaths([join(dir, "pics"), join(dir, "link.jpg")]);
    equal(manifest.entries[0]!.path, "link.jpg");
    deepEqual(manifest.entries[0]!.kind, "file");
    equal(sources[0], join(dir, "link.jpg"));
    equal(manifest.entries[1]!.path, "pics");
    equal(manifest.entries[1]!.kind, "dir");
    ok(manifest.entries.some((entry) => entry.path === "pics/2024/фото/日本 😀.jpg"));
  });
});

Deno.test("scanPaths() skips symlinks inside directories with a warning", async () => {
  await withTempDir(async (dir) => {
    const photos = await makePhotos(dir);
    await Deno.symlink("/etc/passwd", join(photos, "link"), { type: "file" });
    await Deno.symlink(dir, join(photos, "2024", "loop"), { type: "dir" });
    const { manifest, warnings } = await scanPaths([photos]);
    ok(!manifest.entries.some((entry) => entry.path.endsWith("link")));
    deepEqual(warnings, [
      "Skipping symlink photos/2024/loop: punch sends files and directories only",
      "Skipping symlink photos/link: punch sends files and directories only",
    ]);
  });
});

Deno.test({
  name: "scanPaths() skips special files with a warning",
  ignore: IS_WINDOWS,
  fn: async () => {
    await withTempDir(async (dir) => {
      const photos = await makePhotos(dir);
      const { success } = await new Deno.Command("mkfifo", { args: [join(photos, "fifo")] })
        .output();
      ok(success);
      const { manifest, warnings } = await scanPaths([photos]);
      equal(manifest.entries.length, 8);
      deepEqual(warnings, [
        "Skipping special file photos/fifo: punch sends files and directories only",
      ]);
      await rejects(scanPaths([join(photos, "fifo")]), TypeError);
    });
  },
});

Deno.test({
  name: "scanPaths() skips names a receiver would refuse, with a warning",
  ignore: IS_WINDOWS,
  fn: async () => {
    await withTempDir(async (dir) => {
      const photos = await makePhotos(dir);
      for (const name of ["notes.", "12:30.jpg", "CON", "back\\slash"]) {
        await Deno.writeTextFile(join(photos, name), "x");
      }
      await Deno.mkdir(join(photos, "aux"));
      await Deno.writeTextFile(join(photos, "aux", "inside.txt"), "x");
      const { manifest, warnings } = await scanPaths([photos]);
      equal(manifest.entries.length, 8);
      equal(warnings.length, 5);
      ok(warnings.includes(
        'Skipping photos/12:30.jpg: it contains ":", which Windows reads as a drive letter or an alternate data stream; rename it',
      ));
      ok(warnings.some((w) => w.startsWith('Skipping photos/aux: "aux" is a device name')));
      ok(warnings.some((w) => w.startsWith('Skipping photos/notes.: "notes." ends with a dot')));
      await rejects(scanPaths([join(photos, "CON")]), PathError);
    });
  },
});

Deno.test("scanPaths() rejects two paths with the same name", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "a"));
    await Deno.mkdir(join(dir, "b"));
    await Deno.writeTextFile(join(dir, "a", "x"), "1");
    await Deno.writeTextFile(join(dir, "b", "x"), "2");
    const [first, second] = [join(dir, "a", "x"), join(dir, "b", "x")];
    await rejects(scanPaths([first, second]), {
      name: "TypeError",
      message: `Cannot send both ${JSON.stringify(first)} and ${
        JSON.stringify(second)
      }: both would arrive as "x"`,
    });
  });
});

Deno.test("scanPaths() rejects a path that does not exist", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "missing");
    await rejects(scanPaths([missing]), (error: unknown) => {
      ok(error instanceof Deno.errors.NotFound);
      equal(error.message, `Cannot send ${JSON.stringify(missing)}: no such file or directory`);
      return true;
    });
  });
});

Deno.test("scanPaths() rejects an empty list and a path with no name", async () => {
  await rejects(scanPaths([]), { name: "TypeError", message: "Cannot send: no paths given" });
  await rejects(scanPaths([IS_WINDOWS ? "C:\\" : "/"]), TypeError);
});

Deno.test("scanPaths() stops when its signal aborts", async () => {
  await withTempDir(async (dir) => {
    const photos = await makePhotos(dir);
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await rejects(scanPaths([photos], { signal: controller.signal }), { message: "stop" });
  });
});
