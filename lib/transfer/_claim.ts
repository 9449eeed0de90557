/**
 * What the receiver holds of an offer before any data moves (see
 * resume.ts): existing targets of the offered size, and partial files of
 * earlier receives, claimed by locking them. While it reads a directory for
 * them, it sweeps the stale partial and temporary files there.
 *
 * It reads each directory that an offered file goes to once, and looks at
 * a file only when the listing holds a name it could be: an offer into new
 * or empty directories costs no call per file. It gives the event loop a
 * turn every
 * {@linkcode SYNC_SLICE_MS}, so that an offer of a million files does not
 * stop keepalives and timers meanwhile.
 *
 * @module
 */

import {
  MAX_HELD_PARTIALS,
  PARTIAL_MAX_AGE_MS,
  SYNC_SLICE_MS,
  TEMP_MAX_AGE_MS,
} from "./defaults.ts";
import type { Manifest } from "./manifest.ts";
import { baseOf, dirOf } from "./paths.ts";
import { partialName } from "./resume.ts";
import type { OutDir, OwnFile } from "./_fs.ts";

/**
 * The start of a file the receiver holds: a claimed partial file (`file`,
 * locked until it is written or given back), or the existing target itself
 * (`file` null). `offset` is where the sender said it starts: `bytes` if it
 * kept them, 0 if not.
 */
export interface Held {
  index: number;
  file: OwnFile | null;
  bytes: number;
  /** SHA-256 of the held bytes; `null` until hashed, or if the file shrank meanwhile. */
  sha256: Uint8Array | null;
  offset?: number;
}

/** A partial file's name (resume.ts, `partialName()`). */
const PARTIAL = /^\.punch-[0-9a-f]{16}\.partial$/;
/** A temporary file's name: random, so no receive finds it again. */
const TEMP = /^\.punch-[0-9a-f]{12}\.part$/;

/** Whether `name` is a temporary file's name (`.punch-<12 hex>.part`). */
export function isTempName(name: string): boolean {
  return TEMP.test(name);
}

/** Turns for the event loop between stretches of synchronous work. */
export class Slices {
  readonly #ms: number;
  #since = performance.now();

  /** Slices of `ms` milliseconds, {@linkcode SYNC_SLICE_MS} by default. */
  constructor(ms: number = SYNC_SLICE_MS) {
    this.#ms = ms;
  }

  /** Whether a slice has passed since the last turn. */
  due(): boolean {
    return performance.now() - this.#since >= this.#ms;
  }

  /** Lets timers, I/O and other tasks run, then starts a new slice. */
  async turn(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#since = performance.now();
  }
}

/** How many steps of cheap work between two looks at the clock. */
const STEPS_PER_LOOK = 256;

/** Options for {@linkcode claimHeld}. */
export interface ClaimOptions {
  /**
   * The time files' ages are measured from, in ms since the epoch.
   * @default {Date.now()}
   */
  now?: number;
  /**
   * Milliseconds of work between two turns of the event loop.
   * @default {SYNC_SLICE_MS}
   */
  sliceMs?: number;
}

/** What {@linkcode claimHeld} did besides filling `held`. */
export interface ClaimSummary {
  /** Stale partial and temporary files removed. */
  swept: number;
}

/**
 * Fills `held`, in increasing index order, with what the receiver holds of
 * the offered files: for each file, an existing target of the offered size,
 * else a partial file of an earlier receive, which it claims by locking it
 * ({@linkcode OutDir.openOwn}: a regular file with one link, this user's,
 * that no live receive holds). A partial file longer than the offered file
 * is removed. Fills `held` as it goes, so that a failure half-way gives back
 * what it claimed; the caller hashes.
 *
 * In each directory it reads, it removes partial files the offer does not
 * name that nothing wrote for {@linkcode PARTIAL_MAX_AGE_MS}, and temporary
 * files nothing wrote for {@linkcode TEMP_MAX_AGE_MS}, if they pass the same
 * checks (so a live receive's, or another user's, are left alone).
 */
export async function claimHeld(
  out: OutDir,
  manifest: Manifest,
  held: Map<number, Held>,
  options: ClaimOptions = {},
): Promise<ClaimSummary> {
  const now = options.now ?? Date.now();
  const slices = new Slices(options.sliceMs);
  const entries = manifest.entries;
  const byDir = new Map<string, number[]>();
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    if (index % STEPS_PER_LOOK === 0 && slices.due()) await slices.turn();
    if (entry.kind !== "file") continue;
    const dir = dirOf(entry.path);
    const files = byDir.get(dir);
    if (files) files.push(index);
    else byDir.set(dir, [index]);
  }
  const summary = { swept: 0 };
  let partials = 0;
  for (const [dir, files] of byDir) {
    if (slices.due()) await slices.turn();
    const names = out.list(dir);
    if (names === null || names.length === 0) continue;
    // A name the listing has in another case or normalization may be the
    // same file on a case-insensitive file system: look at those too.
    const present = new Set(names.map(fold));
    // The partial files here that no offered file is named after: stale
    // candidates, once every file of the directory was looked at.
    const unnamed = new Set(names.filter((name) => PARTIAL.test(name)));
    const hasPartials = unnamed.size > 0;
    for (const [step, index] of files.entries()) {
      if (step % STEPS_PER_LOOK === 0 && slices.due()) await slices.turn();
      const entry = entries[index]!;
      if (present.has(fold(baseOf(entry.path)))) {
        const info = out.stat(entry.path, baseOf(entry.path));
        if (info?.kind === "file" && info.size === entry.size) {
          held.set(index, { index, file: null, bytes: entry.size, sha256: null });
          continue;
        }
      }
      if (!hasPartials) continue;
      const part = partialName(entry.path);
      if (!unnamed.delete(part) || partials >= MAX_HELD_PARTIALS) continue;
      const file = out.openOwn(entry.path, part);
      if (file === null) continue;
      const bytes = file.stat().size;
      if (bytes > entry.size) {
        out.remove(entry.path, file);
        file.close();
        continue;
      }
      held.set(index, { index, file, bytes, sha256: null });
      partials++;
    }
    summary.swept += sweep(out, dir, names, unnamed, now);
  }
  const sorted = [...held.values()].sort((a, b) => a.index - b.index);
  held.clear();
  for (const item of sorted) held.set(item.index, item);
  return summary;
}

/**
 * Removes the stale files among `names` in `dir`: the partial files in
 * `unnamed` and the temporary files, if old enough and passing `openOwn()`'s
 * checks.
 */
function sweep(
  out: OutDir,
  dir: string,
  names: string[],
  unnamed: Set<string>,
  now: number,
): number {
  let swept = 0;
  for (const name of names) {
    const maxAge = unnamed.has(name)
      ? PARTIAL_MAX_AGE_MS
      : TEMP.test(name)
      ? TEMP_MAX_AGE_MS
      : null;
    if (maxAge === null) continue;
    const path = dir === "" ? name : `${dir}/${name}`;
    const info = out.stat(path, name);
    if (info?.kind !== "file" || info.mtimeMs === null || now - info.mtimeMs < maxAge) continue;
    const file = out.openOwn(path, name);
    if (file === null) continue;
    try {
      out.remove(path, file);
      swept++;
    } finally {
      file.close();
    }
  }
  return swept;
}

/** A name as a case-insensitive, normalizing file system may compare it. */
function fold(name: string): string {
  // ASCII names, the most common, need no normalization.
  // deno-lint-ignore no-control-regex
  return (/^[\u0000-\u007f]*$/.test(name) ? name : name.normalize("NFC")).toLowerCase();
}
