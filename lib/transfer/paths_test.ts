import { equal, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { checkNoLinks, PathError, resolveInside, validateManifestPath } from "./paths.ts";

const IS_WINDOWS = Deno.build.os === "windows";
/** 4096 bytes: 15 names of 255 bytes, two more of 200 and 55, and 16 slashes. */
const MAX_LENGTH_PATH = [...Array(15).fill("d".repeat(255)), "e".repeat(200), "f".repeat(55)]
  .join("/");

/** Asserts that `fn` throws a PathError for `path` whose message contains `detail`. */
function assertRefused(fn: () => unknown, path: string, detail: string) {
  throws(fn, (error: unknown) => {
    ok(error instanceof PathError, `expected PathError for ${JSON.stringify(path)}: ${error}`);
    equal(error.name, "PathError");
    equal(error.path, path);
    ok(error.message.includes(detail), `${JSON.stringify(detail)} not in: ${error.message}`);
    return true;
  });
}

async function withTempDir(fn: (dir: string) => void | Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "punch_paths_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("validateManifestPath() accepts plain relative paths, unicode included", () => {
  for (
    const path of [
      "a",
      "a.txt",
      "photos/2024/img 01.jpg",
      "фото/日本.jpg",
      "😀/🎉 party.png",
      ".hidden",
      "a/.config/x",
      "..foo",
      "foo..bar",
      "console.log",
      "COM10",
      "nullable",
      ".punch-notes.txt",
      ".punch-7a5ef20a1ddebf2.partial",
      "a".repeat(255),
      "é".repeat(127),
      "😀".repeat(63) + "abc",
      MAX_LENGTH_PATH,
    ]
  ) {
    equal(validateManifestPath(path), path);
  }
});

Deno.test("validateManifestPath() rejects every hostile path kind", () => {
  const cases: [string, string][] = [
    ["", "it is empty"],
    ["/etc/passwd", "it is absolute"],
    ["\\Windows\\System32", "it is absolute"],
    ["..", '".." component'],
    ["../x", '".." component'],
    ["a/../../x", '".." component'],
    ["a/..", '".." component'],
    [".", '"." component'],
    ["./a", '"." component'],
    ["a/./b", '"." component'],
    ["a//b", "empty component"],
    ["a/", 'ends with "/"'],
    ["a\\b", "backslash"],
    ["..\\x", "backslash"],
    ["C:/Windows", 'contains ":"'],
    ["C:", 'contains ":"'],
    ["file.txt:hidden", 'contains ":"'],
    ["a\u0000b", "control character U+0000"],
    ["a\nb", "control character U+000A"],
    ["a\u001fb", "control character U+001F"],
    ["a\u007fb", "control character U+007F"],
    ["x\ud800y", "lone surrogate"],
    ["a".repeat(256), "256 bytes long, more than the 255"],
    ["é".repeat(128), "256 bytes long, more than the 255"],
    [("d".repeat(200) + "/").repeat(21).slice(0, -1), "4220 bytes long, more than the 4096"],
    [MAX_LENGTH_PATH + "f", "4097 bytes long, more than the 4096"],
    ["é/" + MAX_LENGTH_PATH.slice(2), "4097 bytes long, more than the 4096"],
    ["😀".repeat(64), "256 bytes long, more than the 255"],
    ["CON", "device name on Windows"],
    ["prn", "device name on Windows"],
    ["aux.txt", "device name on Windows"],
    ["a/Nul.tar.gz", "device name on Windows"],
    ["com1", "device name on Windows"],
    ["COM9.log", "device name on Windows"],
    ["lpt5", "device name on Windows"],
    ["LPT¹", "device name on Windows"],
    ["con .txt", "device name on Windows"],
    ["notes.", "ends with a dot"],
    ["dir./x", "ends with a dot"],
    ["notes ", "ends with a space"],
    ["...", "ends with a dot"],
    [".punch-7a5ef20a1ddebf21.partial", "a name punch writes under while receiving"],
    ["a/.punch-0123456789ab.part", "a name punch writes under while receiving"],
    [".PUNCH-7A5EF20A1DDEBF21.PARTIAL", "a name punch writes under while receiving"],
  ];
  for (const [path, detail] of cases) assertRefused(() => validateManifestPath(path), path, detail);
});

Deno.test("validateManifestPath() explains its refusal", () => {
  assertRefused(
    () => validateManifestPath("../.ssh/authorized_keys"),
    "../.ssh/authorized_keys",
    'Cannot accept path "../.ssh/authorized_keys": it has a ".." component, which could reach outside the output directory',
  );
  assertRefused(
    () => validateManifestPath("a/CON.txt"),
    "a/CON.txt",
    'Cannot accept path "a/CON.txt": "CON.txt" is a device name on Windows, refused on every system so that files arrive the same everywhere; rename it',
  );
});

Deno.test("validateManifestPath() shortens a huge path in its message", () => {
  const path = "/".repeat(1_000_000);
  throws(() => validateManifestPath(path), (error: unknown) => {
    ok(error instanceof PathError);
    ok(error.message.length < 400, error.message);
    equal(error.path, path);
    return true;
  });
});

Deno.test("validateManifestPath() rejects a non-string with a TypeError", () => {
  throws(() => validateManifestPath(42 as unknown as string), TypeError);
});

Deno.test("resolveInside() returns the platform path under the root", () => {
  const root = IS_WINDOWS ? "C:\\out" : "/out";
  equal(resolveInside(root, "a/b.txt"), join(root, "a", "b.txt"));
  equal(resolveInside(root, "фото/日本.jpg"), join(root, "фото", "日本.jpg"));
  ok(resolveInside("relative/out", "x").endsWith(join("relative", "out", "x")));
});

Deno.test("resolveInside() refuses paths that leave the root", () => {
  for (const path of ["../x", "a/../../x", "/etc/passwd", "C:/x", "a\\..\\..\\x", ""]) {
    throws(() => resolveInside("/out", path), PathError);
  }
});

Deno.test("checkNoLinks() accepts missing and existing plain paths", async () => {
  await withTempDir(async (root) => {
    checkNoLinks(root, "new/deeper/file.txt");
    await Deno.mkdir(join(root, "фото"));
    await Deno.writeTextFile(join(root, "фото", "日本.jpg"), "x");
    checkNoLinks(root, "фото/日本.jpg");
    checkNoLinks(root, "фото");
    checkNoLinks(root, "фото/new/x");
    checkNoLinks(join(root, "missing-root"), "a/b");
  });
});

Deno.test("checkNoLinks() refuses a directory symlink that escapes the root", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "out");
    const outside = join(dir, "outside");
    await Deno.mkdir(root);
    await Deno.mkdir(outside);
    await Deno.symlink(outside, join(root, "link"), { type: "dir" });
    throws(() => checkNoLinks(root, "link/evil.txt"), (error: unknown) => {
      ok(error instanceof PathError);
      equal(error.path, "link/evil.txt");
      equal(
        error.message,
        'Cannot write "link/evil.txt": "link" is a symbolic link in the output directory, and punch never writes through links; remove it or choose another output directory',
      );
      return true;
    });
    throws(() => checkNoLinks(root, "link"), PathError);
  });
});

Deno.test("checkNoLinks() refuses a symlink at the target, dangling or not", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "secret"), "x");
    await Deno.mkdir(join(dir, "out", "a"), { recursive: true });
    await Deno.symlink(join(dir, "secret"), join(dir, "out", "a", "file.txt"), { type: "file" });
    await Deno.symlink(join(dir, "nowhere"), join(dir, "out", "a", "dangling"), { type: "file" });
    throws(() => checkNoLinks(join(dir, "out"), "a/file.txt"), PathError);
    throws(() => checkNoLinks(join(dir, "out"), "a/dangling"), PathError);
  });
});

Deno.test("checkNoLinks() refuses a symlink even when it points inside the root", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(join(root, "real"));
    await Deno.symlink(join(root, "real"), join(root, "alias"), { type: "dir" });
    throws(() => checkNoLinks(root, "alias/x"), PathError);
  });
});

Deno.test("checkNoLinks() refuses a file where a directory is needed", async () => {
  await withTempDir(async (root) => {
    await Deno.writeTextFile(join(root, "a"), "x");
    throws(() => checkNoLinks(root, "a/b"), (error: unknown) => {
      ok(error instanceof PathError);
      ok(error.message.includes('"a" already exists and is not a directory'), error.message);
      return true;
    });
  });
});

Deno.test({
  name: "checkNoLinks() refuses a special file at the target",
  ignore: IS_WINDOWS,
  fn: async () => {
    await withTempDir(async (root) => {
      const { success } = await new Deno.Command("mkfifo", { args: [join(root, "fifo")] }).output();
      ok(success);
      throws(() => checkNoLinks(root, "fifo"), PathError);
    });
  },
});

Deno.test("checkNoLinks() allows the root itself to be a symlink", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "real"));
    await Deno.mkdir(join(dir, "real", "sub"));
    await Deno.symlink(join(dir, "real"), join(dir, "out"), { type: "dir" });
    checkNoLinks(join(dir, "out"), "sub/x.txt");
  });
});

Deno.test("checkNoLinks() validates the path first", async () => {
  await withTempDir((root) => {
    throws(() => checkNoLinks(root, "../x"), PathError);
  });
});
