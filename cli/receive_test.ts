import { deepEqual } from "node:assert/strict";
import type { Manifest, ManifestEntry } from "../lib/transfer/manifest.ts";
import { offerNames } from "./receive.ts";

function manifest(paths: string[]): Manifest {
  const entries: ManifestEntry[] = paths.map((path) =>
    path.endsWith("/")
      ? { path: path.slice(0, -1), kind: "dir", size: 0, mode: 0o755 }
      : { path, kind: "file", size: 1, mode: 0o644 }
  );
  return { entries, files: entries.filter((e) => e.kind === "file").length, bytes: 0 };
}

Deno.test("offerNames() names the top of the offer, directories with a slash, and counts the rest", () => {
  deepEqual(offerNames(manifest(["photos/", "photos/a.jpg", "notes.txt"])), {
    names: ["photos/", "notes.txt"],
    more: 0,
  });
  const many = manifest(["a", "b", "c", "d", "e", "f", "g", "dir/", "dir/x"]);
  deepEqual(offerNames(many), { names: ["a", "b", "c", "d", "e"], more: 3 });
});
