/**
 * The output tree by path, each step checked after it is taken: where
 * handles cannot be had (see `_fs.ts` for what this guarantees).
 *
 * @module
 */

import { join } from "node:path";
import type { FileStat, OutDir, OwnFile } from "./_fs.ts";
import { dirOf, isStrictlyInside, pathBlocked, pathChanged, pathOutside } from "./paths.ts";
import type { HashReader } from "./resume.ts";

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function fromInfo(info: Deno.FileInfo): FileStat {
  const kind = info.isSymlink ? "link" : info.isFile ? "file" : info.isDirectory ? "dir" : "other";
  return {
    kind,
    size: info.size,
    nlink: info.nlink ?? 1,
    uid: info.uid,
    id: `${info.dev}:${info.ino}`,
    mtimeMs: info.mtime?.getTime() ?? null,
  };
}

/** The output tree by path, each step checked after it is taken. */
export class CheckedOutDir implements OutDir {
  readonly safety = "checks";
  readonly root: string;
  readonly #uid: number | null;
  #realRoot: string | null = null;

  constructor(root: string, uid: number | null) {
    this.root = root;
    this.#uid = uid;
  }

  /**
   * The path of directory `dir`, each component checked not to be a link
   * (and created first with `create`), and its real path inside the real
   * output directory; `null` if missing.
   */
  #dir(dir: string, create: boolean, path: string): string | null {
    if (lstatOrNull(this.root) === null) {
      if (!create) return null;
      Deno.mkdirSync(this.root, { recursive: true });
    }
    let at = this.root;
    const components = dir === "" ? [] : dir.split("/");
    for (const [index, name] of components.entries()) {
      at = join(at, name);
      const shown = components.slice(0, index + 1).join("/");
      let info = lstatOrNull(at);
      if (info === null) {
        if (!create) return null;
        try {
          Deno.mkdirSync(at);
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        }
        info = lstatOrNull(at); // and look again at what the step made
      }
      if (info?.isSymlink) throw pathBlocked(path, shown, "link");
      if (!info?.isDirectory) throw pathBlocked(path, shown, "not a directory");
    }
    this.#inside(at, path);
    return at;
  }

  /** Throws unless the real path of `at` is the real output directory or lies inside it. */
  #inside(at: string, path: string): void {
    const realRoot = this.#realRoot ??= Deno.realPathSync(this.root);
    const real = Deno.realPathSync(at);
    if (real !== realRoot && !isStrictlyInside(realRoot, real)) {
      throw pathOutside(path, real, realRoot);
    }
  }

  #existingDir(path: string): string {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) throw pathChanged(path);
    return dir;
  }

  list(dir: string): string[] | null {
    const at = this.#dir(dir, false, dir);
    if (at === null) return null;
    const names: string[] = [];
    for (const entry of Deno.readDirSync(at)) names.push(entry.name);
    return names;
  }

  stat(path: string, name: string): FileStat | null {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return null;
    const info = lstatOrNull(join(dir, name));
    return info && fromInfo(info);
  }

  makeDirs(dir: string): void {
    this.#dir(dir, true, dir === "" ? "." : dir);
  }

  create(path: string, name: string): OwnFile | null {
    const dir = this.#dir(dirOf(path), true, path)!;
    const at = join(dir, name);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(at, { createNew: true, read: true, write: true, mode: 0o600 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return null;
      throw error;
    }
    const id = fromInfo(file.statSync()).id;
    const named = lstatOrNull(at);
    try {
      this.#inside(dir, path);
      if (named === null || fromInfo(named).id !== id) throw pathChanged(path);
    } catch (error) {
      file.close();
      // The empty file just made, wherever the swap put it: only if the name still shows it.
      if (named !== null && fromInfo(named).id === id) Deno.removeSync(at);
      throw error instanceof Deno.errors.NotFound ? pathChanged(path) : error;
    }
    if (!file.tryLockSync(true)) {
      file.close();
      return null;
    }
    return new CheckedFile(file, at, id, name, path);
  }

  openOwn(path: string, name: string): OwnFile | null {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return null;
    const at = join(dir, name);
    const found = lstatOrNull(at);
    if (found === null || !this.#mine(fromInfo(found))) return null;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(at, { read: true, write: true });
    } catch {
      return null;
    }
    const id = fromInfo(found).id;
    const locked = file.tryLockSync(true) ? fromInfo(file.statSync()) : null;
    const named = lstatOrNull(at);
    if (
      locked === null || named === null || !this.#mine(locked) || locked.id !== id ||
      fromInfo(named).id !== id
    ) {
      file.close();
      return null;
    }
    try {
      this.#inside(dir, path);
    } catch (error) {
      file.close();
      throw error;
    }
    return new CheckedFile(file, at, id, name, path);
  }

  #mine(info: FileStat): boolean {
    return info.kind === "file" && info.nlink === 1 &&
      (this.#uid === null || info.uid === null || info.uid === this.#uid);
  }

  openRead(path: string, name: string): Deno.FsFile | null {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return null;
    const at = join(dir, name);
    const found = lstatOrNull(at);
    if (!found?.isFile) return null;
    const file = Deno.openSync(at, { read: true });
    if (fromInfo(file.statSync()).id !== fromInfo(found).id) {
      file.close();
      return null;
    }
    return file;
  }

  /** Throws unless `file`'s name in `dir` still shows it. */
  #still(dir: string, file: OwnFile, path: string): void {
    const named = lstatOrNull(join(dir, file.name));
    if (named === null || fromInfo(named).id !== file.id) throw pathChanged(path);
  }

  place(path: string, file: OwnFile, to: string): boolean {
    const dir = this.#existingDir(path);
    this.#still(dir, file, path);
    const from = join(dir, file.name);
    try {
      Deno.linkSync(from, join(dir, to));
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      // No hard links on this file system: check, then rename.
      if (lstatOrNull(join(dir, to)) !== null) return false;
      Deno.renameSync(from, join(dir, to));
      return true;
    }
    Deno.removeSync(from);
    return true;
  }

  replace(path: string, file: OwnFile, to: string): void {
    const dir = this.#existingDir(path);
    this.#still(dir, file, path);
    Deno.renameSync(join(dir, file.name), join(dir, to));
  }

  remove(path: string, file: OwnFile): void {
    const dir = this.#dir(dirOf(path), false, path);
    if (dir === null) return;
    const named = lstatOrNull(join(dir, file.name));
    if (named === null || fromInfo(named).id !== file.id) return; // not ours to remove
    try {
      Deno.removeSync(join(dir, file.name));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  close(): void {}
}

/** A file held by path and by its open handle, checked to be the same before each use. */
class CheckedFile implements OwnFile {
  readonly name: string;
  readonly id: string;
  readonly #file: Deno.FsFile;
  /** Where it is, and the manifest path it is for (for errors). */
  readonly #at: string;
  readonly #for: string;

  constructor(file: Deno.FsFile, at: string, id: string, name: string, path: string) {
    this.#file = file;
    this.#at = at;
    this.id = id;
    this.name = name;
    this.#for = path;
  }

  #same(): void {
    const named = lstatOrNull(this.#at);
    if (named === null || fromInfo(named).id !== this.id) throw pathChanged(this.#for);
  }

  stat(): FileStat {
    return fromInfo(this.#file.statSync());
  }

  file(): Deno.FsFile {
    return this.#file;
  }

  reader(): HashReader {
    const file = this.#file;
    file.seekSync(0, Deno.SeekMode.Start);
    return { read: (into) => file.read(into), [Symbol.dispose]() {} };
  }

  chmod(mode: number): void {
    this.#same();
    Deno.chmodSync(this.#at, mode);
  }

  close(): void {
    this.#file.close();
  }
}
