/**
 * What the output directory holds along a manifest's paths, for the
 * receiver's checks before it asks: the same verdicts as checkNoLinks()
 * (paths.ts) plus an lstat of the target, for every entry, but each
 * directory on the way is looked at once.
 *
 * The entries come sorted (decodeManifest() refuses them otherwise), so the
 * existing directories on the way to the current entry form a stack that
 * each entry shares with the one before. A directory is read once, when an
 * entry first needs it, and a name is lstat'ed only if the directory holds
 * it: where `--out` is empty or new, 10^6 entries cost one directory read
 * instead of millions of lstat calls (33.5 s here before).
 *
 * @module
 */

import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { PathError } from "./paths.ts";
import { partialName } from "./resume.ts";

/** How many characters of a path an error message repeats, as in paths.ts. */
const MAX_SHOWN_CHARS = 200;
/** Partial files are named `.punch-<16 hex>.partial` (resume.ts). */
const PARTIAL_PREFIX = ".punch-";
const PARTIAL_SUFFIX = ".partial";

/** An existing directory on the way to the current entry. */
interface Dir {
  /** Its name in its parent (the root's is ""). */
  name: string;
  /** Its absolute path. */
  path: string;
  /** The names it holds, folded; read when first needed. */
  names: Set<string> | undefined;
  /** Whether any of them may be a partial file. */
  partials: boolean;
}

/**
 * Looks at the output directory along sorted manifest paths. Call
 * {@linkcode OutputTree.look} for each entry in manifest order, then
 * {@linkcode OutputTree.partial} for the same entry if needed.
 */
export class OutputTree {
  readonly #base: string;
  readonly #realBase: string | undefined;
  /** The existing directories from the output directory down to the last entry's parent. */
  readonly #stack: Dir[];
  /** The last entry's parent, if it exists. */
  #parent: Dir | undefined;

  /**
   * @param root The output directory; it need not exist yet. It may be a
   * link: the user chose it.
   * @throws {Error} If it exists and is not a directory.
   */
  constructor(root: string) {
    this.#base = resolve(root);
    let info: Deno.FileInfo | null = null;
    try {
      info = Deno.statSync(this.#base);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (info !== null && !info.isDirectory) {
      throw new Error(`Cannot write into ${this.#base}: it is not a directory`);
    }
    this.#realBase = info === null ? undefined : Deno.realPathSync(this.#base);
    this.#stack = [{
      name: "",
      path: this.#base,
      names: info === null ? new Set() : undefined,
      partials: false,
    }];
  }

  /**
   * What is at `relPath` now, as lstat tells, or `null` if nothing is;
   * refuses, as checkNoLinks() does, a symbolic link on the way or at the
   * target, a non-directory on the way, a target that is neither a regular
   * file nor a directory, and a target whose real path is outside the
   * output directory's.
   *
   * @throws {PathError} If something in the output directory is in the way.
   */
  look(relPath: string): Deno.FileInfo | null {
    const parts = relPath.split("/");
    const last = parts.length - 1;
    const stack = this.#stack;
    // The directories this entry shares with the one before.
    let depth = 0;
    while (depth < last && depth + 1 < stack.length && stack[depth + 1]!.name === parts[depth]) {
      depth++;
    }
    stack.length = depth + 1;
    this.#parent = undefined;
    for (let i = depth; i < last; i++) {
      const parent = stack[i]!;
      const info = this.#lstat(parent, parts[i]!);
      if (info === null) return null; // nothing beneath it exists either
      const shown = parts.slice(0, i + 1).join("/");
      if (info.isSymlink) throw this.#link(relPath, shown);
      if (!info.isDirectory) {
        throw this.#fail(
          relPath,
          shown,
          "already exists and is not a directory; move it or choose another output directory",
        );
      }
      const path = join(parent.path, parts[i]!);
      this.#inside(relPath, path);
      stack.push({ name: parts[i]!, path, names: undefined, partials: false });
    }
    const parent = stack[last]!;
    this.#parent = parent;
    const info = this.#lstat(parent, parts[last]!);
    if (info === null) return null;
    if (info.isSymlink) throw this.#link(relPath, relPath);
    if (!info.isFile && !info.isDirectory) {
      throw this.#fail(
        relPath,
        relPath,
        "already exists and is not a regular file or directory; move it or choose another output directory",
      );
    }
    this.#inside(relPath, join(parent.path, parts[last]!));
    return info;
  }

  /**
   * The partial file an earlier transfer left for `relPath` (resume.ts), as
   * lstat tells, or `null`; `relPath` must be the path last given to
   * {@linkcode OutputTree.look}.
   */
  partial(relPath: string): Deno.FileInfo | null {
    const parent = this.#parent;
    if (parent === undefined || !parent.partials) return null;
    const name = partialName(relPath);
    return parent.names!.has(name) ? lstatOrNull(join(parent.path, name)) : null;
  }

  /** lstat of `name` in `dir`, or `null`; asks only if the directory's listing holds the name. */
  #lstat(dir: Dir, name: string): Deno.FileInfo | null {
    if (dir.names === undefined) {
      dir.names = new Set();
      for (const entry of Deno.readDirSync(dir.path)) {
        dir.names.add(fold(entry.name));
        if (entry.name.startsWith(PARTIAL_PREFIX) && entry.name.endsWith(PARTIAL_SUFFIX)) {
          dir.partials = true;
        }
      }
    }
    // A file system that ignores case or normalization finds a name in its
    // other spellings: look whenever the folded names match.
    if (dir.names.size === 0) return null;
    return dir.names.has(fold(name)) ? lstatOrNull(join(dir.path, name)) : null;
  }

  /** Checks, as a second line, that `path` really lies inside the output directory. */
  #inside(relPath: string, path: string): void {
    const real = Deno.realPathSync(path);
    if (!isStrictlyInside(this.#realBase!, real)) {
      throw new PathError(
        `Cannot write ${
          show(relPath)
        }: it leads to ${real}, outside the output directory ${this.#realBase}`,
        relPath,
      );
    }
  }

  #link(relPath: string, shown: string): PathError {
    return this.#fail(
      relPath,
      shown,
      "is a symbolic link in the output directory, and punch never writes through links; remove it or choose another output directory",
    );
  }

  #fail(relPath: string, shown: string, detail: string): PathError {
    return new PathError(`Cannot write ${show(relPath)}: ${show(shown)} ${detail}`, relPath);
  }
}

/** One spelling for the names a case-insensitive or normalizing file system takes as one. */
function fold(name: string): string {
  return name.normalize("NFC").toUpperCase().toLowerCase();
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function isStrictlyInside(base: string, target: string): boolean {
  const rel = relative(base, target);
  return rel !== "" && !isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`);
}

function show(path: string): string {
  return JSON.stringify(
    path.length > MAX_SHOWN_CHARS ? `${path.slice(0, MAX_SHOWN_CHARS)}…` : path,
  );
}
