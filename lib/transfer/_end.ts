// The check at a file's or a stream's end, the same for lib/transfer's
// receiver and the browser page's (web/page/_receive.ts).

import { timingSafeEqual } from "../crypto/timing_safe_equal.ts";
import type { FileDigest } from "./digest.ts";
import type { ManifestEntry } from "./_manifest_check.ts";
import { TransferError, type TransferMsg } from "./messages.ts";

/** A `file_end` or a `stream_end` message. */
export type EndMsg = Extract<TransferMsg, { type: "file_end" | "stream_end" }>;

/** What arrived of the entry being written. */
export interface Arrived {
  /** Its index in the manifest. */
  index: number;
  /** Bytes written. */
  written: number;
  /** The digest of its records so far. */
  digest: FileDigest;
}

/**
 * Checks that `msg` ends `entry` as it arrived: the end message of its kind,
 * for its index, at its size (a stream's is in `stream_end`), with the
 * sender's digest. Throws `TransferError` (protocol, or integrity) if not.
 */
export function checkEnd(entry: ManifestEntry, msg: EndMsg, arrived: Arrived): void {
  if ((msg.type === "stream_end") !== (entry.kind === "stream")) {
    throw new TransferError(
      "protocol",
      `${entry.path} ended with ${msg.type}: a ${entry.kind} entry ends with ${
        entry.kind === "stream" ? "stream_end" : "file_end"
      }`,
    );
  }
  const size = msg.type === "stream_end" ? msg.size : entry.size;
  if (msg.index !== arrived.index || arrived.written !== size) {
    throw new TransferError(
      "protocol",
      `File ${entry.path} ended at ${arrived.written} of ${size} bytes`,
    );
  }
  if (!timingSafeEqual(arrived.digest.finish(), msg.digest)) {
    throw new TransferError(
      "integrity",
      `Cannot keep ${entry.path}: its digest does not match the sender's`,
    );
  }
}
