// The browser's sending side: the files a user picked or dropped become a
// manifest (named by their relative paths, sorted as punch sends them) and
// go through lib/transfer/send.ts, each read from its File as it is sent.

/// <reference lib="dom" />

import { comparePaths, type Manifest } from "../../lib/transfer/_manifest_check.ts";
import { pathProblem } from "../../lib/transfer/_path_rules.ts";
import type { ScanResult } from "../../lib/transfer/manifest.ts";
import type { SendSource } from "../../lib/transfer/send.ts";

/** A file to send and the path it is offered under. */
export interface Picked {
  path: string;
  file: File;
}

/** Mode offered for the page's files and the directories above them: a browser tells none. */
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

/**
 * The manifest of picked files, with every directory above them; `files`
 * holds each entry's File (undefined for a directory).
 *
 * @throws {TypeError} If two files share a path, or a path breaks a rule of the manifest.
 */
export function scanPicked(picked: Picked[]): { scan: ScanResult; files: (File | undefined)[] } {
  const byPath = new Map<string, File | undefined>();
  for (const { path, file } of picked) {
    const problem = pathProblem(path);
    if (problem) throw new TypeError(`Cannot send "${path}": ${problem}`);
    if (byPath.has(path)) throw new TypeError(`Cannot send two files named "${path}"`);
    byPath.set(path, file);
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (byPath.get(dir) !== undefined) {
        throw new TypeError(`Cannot send "${path}": "${dir}" is a file`);
      }
      byPath.set(dir, undefined);
    }
  }
  const paths = [...byPath.keys()].sort(comparePaths);
  const files = paths.map((path) => byPath.get(path));
  const entries = paths.map((path, i) => {
    const file = files[i];
    return file
      ? { path, kind: "file" as const, size: file.size, mode: FILE_MODE }
      : { path, kind: "dir" as const, size: 0, mode: DIR_MODE };
  });
  const manifest: Manifest = {
    entries,
    files: entries.filter((entry) => entry.kind === "file").length,
    bytes: entries.reduce((sum, entry) => sum + entry.size, 0),
  };
  return { scan: { manifest, sources: [], warnings: [] }, files };
}

/** A File's bytes from `offset`, as lib/transfer/send.ts reads them. */
export function fileSource(file: File, offset: number): SendSource {
  const reader = file.slice(offset).stream().getReader();
  let held: Uint8Array = new Uint8Array(0);
  return {
    async read(into: Uint8Array): Promise<number | null> {
      while (held.length === 0) {
        const { value, done } = await reader.read();
        if (done) return null;
        held = value;
      }
      const n = Math.min(into.length, held.length);
      into.set(held.subarray(0, n));
      held = held.subarray(n);
      return n;
    },
    [Symbol.dispose]() {
      reader.cancel().catch(() => {});
    },
  };
}

/** Files from an `<input type="file">`, under their names or, from a folder input, their relative paths. */
export function inputFiles(files: FileList | null): Picked[] {
  return [...(files ?? [])].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}

/** The files under dropped items, with their paths (a folder brings its whole tree). */
export async function droppedFiles(items: DataTransferItemList): Promise<Picked[]> {
  const picked: Picked[] = [];
  const entries: FileSystemEntry[] = [];
  for (const item of items) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry();
    // Without an entry (a browser without the API, or a made-up drop), the file alone.
    const file = entry === null ? item.getAsFile() : null;
    if (entry) entries.push(entry);
    else if (file) picked.push({ path: file.name, file });
  }
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    const path = prefix + entry.name;
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) =>
        (entry as FileSystemFileEntry).file(resolve, reject)
      );
      picked.push({ path, file });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
          reader.readEntries(resolve, reject)
        );
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, path + "/");
      }
    }
  };
  for (const entry of entries) await walk(entry, "");
  return picked;
}
