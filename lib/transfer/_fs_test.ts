import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { openOutDir, type OutDir, processUmask } from "./_fs.ts";
import { PathError } from "./paths.ts";
import { listTree, tempDir } from "./_test_utils.ts";

const IS_WINDOWS = Deno.build.os === "windows";

Deno.test({
  name: "processUmask() reads the mask without changing it",
  ignore: IS_WINDOWS,
  fn: () => {
    const before = Deno.umask(0o027);
    try {
      equal(processUmask(), 0o027);
      equal(processUmask(), 0o027);
    } finally {
      equal(Deno.umask(before), 0o027);
    }
  },
});

/** Runs `body` with an output directory `out` and a directory `outside` beside it. */
async function withTree(
  checksOnly: boolean,
  body: (out: OutDir, paths: { out: string; outside: string }) => Promise<void> | void,
): Promise<void> {
  const dir = await tempDir();
  const paths = { out: join(dir, "out"), outside: join(dir, "outside") };
  await Deno.mkdir(paths.out);
  await Deno.mkdir(paths.outside);
  const out = openOutDir(paths.out, { checksOnly });
  try {
    await body(out, paths);
  } finally {
    out.close();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const checksOnly of [false, true]) {
  const way = checksOnly ? "by checks" : "by handles where the platform allows";

  Deno.test(`OutDir (${way}) makes directories and files, and refuses a link on the way`, async () => {
    if (IS_WINDOWS) return;
    await withTree(checksOnly, async (out, { out: root, outside }) => {
      equal(out.safety, checksOnly || Deno.build.os !== "linux" ? "checks" : "handles");
      out.makeDirs("a/b");
      const file = out.create("a/b/f", "f.tmp")!;
      file.file().writeSync(Uint8Array.of(1, 2, 3));
      equal(file.stat().size, 3);
      file.close();
      deepEqual(out.list("a/b"), ["f.tmp"]);
      equal(out.list("missing"), null);
      equal(out.stat("a/b/f", "f.tmp")?.kind, "file");

      await Deno.symlink(outside, join(root, "link"));
      throws(
        () => out.makeDirs("link/x"),
        (e: unknown) => e instanceof PathError && /"link" is a symbolic link/.test(e.message),
      );
      throws(() => out.create("link/x/f", "f"), PathError);
      throws(() => out.list("link"), PathError);
      await Deno.writeTextFile(join(root, "plain"), "x");
      throws(
        () => out.makeDirs("plain/x"),
        (e: unknown) =>
          e instanceof PathError && /"plain" already exists and is not a dir/.test(e.message),
      );
      deepEqual(await listTree(outside), []);
    });
  });

  Deno.test(`OutDir (${way}) refuses a directory swapped for a link after it was opened`, async () => {
    if (IS_WINDOWS) return;
    await withTree(checksOnly, async (out, { out: root, outside }) => {
      out.makeDirs("d");
      out.create("d/first", "first")!.close();
      // The directory is swapped for a link once the tree has looked at it.
      await Deno.rename(join(root, "d"), join(root, "d.moved"));
      await Deno.symlink(outside, join(root, "d"));
      throws(
        () => out.makeDirs("d/e"),
        (e: unknown) => e instanceof PathError && /"d" is a symbolic link/.test(e.message),
      );
      throws(() => out.create("d/f", "f"), PathError);
      // Nor through the moved directory, which it had open.
      deepEqual(await listTree(join(root, "d.moved")), ["first"]);
      deepEqual(await listTree(outside), []);
      // A tree opened after the swap refuses the link either way.
      const again = openOutDir(root, { checksOnly });
      try {
        throws(() => again.makeDirs("d/g"), PathError);
        throws(() => again.create("d/g", "g"), PathError);
      } finally {
        again.close();
      }
      deepEqual(await listTree(outside), []);
    });
  });

  Deno.test(`OutDir (${way}) create() never opens what is already at the name`, async () => {
    if (IS_WINDOWS) return;
    await withTree(checksOnly, async (out, { out: root, outside }) => {
      await Deno.writeTextFile(join(root, "taken"), "theirs");
      await Deno.symlink(join(outside, "target"), join(root, "dangling"));
      equal(out.create("taken", "taken"), null);
      equal(out.create("dangling", "dangling"), null);
      equal(await Deno.readTextFile(join(root, "taken")), "theirs");
      deepEqual(await listTree(outside), []);
    });
  });

  Deno.test(`OutDir (${way}) openOwn() refuses a hard link, a link, a FIFO and a file another receive holds`, async () => {
    if (IS_WINDOWS) return;
    await withTree(checksOnly, async (out, { out: root, outside }) => {
      await Deno.writeTextFile(join(outside, "victim"), "secret");
      await Deno.link(join(outside, "victim"), join(root, "hard"));
      await Deno.symlink(join(outside, "victim"), join(root, "soft"));
      const mkfifo = await new Deno.Command("mkfifo", { args: [join(root, "fifo")] }).output();
      ok(mkfifo.success);
      equal(out.openOwn("hard", "hard"), null);
      equal(out.openOwn("soft", "soft"), null);
      equal(out.openOwn("fifo", "fifo"), null); // and it did not wait for a writer
      equal(out.openOwn("missing", "missing"), null);
      equal(await Deno.readTextFile(join(outside, "victim")), "secret");

      await Deno.writeTextFile(join(root, "mine"), "partial");
      const held = out.openOwn("mine", "mine")!;
      ok(held !== null);
      equal(out.openOwn("mine", "mine"), null, "locked by the first");
      const other = openOutDir(root, { checksOnly });
      equal(other.openOwn("mine", "mine"), null, "locked for another tree too");
      const bytes = new Uint8Array(7);
      {
        using reader = held.reader();
        equal(await reader.read(bytes), 7);
      }
      equal(new TextDecoder().decode(bytes), "partial");
      held.close();
      const again = other.openOwn("mine", "mine");
      ok(again !== null, "free once closed");
      again.close();
      other.close();
    });
  });

  Deno.test(`OutDir (${way}) place() never replaces a file, replace() does, and neither moves what is not the file`, async () => {
    if (IS_WINDOWS) return;
    await withTree(checksOnly, async (out, { out: root }) => {
      for (const name of ["a", "b", "c", "d"]) await Deno.writeTextFile(join(root, name), name);
      const a = out.openOwn("a", "a")!;
      equal(out.place("a", a, "b"), false);
      equal(await Deno.readTextFile(join(root, "b")), "b");
      equal(out.place("a", a, "new"), true);
      a.close();
      const c = out.openOwn("c", "c")!;
      out.replace("c", c, "b");
      c.close();
      equal(await Deno.readTextFile(join(root, "b")), "c");
      // A file whose name now shows another file is not moved, nor removed.
      const d = out.openOwn("d", "d")!;
      await Deno.rename(join(root, "d"), join(root, "d.moved"));
      await Deno.writeTextFile(join(root, "d"), "someone else's");
      throws(() => out.place("d", d, "e"), PathError);
      throws(() => out.replace("d", d, "e"), PathError);
      out.remove("d", d);
      d.close();
      equal(await Deno.readTextFile(join(root, "d")), "someone else's");
      const b = out.openOwn("b", "b")!;
      out.remove("b", b);
      out.remove("b", b);
      b.close();
      deepEqual(await listTree(root), ["d", "d.moved", "new"]);
    });
  });
}
