/**
 * The receiving side of a transfer.
 *
 * Protocol flow:
 * - Read the `offer` pieces, parsing each as it comes and acknowledging each
 *   but the last with `credit`; check every path and every existing target
 *   before asking the user, so a refusal costs nothing, and send `deciding`
 *   meanwhile.
 * - Once accepted, claim the partial files an earlier transfer left, and
 *   list them and any existing file of the offered size
 *   ({@linkcode claimHeld}): `answer {accept, window, have}` and the `have`
 *   list. Hash their bytes, compare with the sender's `check`, and answer
 *   `resume`: where the sender starts each (see resume.ts).
 * - Write each file under its partial name in its final directory, locked
 *   (or on after the bytes a claimed partial file holds), so that a rerun
 *   finds it even after a crash; grant `credit` once a quarter window is on
 *   disk (or at a file's end after a second without a grant).
 * - On `file_end`, compare size and digest ({@linkcode FileDigest}), set the
 *   mode (less the umask), and move the file to its final name (which fails
 *   rather than clobber) or over the old one with `overwrite`.
 * - On `done`, answer `result` and wait for the sender's final record.
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
import { dirname, join, resolve } from "node:path";
import { timingSafeEqual } from "../crypto/timing_safe_equal.ts";
import type { Channel } from "../link/channel.ts";
import { type Manifest, ManifestDecoder, ManifestError, MAX_MANIFEST_BYTES } from "./manifest.ts";
import { encodeMessage, OFFER_PIECE_BYTES, TransferError, type TransferMsg } from "./messages.ts";
import { baseOf, checkNoLinks, PathError, resolveInside } from "./paths.ts";
import { CREDIT_BATCH_BYTES, CREDIT_QUIET_MS, STALL_TIMEOUT_MS, WINDOW_BYTES } from "./defaults.ts";
import { giveBack } from "../memory.ts";
import { FileDigest } from "./digest.ts";
import { OutputTree } from "./_output_tree.ts";
import { Pacer } from "./_pace.ts";
import { hashPrefixes, keepingAlive, partialName } from "./resume.ts";
import {
  peerError,
  type Progress,
  receiveEntries,
  receiveMessage,
  type Resumed,
  sendEntries,
  sendWithin,
  whileDeciding,
} from "./send.ts";
import { claimHeld, type Held, Slices } from "./_claim.ts";
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
 * absorbs; credit is granted only once the bytes are written.
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
  digest: FileDigest;
  written: number;
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Reads the offer's pieces as they come and parses each at once, keeping
 * nothing of the manifest but its entries ({@linkcode ManifestDecoder}): a
 * hostile manifest is refused at the first piece that shows it, and costs
 * no more memory than its entries. Each piece but the last is acknowledged
 * with `credit` once parsed: the sender may have only OFFER_WINDOW_BYTES
 * unacknowledged, so a manifest of any size crosses a relay that drops a
 * side whose queue passes 16 MiB.
 */
async function receiveOffer(channel: Channel): Promise<Manifest> {
  const decoder = new ManifestDecoder();
  for (;;) {
    const msg = await receiveMessage(channel, STALL_TIMEOUT_MS);
    if (msg.type === "error") {
      throw peerError(msg, "sender");
    }
    if (msg.type !== "offer") {
      throw new TransferError("protocol", `Expected offer, got ${msg.type}`);
    }
    if (msg.more && msg.piece.length !== OFFER_PIECE_BYTES) {
      throw new TransferError(
        "protocol",
        `An offer piece before the last holds ${msg.piece.length} bytes, not ${OFFER_PIECE_BYTES}`,
      );
    }
    if (decoder.size + msg.piece.length > MAX_MANIFEST_BYTES) {
      throw new TransferError(
        "bad_manifest",
        `Cannot accept offer: manifest exceeds ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    decoder.push(msg.piece);
    if (!msg.more) return decoder.finish();
    await sendWithin(channel, encodeMessage({ type: "credit", bytes: msg.piece.length }));
  }
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
    if (entry.kind === "file" && !(info?.isFile && info.size === entry.size)) {
      const part = tree.partial(entry.path);
      needed += entry.size - (part?.isFile && part.size <= entry.size ? part.size : 0);
    }
    if (!info) continue;
    if (entry.kind === "dir" && !info.isDirectory) {
      throw new TransferError(
        "conflict",
        `Cannot create directory ${entry.path}: a file is in the way`,
      );
    }
    if (entry.kind === "file" && info.isDirectory) {
      throw new TransferError("conflict", `Cannot write ${entry.path}: a directory is in the way`);
    }
    // A file of the offered size may be the same file: it is hashed and
    // compared with the sender's `check` (claimHeld()).
    if (entry.kind === "file" && !overwrite && info.size !== entry.size) {
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
  const check = await receiveEntries(channel, "check", order.length, "sender", { signal });
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

/** Receives an offer over a channel and writes it under `options.out`. */
export async function receiveFiles(
  channel: Channel,
  options: ReceiveOptions,
): Promise<ReceiveResult> {
  const root = resolve(options.out);
  const overwrite = options.overwrite ?? false;
  // Modes arrive as the sender's; the receiver's umask decides what it grants.
  const umask = processUmask();
  let sink: Sink | undefined;
  const held = new Map<number, Held>();
  let out: OutDir | undefined;
  /** Files kept as partial files outside `sink` and `held`: one that found its name taken. */
  const aside = { files: 0, bytes: 0 };
  const fail = async (error: unknown): Promise<never> => {
    const code = error instanceof TransferError
      ? error.code
      : error instanceof PathError
      ? "bad_path"
      : error instanceof ManifestError
      ? "bad_manifest"
      : "io";
    const kept = { ...aside };
    if (sink?.own) {
      // What was written came in authenticated records at the right
      // offsets; only a digest that failed makes the file suspect.
      const keep = code !== "integrity" && sink.written > 0;
      if (release(out!, sink.path, sink.own, keep)) {
        kept.files++;
        kept.bytes += sink.written;
      }
    }
    // Claimed and never reached: left as they were, for the next receive.
    for (const item of held.values()) {
      if (item.file === null) continue;
      item.file.close();
      kept.files++;
      kept.bytes += item.bytes;
    }
    out?.close();
    if (kept.files > 0) options.onKept?.(kept);
    if (!(error instanceof TransferError && error.code === "peer_error")) {
      const message = error instanceof Error ? error.message : String(error);
      await channel.send(encodeMessage({ type: "error", error: code, message })).catch(() => {});
    }
    if (error instanceof PathError || error instanceof ManifestError) {
      throw new TransferError(code as "bad_path" | "bad_manifest", error.message, { cause: error });
    }
    throw error;
  };

  let manifest: Manifest;
  try {
    manifest = await receiveOffer(channel);
    const free = options.freeBytes ?? freeBytesAt;
    await whileDeciding(channel, () => preflight(root, manifest, overwrite, free, options.signal));
  } catch (error) {
    return await fail(error);
  }

  let accepted: boolean;
  try {
    const confirm = options.confirm ?? (() => true);
    accepted = await whileDeciding(channel, async () => await confirm(manifest));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    await channel.send(encodeMessage({ type: "answer", accept: false, reason })).catch(() => {});
    await channel.close().catch(() => {});
    throw error;
  }
  if (!accepted) {
    await channel.send(encodeMessage({ type: "answer", accept: false, reason: "declined" }));
    await channel.close().catch(() => {});
    throw new TransferError("refused", "Declined; nothing was written");
  }

  let received = 0;
  let resumed = 0;
  let files = 0;
  const entries = manifest.entries;
  let next = 0; // the next manifest index a file may start at
  let owed = 0; // bytes written but not yet granted back as credit
  let grantedAt = performance.now();
  /**
   * Grants credit for written bytes in batches, and at the end of a file
   * once a while has passed without a grant (CREDIT_QUIET_MS).
   */
  const grant = (bytes: number, fileDone: boolean) => {
    owed += bytes;
    const now = performance.now();
    if (owed >= CREDIT_BATCH_BYTES || (fileDone && now - grantedAt >= CREDIT_QUIET_MS)) {
      channel.send(encodeMessage({ type: "credit", bytes: owed })).catch(() => {});
      owed = 0;
      grantedAt = now;
    }
  };
  try {
    const tree = out = openOutDir(root);
    await claimHeld(tree, manifest, held);
    await channel.send(
      encodeMessage({ type: "answer", accept: true, window: WINDOW_BYTES, have: held.size }),
    );
    const order = [...held.values()];
    await sendEntries(channel, "have", order.map(({ index, bytes }) => ({ index, bytes })));
    // Hashed while the sender hashes the same bytes of its files.
    const heldBytes = order.reduce((sum, item) => sum + item.bytes, 0);
    if (heldBytes > 0) options.onCheck?.({ files: order.length, bytes: heldBytes });
    const sums = await keepingAlive(
      channel,
      (signal) =>
        hashPrefixes(
          order.map((item) => ({
            source: item.file
              ? () => item.file!.reader()
              : () => openHeld(tree, entries[item.index]!.path),
            bytes: item.bytes,
          })),
          { signal, onProgress: options.onCheckProgress },
        ),
      { signal: options.signal },
    );
    order.forEach((item, i) => item.sha256 = sums[i]!);
    await readCheck(channel, order, options.signal);
    let resumedFiles = 0;
    for (const item of order) {
      if (item.offset === item.bytes) {
        resumed += item.bytes;
        if (item.bytes > 0) resumedFiles++;
      } else if (item.file === null && !overwrite) {
        // An existing file of the same size with other bytes.
        throw exists(entries[item.index]!.path, root);
      }
    }
    await sendEntries(
      channel,
      "resume",
      order.map(({ index, offset }) => ({ index, offset: offset! })),
    );
    if (resumed > 0) options.onResume?.({ files: resumedFiles, bytes: resumed });
    const total = manifest.bytes - resumed;

    // Every directory on the way is opened without following a link, and
    // created relative to its parent (lib/transfer/_fs.ts).
    tree.makeDirs("");
    const slices = new Slices();
    for (const entry of entries) {
      if (entry.kind !== "dir") continue;
      tree.makeDirs(entry.path);
      if (slices.due()) await slices.turn();
    }

    /**
     * Sets a verified file's mode and moves it to its final name, without
     * clobbering unless `overwrite`; closes it, which releases its lock.
     */
    const put = (own: OwnFile, entry: Manifest["entries"][number]): void => {
      const name = baseOf(entry.path);
      if (Deno.build.os !== "windows") own.chmod(entry.mode & 0o777 & ~umask);
      if (overwrite) {
        tree.replace(entry.path, own, name);
      } else if (!tree.place(entry.path, own, name)) {
        // Kept for the next receive: as a partial file of the whole size, a
        // rerun with --overwrite hashes it instead of receiving it again.
        if (Deno.build.os !== "windows") own.chmod(0o600);
        sink = undefined;
        const kept = release(tree, entry.path, own, true);
        if (kept) {
          aside.files++;
          aside.bytes += entry.size;
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
      own.close();
    };

    const open = (index: number): Sink => {
      const entry = entries[index];
      if (index < next || entry?.kind !== "file") {
        throw new TransferError("protocol", `Unexpected file index ${index}`);
      }
      next = index + 1;
      const digest = new FileDigest();
      const item = held.get(index);
      if (item?.file === null && item.offset === item.bytes) {
        // The existing file is the sender's: nothing to write.
        held.delete(index);
        return { index, path: entry.path, own: null, file: null, digest, written: entry.size };
      }
      if (item?.file) {
        // Until it is open, the partial file stays in `held`, given back on failure.
        const written = item.offset!;
        const file = item.file.file();
        if (written === 0) file.truncateSync(0);
        file.seekSync(written, Deno.SeekMode.Start);
        held.delete(index);
        return { index, path: entry.path, own: item.file, file, digest, written };
      }
      // Written under its partial name, so that a rerun after a crash finds it.
      const own = tree.create(entry.path, partialName(entry.path)) ??
        tree.create(entry.path, tempName());
      if (own === null) {
        throw new TransferError("io", `Cannot write ${entry.path}: no free name to write it under`);
      }
      // Set before the file is opened for Deno, so that a failure there still removes it.
      sink = { index, path: entry.path, own, file: null, digest, written: 0 };
      sink.file = own.file();
      return sink;
    };

    for (;;) {
      const msg: TransferMsg = await receiveMessage(channel, STALL_TIMEOUT_MS, options.signal);
      if (msg.type === "data") {
        if (!sink || sink.index !== msg.index) {
          if (sink) {
            throw new TransferError(
              "protocol",
              `Data for file ${msg.index} before file ${sink.index} ended`,
            );
          }
          sink = open(msg.index);
        }
        const entry = entries[sink.index]!;
        if (!sink.file) {
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
        if (msg.offset + msg.bytes.length > entry.size) {
          const end = msg.offset + msg.bytes.length;
          throw new TransferError(
            "protocol",
            `Data for ${entry.path} runs to byte ${end}, past its size of ${entry.size}`,
          );
        }
        sink.digest.add(channel.receivedTag);
        writeAllSync(sink.file, msg.bytes);
        const length = msg.bytes.length;
        // The record's buffer is spent: nothing else refers to it (the
        // channel keeps a copy of the tag), so the next record may be read
        // into it.
        giveBack(msg.bytes);
        sink.written += length;
        received += length;
        grant(length, sink.written === entry.size);
        options.onProgress?.({ bytes: received, total });
      } else if (msg.type === "file_end") {
        if (!sink) sink = open(msg.index);
        const entry = entries[sink.index]!;
        if (msg.index !== sink.index || sink.written !== entry.size) {
          throw new TransferError(
            "protocol",
            `File ${entry.path} ended at ${sink.written} of ${entry.size} bytes`,
          );
        }
        if (!timingSafeEqual(sink.digest.finish(), msg.digest)) {
          throw new TransferError(
            "integrity",
            `Cannot keep ${entry.path}: its digest does not match the sender's`,
          );
        }
        if (sink.own) put(sink.own, entry);
        sink = undefined;
        files++;
      } else if (msg.type === "done") {
        if (sink || entries.slice(next).some((e) => e.kind === "file")) {
          throw new TransferError("protocol", "The sender finished before sending every file");
        }
        break;
      } else if (msg.type === "error") {
        throw peerError(msg, "sender");
      } else {
        throw new TransferError("protocol", `Unexpected ${msg.type} from the sender`);
      }
    }
    tree.close();
    await channel.send(encodeMessage({ type: "result", files, bytes: received }));
  } catch (error) {
    return await fail(error);
  }
  // Everything is verified and in place; the final record only closes the stream.
  await channel.receive().catch(() => null);
  return { manifest, files, bytes: received, resumed };
}

/** Opens an existing target held whole, to hash it. */
function openHeld(tree: OutDir, path: string): Deno.FsFile {
  const file = tree.openRead(path, baseOf(path));
  if (file === null) throw new Deno.errors.NotFound(`Cannot read ${path}: it is gone or changed`);
  return file;
}
