// The browser's receiving side of a transfer (docs/protocol/transfer.md):
// the same messages, checks and per-file digest as lib/transfer/receive.ts,
// written into a Target (a streamed download, a zip, or a chosen folder)
// instead of a file system. The page never holds a file whole: each data
// message is written (and waits for its reader) before the next is read.

import type { Channel } from "../../lib/link/channel.ts";
import type { Manifest, ManifestEntry } from "../../lib/transfer/_manifest_check.ts";
import { FileDigest } from "../../lib/transfer/digest.ts";
import { encodeMessage, TransferError, type TransferMsg } from "../../lib/transfer/messages.ts";
import { receiveOffer } from "../../lib/transfer/_offer.ts";
import { peerError, type Progress, receiveMessage } from "../../lib/transfer/send.ts";
import { checkEnd, type EndMsg } from "../../lib/transfer/_end.ts";

/** Where received files go. */
export interface Target {
  /** Makes a directory of the offer (its parents come first). */
  directory(entry: ManifestEntry): Promise<void>;
  /** A file's bytes, in order; closed once its digest checked. */
  file(entry: ManifestEntry): Promise<WritableStream<Uint8Array>>;
  /** Everything arrived and checked. */
  close(): Promise<void>;
  /** The transfer failed: nothing may look complete. */
  abort(reason: unknown): Promise<void>;
}

/** Options for {@linkcode receiveInto}. */
export interface ReceiveIntoOptions {
  /** Asked with the checked offer: a Target to accept, `null` to decline. */
  choose(manifest: Manifest): Promise<Target | null>;
  onProgress?: (progress: Progress) => void;
}

/** A file being written: its entry, its writer, its digest so far. */
interface Open {
  index: number;
  entry: ManifestEntry;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  digest: FileDigest;
  written: number;
}

/** The file being written, if any: aborted when the transfer fails. */
interface State {
  open: Open | undefined;
}

/** Receives one offer into the Target chosen for it; resolves once every file is checked. */
export async function receiveInto(
  channel: Channel,
  options: ReceiveIntoOptions,
): Promise<Manifest> {
  const manifest = await receiveOffer(channel);
  const target = await options.choose(manifest);
  if (target === null) {
    await channel.send(encodeMessage({ type: "answer", accept: false, reason: "declined" }));
    throw new TransferError("refused", "Declined; nothing was saved");
  }
  const state: State = { open: undefined };
  try {
    await channel.send(encodeMessage({ type: "answer", accept: true, have: 0 }));
    await receiveData(channel, manifest, target, state, options);
    await target.close();
    await channel.send(
      encodeMessage({ type: "result", files: manifest.files, bytes: manifest.bytes }),
    );
    return manifest;
  } catch (error) {
    // The file's stream first: a download must fail, not wait for more.
    await state.open?.writer.abort(error).catch(() => {});
    await target.abort(error).catch(() => {});
    await tell(channel, error);
    throw error;
  }
}

async function tell(channel: Channel, error: unknown): Promise<void> {
  if (error instanceof TransferError && error.code === "peer_error") return;
  const message = encodeMessage({
    type: "error",
    error: error instanceof TransferError ? error.code : "io",
    message: error instanceof Error ? error.message : String(error),
  });
  await channel.send(message).catch(() => {});
}

/** Reads data, file_end and done, in manifest order, directories made as they come. */
async function receiveData(
  channel: Channel,
  manifest: Manifest,
  target: Target,
  state: State,
  options: ReceiveIntoOptions,
): Promise<void> {
  let next = 0;
  let received = 0;
  /** A stream's length is known only at its end: no total then. */
  const hasStream = manifest.entries.some((entry) => entry.kind === "stream");
  /** Makes the directories before `index`, and opens the file at `index`. */
  const start = async (index: number): Promise<Open> => {
    const entry = manifest.entries[index];
    if (index < next || entry === undefined || entry.kind === "dir") {
      throw new TransferError("protocol", `Unexpected file index ${index}`);
    }
    for (; next < index; next++) {
      const before = manifest.entries[next]!;
      if (before.kind === "dir") await target.directory(before);
      else throw new TransferError("protocol", `File ${before.path} was skipped`);
    }
    next = index + 1;
    const writer = (await target.file(entry)).getWriter();
    return { index, entry, writer, digest: new FileDigest(), written: 0 };
  };
  for (;;) {
    const msg: TransferMsg = await receiveMessage(channel);
    if (msg.type === "data") {
      const open = state.open ??= await start(msg.index);
      write(open, msg);
      open.digest.add(channel.receivedTag);
      await open.writer.write(msg.bytes);
      received += msg.bytes.length;
      options.onProgress?.({ bytes: received, total: hasStream ? undefined : manifest.bytes });
    } else if (msg.type === "file_end" || msg.type === "stream_end") {
      await end(state.open ??= await start(msg.index), msg);
      state.open = undefined;
    } else if (msg.type === "done") {
      if (state.open || manifest.entries.slice(next).some((entry) => entry.kind !== "dir")) {
        throw new TransferError("protocol", "The sender finished before sending every file");
      }
      for (const entry of manifest.entries.slice(next)) await target.directory(entry);
      return;
    } else if (msg.type === "error") {
      throw peerError(msg, "sender");
    } else {
      throw new TransferError("protocol", `Unexpected ${msg.type} from the sender`);
    }
  }
}

/** Checks that a data message continues the open file. */
function write(open: Open, msg: Extract<TransferMsg, { type: "data" }>): void {
  const { entry } = open;
  if (msg.index !== open.index) {
    throw new TransferError("protocol", `Data for file ${msg.index} before ${entry.path} ended`);
  }
  // A stream's length comes at its end (stream_end); a file's and a text's are in the offer.
  const beyond = entry.kind !== "stream" && msg.offset + msg.bytes.length > entry.size;
  if (msg.offset !== open.written || beyond) {
    throw new TransferError("protocol", `Data for ${entry.path} at offset ${msg.offset}`);
  }
  open.written += msg.bytes.length;
}

/** Checks a file's (or stream's) end, then closes it. */
async function end(open: Open, msg: EndMsg): Promise<void> {
  checkEnd(open.entry, msg, open);
  await open.writer.close();
}
