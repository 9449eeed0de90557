/**
 * Path safety on the receiving side. A manifest comes from a peer that may be
 * hostile, and nothing it names may be written outside the output directory.
 *
 * - {@linkcode validateManifestPath} refuses any path that is not a plain
 *   relative POSIX path, or that would not arrive the same on every system.
 * - {@linkcode resolveInside} turns a valid path into a platform path under
 *   the output directory, and checks that it stays there.
 * - {@linkcode checkNoLinks} checks, just before writing, that no existing
 *   symbolic link or non-directory on the way could redirect the write.
 *
 * The rules and their reasons are in docs/protocol/transfer.md, "Paths".
 *
 * @module
 */

import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { pathProblem } from "./_path_rules.ts";

/** How many characters of a path an error message repeats. */
const MAX_SHOWN_CHARS = 200;

/**
 * A path from a manifest that the receiver refuses to write. Transfer code
 * catches it to tell the sender which file was refused.
 */
export class PathError extends Error {
  /** The path as it was given, in full. */
  readonly path: string;

  /**
   * Makes an error for a refused path.
   *
   * @param message What is wrong, in sentence case, naming the path.
   * @param path The refused path.
   * @param options The cause, if another error led to this one.
   */
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PathError";
    this.path = path;
  }
}

/**
 * Checks that `path` is safe to write under any output directory on any
 * system: a non-empty relative POSIX path of at most 4096 UTF-8 bytes whose
 * components are not empty, `.` or `..`, at most 255 bytes, free of
 * backslashes, `:` and control characters, not a Windows device name and not
 * ending in a space or a dot.
 *
 * @example Usage
 * ```ts
 * import { validateManifestPath } from "./paths.ts";
 * validateManifestPath("photos/日本.jpg"); // "photos/日本.jpg"
 * validateManifestPath("../.ssh/authorized_keys"); // throws PathError
 * ```
 *
 * @param path A path from a manifest.
 * @returns `path`, unchanged.
 * @throws {PathError} If `path` breaks a rule; the message says which.
 * @throws {TypeError} If `path` is not a string.
 */
export function validateManifestPath(path: string): string {
  if (typeof path !== "string") {
    throw new TypeError(`Cannot accept path: expected a string, got ${typeof path}`);
  }
  const problem = pathProblem(path);
  if (problem !== undefined) {
    throw new PathError(`Cannot accept path ${show(path)}: ${problem}`, path);
  }
  return path;
}

/**
 * Returns the absolute platform path of `relPath` under `root`, after
 * checking `relPath` with {@linkcode validateManifestPath} and checking again
 * that the result lies strictly inside `root`.
 *
 * @example Usage
 * ```ts
 * import { resolveInside } from "./paths.ts";
 * resolveInside("/home/me/in", "photos/a.jpg"); // "/home/me/in/photos/a.jpg"
 * ```
 *
 * @param root The output directory; relative to the working directory if not absolute.
 * @param relPath A manifest path.
 * @returns The absolute path to write.
 * @throws {PathError} If `relPath` is not safe.
 */
export function resolveInside(root: string, relPath: string): string {
  validateManifestPath(relPath);
  const base = resolve(root);
  const target = resolve(base, ...relPath.split("/"));
  if (!isStrictlyInside(base, target)) {
    throw new PathError(
      `Cannot accept path ${show(relPath)}: it resolves to ${target}, outside ${base}`,
      relPath,
    );
  }
  return target;
}

/**
 * Checks that writing `relPath` under `root` cannot be redirected: every
 * existing component on the way, from the first below `root` to the target
 * itself, must not be a symbolic link (or a Windows junction); those before
 * the target must be directories; and the target, if it exists, must be a
 * regular file or a directory. `root` itself may be a link: the user chose it.
 *
 * Call it right before creating or writing each entry. It is synchronous,
 * as are the file operations around it in the receiver: each asynchronous
 * one costs a hand-off to another thread, and a directory of small files
 * needs several per file. It guards against
 * links that were in the output directory before the transfer; punch never
 * creates links, so the peer cannot plant one.
 *
 * @example Usage
 * ```ts
 * import { checkNoLinks } from "./paths.ts";
 * checkNoLinks(Deno.cwd(), "photos/a.jpg");
 * ```
 *
 * @param root The output directory.
 * @param relPath A manifest path.
 * @throws {PathError} If a link or a non-directory is in the way, or `relPath` is not safe.
 */
export function checkNoLinks(root: string, relPath: string): void {
  resolveInside(root, relPath);
  const base = resolve(root);
  const components = relPath.split("/");
  let current = base;
  let deepest: string | undefined;
  for (const [index, name] of components.entries()) {
    current = join(current, name);
    const shown = components.slice(0, index + 1).join("/");
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(current);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) break;
      throw error;
    }
    if (info.isSymlink) throw pathBlocked(relPath, shown, "link");
    const last = index === components.length - 1;
    if (!last && !info.isDirectory) throw pathBlocked(relPath, shown, "not a directory");
    if (last && !info.isFile && !info.isDirectory) throw pathBlocked(relPath, shown, "special");
    deepest = current;
  }
  // Belt and braces for links lstat() does not report: the real path of the
  // deepest existing component must still lie inside the real output directory.
  if (deepest !== undefined) {
    const realBase = Deno.realPathSync(base);
    const realDeepest = Deno.realPathSync(deepest);
    if (!isStrictlyInside(realBase, realDeepest)) {
      throw pathOutside(relPath, realDeepest, realBase);
    }
  }
}

/** What can stand in the way of writing a path, at one of its components. */
export type PathBlock = "link" | "not a directory" | "special";

/**
 * The error for writing `relPath` when `component` (`relPath` itself or a
 * directory above it) is a link, a non-directory where a directory goes,
 * or neither a regular file nor a directory.
 */
export function pathBlocked(relPath: string, component: string, block: PathBlock): PathError {
  const detail = block === "link"
    ? "is a symbolic link in the output directory, and punch never writes through links; remove it or choose another output directory"
    : block === "not a directory"
    ? "already exists and is not a directory; move it or choose another output directory"
    : "already exists and is not a regular file or directory; move it or choose another output directory";
  return new PathError(`Cannot write ${show(relPath)}: ${show(component)} ${detail}`, relPath);
}

/** The error for writing `relPath` when its real path `real` lies outside the real `realBase`. */
export function pathOutside(relPath: string, real: string, realBase: string): PathError {
  return new PathError(
    `Cannot write ${show(relPath)}: it leads to ${real}, outside the output directory ${realBase}`,
    relPath,
  );
}

/**
 * The error for writing `relPath` when a directory on the way was moved or
 * swapped for a link after the receiver looked at it or opened it (see
 * `_fs.ts`).
 */
export function pathChanged(relPath: string): PathError {
  return new PathError(
    `Cannot write ${
      show(relPath)
    }: a directory on the way was moved or replaced while receiving; nothing more is written there`,
    relPath,
  );
}

/** The directory that holds manifest path `path`: "" for a top-level name. */
export function dirOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** The last component of manifest path `path`. */
export function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Whether `target` lies strictly below `base` (both absolute platform paths). */
export function isStrictlyInside(base: string, target: string): boolean {
  const rel = relative(base, target);
  return rel !== "" && !isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`);
}

function show(path: string): string {
  return JSON.stringify(
    path.length > MAX_SHOWN_CHARS ? `${path.slice(0, MAX_SHOWN_CHARS)}…` : path,
  );
}
