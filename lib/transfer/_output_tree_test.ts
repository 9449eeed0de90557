// Tests of OutputTree, the receiver's one-pass look at --out before it asks.

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { OutputTree } from "./_output_tree.ts";
import { checkNoLinks, PathError } from "./paths.ts";
import { partialName } from "./resume.ts";
import { tempDir } from "./_test_utils.ts";

const IS_WINDOWS = Deno.build.os === "windows";

/** What checkNoLinks() and an lstat say of `path`: the kind found, "none", or the error. */
function slowWay(root: string, path: string): string {
  try {
    checkNoLinks(root, path);
  } catch (error) {
    return (error as Error).message;
  }
  try {
    const info = Deno.lstatSync(join(root, ...path.split("/")));
    return info.isFile ? `file ${info.size}` : "dir";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return "none";
    }
    throw error;
  }
}

function fastWay(tree: OutputTree, path: string): string {
  try {
    const info = tree.look(path);
    return info === null ? "none" : info.isFile ? `file ${info.size}` : "dir";
  } catch (error) {
    return (error as Error).message;
  }
}

Deno.test("OutputTree.look() says what checkNoLinks() and lstat say, for sorted paths", async () => {
  const root = await tempDir();
  try {
    await Deno.mkdir(join(root, "a", "b", "c"), { recursive: true });
    await Deno.writeTextFile(join(root, "a", "b", "f"), "12345");
    await Deno.writeTextFile(join(root, "a", "file"), "x");
    await Deno.mkdir(join(root, "z"));
    if (!IS_WINDOWS) {
      await Deno.symlink("/tmp", join(root, "a", "link"));
      await Deno.symlink("b", join(root, "a", "same"));
    }
    // Sorted as manifests are: each directory right before what it holds.
    const paths = [
      "a",
      "a/b",
      "a/b/c",
      "a/b/c/new",
      "a/b/c/new/deeper/still",
      "a/b/f",
      "a/b/g",
      "a/file",
      "a/file/under",
      "a/link",
      "a/link/x",
      "a/new/x/y",
      "a/same/f",
      "b",
      "b/c/d",
      "z",
      "z/x",
    ];
    for (const path of paths) {
      // A fresh tree per path for errors: look() stops at the first one.
      const fresh = new OutputTree(root);
      equal(fastWay(fresh, path), slowWay(root, path), path);
    }
    // And one tree for all of them in order, as preflight() walks them.
    const tree = new OutputTree(root);
    deepEqual(
      paths.map((path) => fastWay(tree, path)),
      paths.map((path) => slowWay(root, path)),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("OutputTree.look() refuses a link or a non-directory on the way, naming it", async () => {
  if (IS_WINDOWS) return;
  const root = await tempDir();
  try {
    await Deno.mkdir(join(root, "d"));
    await Deno.symlink("/etc", join(root, "d", "up"));
    await Deno.writeTextFile(join(root, "d", "f"), "");
    const tree = new OutputTree(root);
    equal(tree.look("d/a"), null);
    throws(
      () => tree.look("d/f/x"),
      (e) => e instanceof PathError && /"d\/f" already exists/.test(e.message),
    );
    throws(
      () => new OutputTree(root).look("d/up/passwd"),
      (e) => e instanceof PathError && e.message.includes('"d/up" is a symbolic link'),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("OutputTree.look() finds nothing under an output directory that does not exist", () => {
  const tree = new OutputTree(join(Deno.makeTempDirSync(), "new", "out"));
  equal(tree.look("a"), null);
  equal(tree.look("a/b/c"), null);
  equal(tree.partial("a/b/c"), null);
});

Deno.test("OutputTree.partial() finds the partial file of the path last looked at", async () => {
  const root = await tempDir();
  try {
    await Deno.mkdir(join(root, "d"));
    await Deno.writeFile(join(root, "d", partialName("d/f")), new Uint8Array(7));
    const tree = new OutputTree(root);
    equal(tree.look("d/e"), null);
    equal(tree.partial("d/e"), null);
    equal(tree.look("d/f"), null);
    equal(tree.partial("d/f")?.size, 7);
    ok(tree.look("d") === null || tree.partial("d") === null);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
