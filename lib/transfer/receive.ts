/**
 * The receiving side of a transfer: files over a connection, and nothing
 * more (the connection orders, acknowledges and keeps alive).
 *
 * Protocol flow (docs/protocol/transfer.md):
 * - Read the `offer` pieces, parsing each as it comes; check every path and
 *   every existing target before asking the user, so a refusal costs
 *   nothing.
 * - Once accepted, claim the partial files an earlier transfer left, and
 *   list them and any existing file of the offered size
 *   ({@linkcode claimHeld}): `answer {accept, have}` and the `have` list.
 *   Hash their bytes, compare with the sender's `check`, and answer
 *   `resume`: where the sender starts each (see resume.ts).
 * - Write each file under its partial name in its final directory, locked
 *   (or on after the bytes a claimed partial file holds), so that a rerun
 *   finds it even after a crash.
 * - On `file_end`, compare size and digest ({@linkcode FileDigest}), set the
 *   mode (less the umask), and move the file to its final name (which fails
 *   rather than clobber) or over the old one with `overwrite`.
 * - On `done`, answer `result`; closing the connection waits for the sender
 *   to take it.
 * - On failure, leave the file being written and any unused partial file
 *   under their partial names, unless the digest failed.
 *
 * Every file operation after the answer goes through an {@linkcode OutDir}
 * (`_fs.ts`), which reaches each directory and file without following a
 * link. File operations here are synchronous. Each asynchronous one is
 * handed to another thread and back, which for a directory of small files
 * cost more than the files did (about ten per file).
 *
 * @module
 */

import { bytesToHex } from "@noble/hashes/utils.js";
import { statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { timingSafeEqual } from "../crypto/timing_safe_equal.ts";
import { PunchError } from "../errors.ts";
import type { Channel } from "../link/channel.ts";
import { type Manifest, ManifestError } from "./manifest.ts";
import { encodeMessage, TransferError, type TransferMsg } from "./messages.ts";
import { receiveOffer } from "./_offer.ts";
import { baseOf, PathError } from "./paths.ts";
import { giveBack } from "../memory.ts";
import { FileDigest } from "./digest.ts";
import { checkEnd, type EndMsg } from "./_end.ts";
import { OutputTree } from "./_output_tree.ts";
import { Pacer } from "./_pace.ts";
import { hashPrefixes, partialName } from "./resume.ts";
import {
  peerError,
  type Progress,
  receiveEntries,
  receiveMessage,
  type Resumed,
  sendEntries,
  totalOf,
} from "./send.ts";
import { claimHeld, type Held, Slices } from "./_claim.ts";
import { outputFor } from "./content.ts";
import { openOutDir, type OutDir, type OwnFile, processUmask } from "./_fs.ts";

/** Options for {@linkcode receiveFiles}. */
export interface ReceiveOptions {
  /** The directory to write into; created if missing. */
  out: string;
  /**
   * Replace existing files.
   * @default {false}
   */
  overwrite?: boolean;
  /**
   * Asked once the offer passed every check; resolve `false` to decline.
   * @default {() => true}
   */
  confirm?: (manifest: Manifest) => boolean | Promise<boolean>;
  onProgress?: (progress: Progress) => void;
  /** Called before hashing what the receiver holds of the offered files. */
  onCheck?: (held: Resumed) => void;
  /** Called as those bytes are hashed. */
  onCheckProgress?: (progress: Progress) => void;
  /** Called when held bytes are kept, before any data arrives. */
  onResume?: (resumed: Resumed) => void;
  /** Called when a failed receive keeps partial files for the next one. */
  onKept?: (kept: Resumed) => void;
  /**
   * Where the offer's bytes go instead of files under `out`, asked once the
   * offer is read and before `confirm`: a stream for its one entry's bytes,
   * written as they arrive and closed once the digest matched (on a
   * failure, aborted: what was written may then be incomplete), or
   * `undefined` to write files. Only an offer of one entry that is not a
   * directory may go to a stream; throw to refuse it.
   * @default {() => undefined}
   */
  output?: (manifest: Manifest) => WritableStream<Uint8Array> | undefined;
  /**
   * Bytes free for the files in a directory, or `null` if unknown; an offer
   * that cannot fit is refused before asking (`no_space`).
   * @default {freeBytesAt}
   */
  freeBytes?: (dir: string) => number | null;
  signal?: AbortSignal;
}

/** What a finished receive wrote. */
export interface ReceiveResult {
  manifest: Manifest;
  files: number;
  /** Bytes received; held bytes that were kept are in `resumed`. */
  bytes: number;
  resumed: number;
}

/**
 * Writes all of `bytes` synchronously. Deno's asynchronous file write
 * duplicates the descriptor and hands each call to a thread of its own; on
 * the 2-core reference machine that cost the receiver ~0.7 s of CPU per GiB
 * and made it the bottleneck (1 GiB direct on loopback: ~2.1 s with
 * synchronous writes, 2.9–3.8 s with queued asynchronous ones). While a
 * write blocks, incoming bytes wait in the socket, which TCP's flow control
 * absorbs; a message counts as taken (reopening the window) only once written.
 */
function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  for (let n = 0; n < bytes.length;) n += file.writeSync(bytes.subarray(n));
}

interface Sink {
  index: number;
  /** The manifest path. */
  path: string;
  /**
   * The file being written, locked; `null` for an existing file kept as it
   * is, whose `written` is its size.
   */
  own: OwnFile | null;
  file: Deno.FsFile | null;
  /** Where the bytes go instead of a file: {@linkcode ReceiveOptions.output}. */
  writer: WritableStreamDefaultWriter<Uint8Array> | null;
  /** Whether a failure keeps what was written for a later receive: not for a stream or text. */
  resumable: boolean;
  digest: FileDigest;
  written: number;
}

/**
 * Checks every target before anything is written, and that the files can
 * fit; throws the first problem. Each directory on the way is looked at once
 * ({@linkcode OutputTree}), and the event loop gets a turn every
 * YIELD_EVERY_MS, so that 10^6 entries take seconds and the connection
 * stays alive meanwhile.
 */
async function preflight(
  root: string,
  manifest: Manifest,
  overwrite: boolean,
  freeBytes: (dir: string) => number | null,
  signal: AbortSignal | undefined,
): Promise<void> {
  // The fewest bytes the files can take: each file's size, less what an
  // existing file of that size (which may be the same file) or a partial
  // file of an earlier transfer may supply. A resume that finds other bytes
  // there needs more; this only refuses what surely cannot fit.
  let needed = 0;
  const tree = new OutputTree(root);
  const pacer = new Pacer();
  for (const entry of manifest.entries) {
    if (pacer.due()) await pacer.pause(signal);
    // What checkNoLinks(root, entry.path) checks, and the target's lstat.
    const info = tree.look(entry.path);
    const data = entry.kind !== "dir";
    if (data && !(info?.isFile && info.size === entry.size)) {
      const part = tree.partial(entry.path);
      // Only a file resumes from a partial file.
      const held = entry.kind === "file" && part?.isFile && part.size <= entry.size;
      needed += entry.size - (held ? part.size : 0);
    }
    if (!info) continue;
    if (entry.kind === "dir" && !info.isDirectory) {
      throw new TransferError(
        "conflict",
        `Cannot create directory ${entry.path}: a file is in the way`,
      );
    }
    if (data && info.isDirectory) {
      throw new TransferError("conflict", `Cannot write ${entry.path}: a directory is in the way`);
    }
    // A file of the offered size may be the same file: it is hashed and
    // compared with the sender's `check` (claimHeld()).
    // A stream's or text's bytes are never compared with a file's (no resume).
    if (data && !overwrite && (info.size !== entry.size || entry.kind !== "file")) {
      throw exists(entry.path, root);
    }
  }
  const free = needed > 0 ? freeBytes(root) : null;
  if (free !== null && needed > free) {
    const sizes = `${formatSize(needed)} into ${root}: only ${formatSize(free)} is free there`;
    throw new TransferError(
      "no_space",
      `Cannot receive ${sizes}; make room or choose another --out`,
    );
  }
}

/**
 * Bytes free to this user on the file system that holds `dir` (or, where
 * `dir` does not exist yet, its nearest existing parent); `null` where the
 * system does not tell (no statfs, or a file system without a size).
 */
export function freeBytesAt(dir: string): number | null {
  for (let at = dir;; at = dirname(at)) {
    try {
      const stats = statfsSync(at);
      // Some virtual and network file systems report no blocks at all:
      // that says nothing about the space free.
      if (Number(stats.blocks) === 0 || Number(stats.bsize) === 0) return null;
      return Number(stats.bavail) * Number(stats.bsize);
    } catch (error) {
      if (!(error instanceof Error && "code" in error && error.code === "ENOENT")) return null;
      if (dirname(at) === at) return null;
    }
  }
}

/** `50.0 MiB`, `1.4 GiB`: sizes in the refusal above. */
function formatSize(bytes: number): string {
  const gib = bytes / 2 ** 30;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function exists(path: string, root: string): TransferError {
  return new TransferError(
    "conflict",
    `Cannot write ${path}: it already exists in ${root}; move it away or pass --overwrite`,
  );
}

/**
 * A name of its own for a file being written, where its partial name is
 * taken (another receive holds it, or a file there is not one to write):
 * `.punch-<12 hex>.part`. No receive finds it again, so it is made a
 * partial file on a failure if it can be, and swept after
 * `TEMP_MAX_AGE_MS` if a crash leaves it.
 */
function tempName(): string {
  return `.punch-${bytesToHex(crypto.getRandomValues(new Uint8Array(6)))}.part`;
}

/**
 * Reads the sender's `check` entries for every held file, in the order of
 * `have`, and decides where each starts: after the held bytes if their
 * hashes are equal, else at 0.
 */
async function readCheck(
  channel: Channel,
  order: Held[],
  signal?: AbortSignal,
): Promise<void> {
  const check = await receiveEntries(channel, "check", order.length, "sender", signal);
  check.forEach(({ index, sha256 }, at) => {
    const item = order[at]!;
    if (index !== item.index) {
      throw new TransferError(
        "protocol",
        `The sender checks entry ${index} where the receiver listed ${item.index}`,
      );
    }
    const same = item.sha256 !== null && timingSafeEqual(item.sha256, sha256);
    item.offset = same ? item.bytes : 0;
  });
}

/**
 * Lets go of a file being written for the manifest path `path`: kept as
 * its partial file for the next receive if `keep` (moved to the partial
 * name first, if it was written under a temporary one and that name is
 * free), else removed; closed either way, which releases its lock. Returns
 * whether it was kept.
 */
function release(out: OutDir, path: string, own: OwnFile, keep: boolean): boolean {
  try {
    const partial = partialName(path);
    if (keep && own.name !== partial && !out.place(path, own, partial)) keep = false;
    if (!keep) out.remove(path, own);
  } catch {
    keep = false;
  } finally {
    own.close();
  }
  return keep;
}

/** Receives an offer over a connection and writes it under `options.out`. */
export async function receiveFiles(
  channel: Channel,
  options: ReceiveOptions,
): Promise<ReceiveResult> {
  const receiving = new Receiving(channel, options);
  let manifest: Manifest;
  try {
    manifest = await receiveOffer(channel);
  } catch (error) {
    return await receiving.fail(error);
  }
  await receiving.chooseOutput(manifest);
  try {
    const free = options.freeBytes ?? freeBytesAt;
    if (!receiving.output) {
      await preflight(receiving.root, manifest, receiving.overwrite, free, options.signal);
    }
  } catch (error) {
    return await receiving.fail(error);
  }
  await receiving.decide(manifest);
  try {
    let resumed = 0;
    if (receiving.output) {
      await channel.send(encodeMessage({ type: "answer", accept: true }));
    } else {
      resumed = await receiving.accept(manifest);
      await receiving.makeDirectories(manifest);
    }
    const received = await receiving.receiveData(manifest, totalOf(manifest, resumed));
    receiving.tree?.close();
    await receiving.closeOutput();
    // Everything is verified and in place. The connection's close() waits for
    // the sender to take this result.
    await channel.send(encodeMessage({ type: "result", files: receiving.files, bytes: received }));
    return { manifest, files: receiving.files, bytes: received, resumed };
  } catch (error) {
    return await receiving.fail(error);
  }
}

/** One receive's state: the output tree, what it holds, the file being written. */
class Receiving {
  readonly channel: Channel;
  readonly options: ReceiveOptions;
  readonly root: string;
  readonly overwrite: boolean;
  /** Modes arrive as the sender's; the receiver's umask decides what it grants. */
  readonly umask = processUmask();
  readonly held = new Map<number, Held>();
  tree: OutDir | undefined;
  sink: Sink | undefined;
  /** The stream the offer's one entry goes to, if not a file. */
  output: WritableStream<Uint8Array> | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Files kept as partial files outside `sink` and `held`: one that found its name taken. */
  readonly aside = { files: 0, bytes: 0 };
  files = 0;
  /** The next manifest index a file may start at. */
  next = 0;

  constructor(channel: Channel, options: ReceiveOptions) {
    this.channel = channel;
    this.options = options;
    this.root = resolve(options.out);
    this.overwrite = options.overwrite ?? false;
  }

  /** Closes the output stream, if any, once everything is verified. */
  async closeOutput(): Promise<void> {
    const writer = this.#writer ?? this.output?.getWriter();
    this.#writer = undefined;
    await writer?.close();
  }

  /**
   * Runs `question`; if it throws, answers the sender with a refusal whose
   * reason is the error's message, and throws it.
   */
  async #orRefuse<T>(question: () => T | Promise<T>): Promise<T> {
    try {
      return await question();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await this.channel.send(encodeMessage({ type: "answer", accept: false, reason }))
        .catch(() => {});
      throw error;
    }
  }

  /** Asks `options.output` where the offer goes; a refusal there is answered as one. */
  async chooseOutput(manifest: Manifest): Promise<void> {
    this.output = await this.#orRefuse(() => outputFor(manifest, this.options.output?.(manifest)));
  }

  /** Asks (`options.confirm`) and answers a refusal; throws `refused` if declined. */
  async decide(manifest: Manifest): Promise<void> {
    const accepted = await this.#orRefuse(() => (this.options.confirm ?? (() => true))(manifest));
    if (!accepted) {
      await this.channel.send(encodeMessage({ type: "answer", accept: false, reason: "declined" }));
      throw new TransferError("refused", "Declined; nothing was written");
    }
  }

  /**
   * Claims what is held of the offered files, answers, and runs the resume
   * exchange (have, check, resume). Returns the bytes kept.
   */
  async accept(manifest: Manifest): Promise<number> {
    const { channel, options, held } = this;
    const tree = this.tree = openOutDir(this.root);
    await claimHeld(tree, manifest, held);
    await channel.send(encodeMessage({ type: "answer", accept: true, have: held.size }));
    const order = [...held.values()];
    await sendEntries(channel, "have", order.map(({ index, bytes }) => ({ index, bytes })));
    // Hashed while the sender hashes the same bytes of its files.
    const heldBytes = order.reduce((sum, item) => sum + item.bytes, 0);
    if (heldBytes > 0) options.onCheck?.({ files: order.length, bytes: heldBytes });
    const sums = await hashPrefixes(
      order.map((item) => ({
        source: item.file
          ? () => item.file!.reader()
          : () => openHeld(tree, manifest.entries[item.index]!.path),
        bytes: item.bytes,
      })),
      { signal: options.signal, onProgress: options.onCheckProgress },
    );
    order.forEach((item, i) => item.sha256 = sums[i]!);
    await readCheck(channel, order, options.signal);
    let resumed = 0;
    let resumedFiles = 0;
    for (const item of order) {
      if (item.offset === item.bytes) {
        resumed += item.bytes;
        if (item.bytes > 0) resumedFiles++;
      } else if (item.file === null && !this.overwrite) {
        // An existing file of the same size with other bytes.
        throw exists(manifest.entries[item.index]!.path, this.root);
      }
    }
    const starts = order.map(({ index, offset }) => ({ index, offset: offset! }));
    await sendEntries(channel, "resume", starts);
    if (resumed > 0) options.onResume?.({ files: resumedFiles, bytes: resumed });
    return resumed;
  }

  /**
   * Makes every directory of the offer, each opened without following a
   * link and created relative to its parent (lib/transfer/_fs.ts).
   */
  async makeDirectories(manifest: Manifest): Promise<void> {
    const tree = this.tree!;
    tree.makeDirs("");
    const slices = new Slices();
    for (const entry of manifest.entries) {
      if (entry.kind !== "dir") continue;
      tree.makeDirs(entry.path);
      if (slices.due()) await slices.turn();
    }
  }

  /** Reads data, file_end and done; writes and places each file. Returns the bytes received. */
  async receiveData(manifest: Manifest, total: number | undefined): Promise<number> {
    let received = 0;
    for (;;) {
      const msg: TransferMsg = await receiveMessage(this.channel, this.options.signal);
      if (msg.type === "data") {
        received += await this.#data(manifest, msg);
        this.options.onProgress?.({ bytes: received, total });
      } else if (msg.type === "file_end" || msg.type === "stream_end") {
        this.#fileEnd(manifest, msg);
      } else if (msg.type === "done") {
        if (this.sink || manifest.entries.slice(this.next).some((e) => e.kind !== "dir")) {
          throw new TransferError("protocol", "The sender finished before sending every file");
        }
        return received;
      } else if (msg.type === "error") {
        throw peerError(msg, "sender");
      } else {
        throw new TransferError("protocol", `Unexpected ${msg.type} from the sender`);
      }
    }
  }

  /** Writes one data message into the file it belongs to; returns its length. */
  async #data(manifest: Manifest, msg: Extract<TransferMsg, { type: "data" }>): Promise<number> {
    if (this.sink && this.sink.index !== msg.index) {
      throw new TransferError(
        "protocol",
        `Data for file ${msg.index} before file ${this.sink.index} ended`,
      );
    }
    const sink = this.sink ??= this.#open(manifest, msg.index);
    const entry = manifest.entries[sink.index]!;
    if (!sink.file && !sink.writer) {
      throw new TransferError(
        "protocol",
        `Data for ${entry.path}, which the receiver holds whole: no data was due`,
      );
    }
    if (msg.offset !== sink.written) {
      throw new TransferError(
        "protocol",
        `Data for ${entry.path} at offset ${msg.offset}, where ${sink.written} was due`,
      );
    }
    if (entry.kind !== "stream" && msg.offset + msg.bytes.length > entry.size) {
      const end = msg.offset + msg.bytes.length;
      throw new TransferError(
        "protocol",
        `Data for ${entry.path} runs to byte ${end}, past its size of ${entry.size}`,
      );
    }
    if (msg.offset + msg.bytes.length > Number.MAX_SAFE_INTEGER) {
      throw new TransferError("protocol", `Data for ${entry.path} runs past 2^53-1 bytes`);
    }
    sink.digest.add(this.channel.receivedTag);
    const length = msg.bytes.length;
    sink.written += length;
    // A stream may keep the chunk (queued, or passed on): it is not given back.
    if (sink.writer) return await sink.writer.write(msg.bytes), length;
    writeAllSync(sink.file!, msg.bytes);
    // The record's buffer is spent: nothing else refers to it (the
    // connection keeps a copy of the tag), so the next record may be read
    // into it.
    giveBack(msg.bytes);
    return length;
  }

  /** Checks a file's or stream's end and digest, and places it. */
  #fileEnd(manifest: Manifest, msg: EndMsg): void {
    const sink = this.sink ??= this.#open(manifest, msg.index);
    const entry = manifest.entries[sink.index]!;
    checkEnd(entry, msg, sink);
    if (sink.own) this.#put(sink.own, entry);
    this.sink = undefined;
    this.files++;
  }

  /** Opens the file at manifest `index` to write: a claimed partial file, or a new one. */
  #open(manifest: Manifest, index: number): Sink {
    const entry = manifest.entries[index];
    if (index < this.next || entry === undefined || entry.kind === "dir") {
      throw new TransferError("protocol", `Unexpected file index ${index}`);
    }
    this.next = index + 1;
    const digest = new FileDigest();
    const base = { index, path: entry.path, digest };
    if (this.output) {
      this.#writer = this.output.getWriter();
      return { ...base, own: null, file: null, writer: this.#writer, resumable: false, written: 0 };
    }
    const item = this.held.get(index);
    if (item?.file === null && item.offset === item.bytes) {
      // The existing file is the sender's: nothing to write.
      this.held.delete(index);
      return { ...base, own: null, file: null, writer: null, resumable: true, written: entry.size };
    }
    if (item?.file) {
      // Until it is open, the partial file stays in `held`, given back on failure.
      const written = item.offset!;
      const file = item.file.file();
      if (written === 0) file.truncateSync(0);
      file.seekSync(written, Deno.SeekMode.Start);
      this.held.delete(index);
      return { ...base, own: item.file, file, writer: null, resumable: true, written };
    }
    // Written under its partial name, so that a rerun after a crash finds it.
    // A stream or text is never resumed, so it is written under a name of its own.
    const tree = this.tree!;
    const resumable = entry.kind === "file";
    const own = (resumable ? tree.create(entry.path, partialName(entry.path)) : null) ??
      tree.create(entry.path, tempName());
    if (own === null) {
      throw new TransferError("io", `Cannot write ${entry.path}: no free name to write it under`);
    }
    // Set before the file is opened for Deno, so that a failure there still removes it.
    this.sink = { ...base, own, file: null, writer: null, resumable, written: 0 };
    this.sink.file = own.file();
    return this.sink;
  }

  /**
   * Sets a verified file's mode and moves it to its final name, without
   * clobbering unless `overwrite`; closes it, which releases its lock.
   */
  #put(own: OwnFile, entry: Manifest["entries"][number]): void {
    const tree = this.tree!;
    const name = baseOf(entry.path);
    if (Deno.build.os !== "windows") own.chmod(entry.mode & 0o777 & ~this.umask);
    if (this.overwrite) return void (tree.replace(entry.path, own, name), own.close());
    if (tree.place(entry.path, own, name)) return own.close();
    // Kept for the next receive: as a partial file of the whole size, a
    // rerun with --overwrite hashes it instead of receiving it again.
    if (Deno.build.os !== "windows") own.chmod(0o600);
    this.sink = undefined;
    const kept = release(tree, entry.path, own, true);
    if (kept) {
      this.aside.files++;
      this.aside.bytes += entry.size;
    }
    throw new TransferError(
      "conflict",
      `Cannot write ${entry.path}: it appeared while receiving, and nothing was overwritten; ${
        kept
          ? "the received copy is kept, so receiving again with --overwrite replaces it without sending it again"
          : "the received copy was removed"
      }`,
    );
  }

  /**
   * Keeps what can be resumed, tells the sender why (unless it said first),
   * and throws the error as a TransferError.
   */
  async fail(error: unknown): Promise<never> {
    const code = error instanceof PunchError
      ? error.kind
      : error instanceof PathError
      ? "bad_path"
      : error instanceof ManifestError
      ? "bad_manifest"
      : "io";
    const kept = { ...this.aside };
    const sink = this.sink;
    if (sink?.own) {
      // What was written came in authenticated records at the right
      // offsets; only a digest that failed makes the file suspect.
      const keep = code !== "integrity" && sink.written > 0 && sink.resumable;
      if (release(this.tree!, sink.path, sink.own, keep)) {
        kept.files++;
        kept.bytes += sink.written;
      }
    }
    // Claimed and never reached: left as they were, for the next receive.
    for (const item of this.held.values()) {
      if (item.file === null) continue;
      item.file.close();
      kept.files++;
      kept.bytes += item.bytes;
    }
    this.tree?.close();
    await this.#writer?.abort(error).catch(() => {});
    if (kept.files > 0) this.options.onKept?.(kept);
    if (!(error instanceof PunchError && error.kind === "peer_error")) {
      const message = error instanceof Error ? error.message : String(error);
      await this.channel.send(encodeMessage({ type: "error", error: code, message }))
        .catch(() => {});
    }
    if (error instanceof PathError || error instanceof ManifestError) {
      throw new TransferError(code as "bad_path" | "bad_manifest", error.message, { cause: error });
    }
    if (error instanceof PunchError) throw error;
    throw new TransferError("io", error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
}

/** Opens an existing target held whole, to hash it. */
function openHeld(tree: OutDir, path: string): Deno.FsFile {
  const file = tree.openRead(path, baseOf(path));
  if (file === null) throw new Deno.errors.NotFound(`Cannot read ${path}: it is gone or changed`);
  return file;
}
