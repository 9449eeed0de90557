/**
 * The rendezvous reads in one direction: no module of `edge/` imports,
 * through any chain, a module that imports it back.
 */

import { deepEqual } from "node:assert/strict";
import { dirname, join, relative } from "node:path";

const EDGE = dirname(new URL(import.meta.url).pathname);

/** The `edge/` modules a module imports (type-only imports too), by path from `edge/`. */
async function importsOf(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(EDGE, file));
  const found: string[] = [];
  for (const [, spec] of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)) {
    const target = relative(EDGE, join(EDGE, dirname(file), spec!));
    if (!target.startsWith("..")) found.push(target);
  }
  return found;
}

/** The rendezvous' own modules: `edge/` and its folders, tests left out. */
async function modules(dir = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(EDGE, dir))) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await modules(path));
    else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) found.push(path);
  }
  return found;
}

Deno.test("edge/ modules import each other without a cycle", async () => {
  const graph = new Map<string, string[]>();
  for (const file of await modules()) graph.set(file, await importsOf(file));
  const cycles: string[] = [];
  const done = new Set<string>();
  const visit = (file: string, path: string[]): void => {
    if (path.includes(file)) {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    if (done.has(file)) return;
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file, []);
  deepEqual(cycles, []);
});
