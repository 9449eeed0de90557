import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { claimHeld, type Held } from "./_claim.ts";
import { openOutDir, type OutDir } from "./_fs.ts";
import type { Manifest } from "./manifest.ts";
import { partialName } from "./resume.ts";
import { listTree, tempDir } from "./_test_utils.ts";
import { PARTIAL_MAX_AGE_MS, TEMP_MAX_AGE_MS } from "./defaults.ts";

const DAY_MS = 24 * 3600_000;

function manifestOf(files: [string, number][], dirs: string[] = []): Manifest {
  const entries = [
    ...dirs.map((path) => ({ path, kind: "dir" as const, size: 0, mode: 0o755 })),
    ...files.map(([path, size]) => ({ path, kind: "file" as const, size, mode: 0o644 })),
  ];
  return { entries, files: files.length, bytes: files.reduce((n, [, size]) => n + size, 0) };
}

/** Runs `body` with an output directory; closes what was claimed. */
async function withOut(body: (root: string) => Promise<void>): Promise<void> {
  const root = await tempDir();
  try {
    await body(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function claim(root: string, manifest: Manifest, now?: number) {
  const out = openOutDir(root);
  const held = new Map<number, Held>();
  try {
    const summary = await claimHeld(out, manifest, held, now === undefined ? {} : { now });
    return {
      held: [...held.values()].map(({ index, bytes, file }) => ({
        index,
        bytes,
        partial: file !== null,
      })),
      summary,
    };
  } finally {
    for (const item of held.values()) item.file?.close();
    out.close();
  }
}

Deno.test("claimHeld() lists whole targets and partial files in index order across directories", async () => {
  await withOut(async (root) => {
    await Deno.mkdir(join(root, "a"));
    await Deno.mkdir(join(root, "b"));
    await Deno.writeTextFile(join(root, "a", "x"), "xx");
    await Deno.writeTextFile(join(root, "b", partialName("b/y")), "y");
    await Deno.writeTextFile(join(root, "a", "z"), "other size");
    await Deno.writeTextFile(join(root, "top"), "top");
    const manifest = manifestOf([["a/x", 2], ["b/y", 5], ["a/z", 3], ["top", 3], ["a/w", 1]]);
    const { held } = await claim(root, manifest);
    deepEqual(held, [
      { index: 0, bytes: 2, partial: false },
      { index: 1, bytes: 1, partial: true },
      { index: 3, bytes: 3, partial: false },
    ]);
  });
});

Deno.test("claimHeld() looks at no file in directories that are missing or empty", async () => {
  await withOut(async (root) => {
    await Deno.mkdir(join(root, "empty"));
    const calls: string[] = [];
    const real = openOutDir(root);
    const counted = new Proxy(real, {
      get(target, key) {
        const value = Reflect.get(target, key);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          calls.push(String(key));
          return value.apply(target, args);
        };
      },
    }) as OutDir;
    const files: [string, number][] = [];
    for (let i = 0; i < 1000; i++) files.push([`empty/f${i}`, 1], [`missing/f${i}`, 1]);
    await claimHeld(counted, manifestOf(files), new Map());
    real.close();
    deepEqual(calls, ["list", "list"]);
  });
});

Deno.test("claimHeld() gives the event loop turns while it works", async () => {
  await withOut(async (root) => {
    const files: [string, number][] = [];
    for (let i = 0; i < 5000; i++) files.push([`d${i % 50}/f${i}`, 1]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const out = openOutDir(root);
    try {
      await claimHeld(out, manifestOf(files), new Map(), { sliceMs: 0 });
      ok(ticks > 0, "a timer ran meanwhile");
    } finally {
      clearInterval(timer);
      out.close();
    }
  });
});

Deno.test("claimHeld() sweeps stale partial and temporary files, and nothing a receive may still want", async () => {
  if (Deno.build.os === "windows") return;
  await withOut(async (root) => {
    const now = Date.now();
    const old = (name: string, ageMs: number) =>
      Deno.utimeSync(join(root, name), now / 1000, (now - ageMs) / 1000);
    const stalePartial = partialName("gone");
    const freshPartial = partialName("recent");
    const namedPartial = partialName("f");
    const staleTemp = ".punch-0123456789ab.part";
    const freshTemp = ".punch-ba9876543210.part";
    const lockedTemp = ".punch-aaaaaaaaaaaa.part";
    const linkedPartial = partialName("linked");
    for (
      const name of [stalePartial, freshPartial, namedPartial, staleTemp, freshTemp, lockedTemp]
    ) {
      await Deno.writeTextFile(join(root, name), "x");
    }
    await Deno.writeTextFile(join(root, "elsewhere"), "someone's");
    await Deno.link(join(root, "elsewhere"), join(root, linkedPartial));
    old(stalePartial, PARTIAL_MAX_AGE_MS + DAY_MS);
    old(freshPartial, PARTIAL_MAX_AGE_MS - DAY_MS);
    old(namedPartial, PARTIAL_MAX_AGE_MS + DAY_MS);
    old(linkedPartial, PARTIAL_MAX_AGE_MS + DAY_MS);
    old(staleTemp, TEMP_MAX_AGE_MS + 3600_000);
    old(freshTemp, TEMP_MAX_AGE_MS - 3600_000);
    old(lockedTemp, TEMP_MAX_AGE_MS + 3600_000);
    // Another receive holds this one.
    const other = openOutDir(root);
    const held = other.openOwn(lockedTemp, lockedTemp)!;
    try {
      const { held: claimed, summary } = await claim(root, manifestOf([["f", 5]]), now);
      deepEqual(
        claimed,
        [{ index: 0, bytes: 1, partial: true }],
        "named by the offer: claimed, not swept",
      );
      equal(summary.swept, 2);
      deepEqual(
        await listTree(root),
        ["elsewhere", freshPartial, namedPartial, linkedPartial, freshTemp, lockedTemp].sort(),
      );
    } finally {
      held.close();
      other.close();
    }
  });
});
