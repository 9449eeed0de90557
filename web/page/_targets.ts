// Where the page puts what it receives: one file as a streamed download,
// several files or directories as a streamed zip, or a folder the user
// picks (File System Access API, where the browser has it).

/// <reference lib="dom" />

import type { Manifest, ManifestEntry } from "../../lib/transfer/_manifest_check.ts";
import { ZipWriter } from "../../lib/transfer/_zip.ts";
import { MAX_SHOWN_TEXT_BYTES } from "../../lib/transfer/defaults.ts";
import { TransferError } from "../../lib/transfer/messages.ts";
import { streamDownload } from "./_download.ts";
import type { Target } from "./_receive.ts";

/** Whether the offer is one file, stream or text alone, which downloads as itself. */
export function isSingleFile(manifest: Manifest): boolean {
  return manifest.entries.length === 1 && manifest.entries[0]!.kind !== "dir";
}

/** The offer's text, where it is a text short enough to show at once (as `punch receive` does). */
export function shownText(manifest: Manifest): ManifestEntry | undefined {
  const entry = manifest.entries[0];
  return manifest.entries.length === 1 && entry?.kind === "text" &&
      entry.size <= MAX_SHOWN_TEXT_BYTES
    ? entry
    : undefined;
}

/** A short text, gathered and handed to `show` once its digest has been checked. */
export function textTarget(show: (text: string) => void): Target {
  const parts: Uint8Array[] = [];
  return {
    directory: () => Promise.reject(new TransferError("protocol", "A directory in a text")),
    file: () =>
      Promise.resolve(
        new WritableStream<Uint8Array>({
          write: (chunk) => void parts.push(chunk.slice()),
          close: () => show(new TextDecoder().decode(concat(parts))),
        }),
      ),
    close: () => Promise.resolve(),
    abort: () => Promise.resolve(),
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) all.set(part, at), at += part.length;
  return all;
}

/** The zip's name: the one top-level entry's, else a name of its own. */
export function zipName(manifest: Manifest): string {
  const tops = new Set(manifest.entries.map((entry) => entry.path.split("/")[0]!));
  return tops.size === 1 ? `${[...tops][0]}.zip` : "punch-files.zip";
}

/** One file, as a streamed download under its own name. */
export function downloadTarget(): Target {
  let stream: WritableStream<Uint8Array> | undefined;
  return {
    directory: () => Promise.reject(new TransferError("protocol", "A directory in a single file")),
    async file(entry) {
      // A stream's length is known only at its end.
      return stream = await streamDownload(entry.path, entry.kind === "stream" ? null : entry.size);
    },
    close: () => Promise.resolve(),
    async abort(reason) {
      await stream?.abort(reason).catch(() => {});
    },
  };
}

/** Several files and directories, as one zip streamed as a download. */
export async function zipTarget(manifest: Manifest): Promise<Target> {
  const zip = new ZipWriter();
  const download = await streamDownload(zipName(manifest), null);
  const piping = zip.readable.pipeTo(download);
  piping.catch(() => {});
  const now = Date.now();
  return {
    directory: (entry) => zip.addDirectory(entry.path, { mode: entry.mode & 0o777, mtime: now }),
    file: (entry) =>
      Promise.resolve(
        zip.addFile(entry.path, { mode: entry.mode & 0o777, size: entry.size, mtime: now }),
      ),
    async close() {
      await zip.close();
      await piping;
    },
    async abort(reason) {
      await zip.abort(reason).catch(() => {});
    },
  };
}

interface DirectoryHandle {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandle>;
  removeEntry(name: string): Promise<void>;
}
interface FileHandle {
  createWritable(): Promise<WritableStream<Uint8Array>>;
}

/** Whether the browser lets the page write into a folder the user picks. */
export function hasFolderPicker(): boolean {
  return "showDirectoryPicker" in globalThis;
}

/**
 * Files written into a folder the user picks, the tree made beneath it. An
 * existing file is never replaced; each file is written to the browser's
 * own temporary file and takes its name only once complete.
 */
export async function folderTarget(): Promise<Target> {
  const pick = (globalThis as unknown as {
    showDirectoryPicker(options: { mode: "readwrite" }): Promise<DirectoryHandle>;
  }).showDirectoryPicker;
  const root = await pick({ mode: "readwrite" });
  const parent = async (path: string, create: boolean) => {
    let dir = root;
    const parts = path.split("/");
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create });
    return { dir, name: parts[parts.length - 1]! };
  };
  const exists = async (dir: DirectoryHandle, name: string) => {
    try {
      await dir.getFileHandle(name);
      return true;
    } catch {
      return false;
    }
  };
  // The file being written, removed again if the transfer fails: creating
  // its handle made an empty file under its name.
  let writing:
    | { writer: WritableStreamDefaultWriter<Uint8Array>; dir: DirectoryHandle; name: string }
    | undefined;
  return {
    async directory(entry: ManifestEntry) {
      const { dir, name } = await parent(entry.path, true);
      await dir.getDirectoryHandle(name, { create: true });
    },
    async file(entry: ManifestEntry) {
      const { dir, name } = await parent(entry.path, true);
      if (await exists(dir, name)) {
        throw new TransferError(
          "conflict",
          `Cannot save ${entry.path}: the folder has one already`,
        );
      }
      const stream = await (await dir.getFileHandle(name, { create: true })).createWritable();
      const writer = stream.getWriter();
      const done = writing = { writer, dir, name };
      return new WritableStream<Uint8Array>({
        write: (chunk) => writer.write(chunk),
        async close() {
          await writer.close();
          if (writing === done) writing = undefined;
        },
        abort: (reason) => writer.abort(reason),
      });
    },
    close: () => Promise.resolve(),
    async abort(reason) {
      if (!writing) return;
      await writing.writer.abort(reason).catch(() => {});
      await writing.dir.removeEntry(writing.name).catch(() => {});
    },
  };
}
