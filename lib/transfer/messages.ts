/**
 * Transfer messages: the messages of a connection (lib/connection/) that
 * carry files. Each is one message of the connection; its first byte is
 * the type. Flow control and liveness are the connection's: no message
 * here grants credit or keeps a side alive.
 *
 * ```
 * 0x01 offer     u8 more | a piece of the manifest JSON (see manifest.ts);
 *                more = 1: another piece follows, 0: this is the last;
 *                every piece but the last holds exactly 1 MiB
 * 0x02 answer    JSON {"accept":true[,"have":K]} | {"accept":false,"reason":"…"}
 * 0x03 data      u32 file index | u64 offset | bytes          (big-endian)
 * 0x04 file_end  u32 file index | 32-byte SHA-256 of the file
 * 0x05           (retired: protocol 1's credit)
 * 0x06 done      (empty) the sender has sent every file
 * 0x07 result    JSON {"ok":true,"files":N,"bytes":N}
 * 0x08 error     JSON {"error":"code","message":"…"}
 * 0x09 have      (u32 file index | u64 bytes)… how much of each file the
 *                receiver holds already (R→S)
 * 0x0a check     (u32 file index | 32-byte SHA-256)… the sender's hash of
 *                as many bytes of each listed file (S→R)
 * 0x0b resume    (u32 file index | u64 offset)… where the sender starts each
 *                listed file: after the held bytes if they match, else 0 (R→S)
 * 0x0c, 0x0d     (retired: protocol 1's hashing and deciding keepalives)
 * 0x0e stream_end u32 file index | u64 length | 32-byte digest: the end
 *                of a stream entry, whose length only the end tells (S→R)
 * ```
 *
 * @module
 */

import { PunchError } from "../errors.ts";
import { allocateMessage } from "../link/room.ts";

/**
 * Bytes of manifest in each offer message but the last, which holds the
 * rest (1 to this many): a 1 MiB record leaves room for it, and a receiver
 * reads at most 64 pieces for the largest manifest.
 */
export const OFFER_PIECE_BYTES = 1024 * 1024;

/** Bytes before the payload of a data message. */
export const DATA_HEADER_BYTES = 13;

/**
 * Most entries in one `have`, `check` or `resume` message: 16384 `check`
 * entries of 36 bytes fill 576 KiB, inside one 1 MiB record. More go in
 * further messages.
 */
export const RESUME_PIECE_ENTRIES = 16384;

/** Bytes of one `have` or `resume` entry: u32 index, u64 bytes or offset. */
export const SPAN_ENTRY_BYTES = 12;

/** Bytes of one `check` entry: u32 index, SHA-256. */
export const CHECK_ENTRY_BYTES = 36;

/** Message type bytes. */
export const MSG = Object.freeze({
  OFFER: 0x01,
  ANSWER: 0x02,
  DATA: 0x03,
  FILE_END: 0x04,
  DONE: 0x06,
  RESULT: 0x07,
  ERROR: 0x08,
  HAVE: 0x09,
  CHECK: 0x0a,
  RESUME: 0x0b,
  STREAM_END: 0x0e,
});

/** Bytes of a `stream_end` message: type, u32 index, u64 length, digest. */
const STREAM_END_BYTES = 45;

/** Error codes of the transfer layer, sent in `error` messages and thrown locally. */
export type TransferErrorCode =
  | "refused"
  | "conflict"
  | "bad_manifest"
  | "bad_path"
  | "protocol"
  | "integrity"
  | "changed"
  | "no_space"
  | "io"
  | "cancelled"
  | "stalled"
  | "peer_error";

/**
 * The transfer failed: a {@linkcode PunchError} whose kind is `code`, with
 * the other side's own code for `peer_error`.
 */
export class TransferError extends PunchError {
  /** The same as `kind`. */
  readonly code: TransferErrorCode;
  /** For `peer_error`: the code the other side's `error` message gave. */
  readonly peerCode: string | undefined;
  constructor(
    code: TransferErrorCode,
    message: string,
    options?: ErrorOptions & { peerCode?: string },
  ) {
    super(code, message, options);
    this.name = "TransferError";
    this.code = code;
    this.peerCode = options?.peerCode;
  }
}

/** How many bytes from the start of a file the receiver holds. */
export interface HaveEntry {
  index: number;
  bytes: number;
}

/** The sender's SHA-256 of as many bytes of its file as the receiver holds. */
export interface CheckEntry {
  index: number;
  sha256: Uint8Array;
}

/** Where the sender starts a listed file: after the held bytes, or at 0. */
export interface ResumeEntry {
  index: number;
  offset: number;
}

/** A decoded transfer message. */
export type TransferMsg =
  | { type: "offer"; more: boolean; piece: Uint8Array }
  | { type: "answer"; accept: true; have?: number }
  | { type: "answer"; accept: false; reason: string }
  | { type: "data"; index: number; offset: number; bytes: Uint8Array }
  | { type: "file_end"; index: number; digest: Uint8Array }
  | { type: "stream_end"; index: number; size: number; digest: Uint8Array }
  | { type: "done" }
  | { type: "result"; files: number; bytes: number }
  | { type: "error"; error: string; message: string }
  | { type: "have"; entries: HaveEntry[] }
  | { type: "check"; entries: CheckEntry[] }
  | { type: "resume"; entries: ResumeEntry[] };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function protocol(message: string): never {
  throw new TransferError("protocol", `Cannot decode transfer message: ${message}`);
}

function withType(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = type;
  out.set(body, 1);
  return out;
}

function jsonBody(bytes: Uint8Array): Record<string, unknown> {
  try {
    const value = JSON.parse(decoder.decode(bytes.subarray(1)));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch { /* reported below */ }
  return protocol("body is not a JSON object");
}

/** Encodes a message other than `data`. */
export function encodeMessage(msg: Exclude<TransferMsg, { type: "data" }>): Uint8Array {
  switch (msg.type) {
    case "offer": {
      const out = new Uint8Array(2 + msg.piece.length);
      out[0] = MSG.OFFER;
      out[1] = msg.more ? 1 : 0;
      out.set(msg.piece, 2);
      return out;
    }
    case "answer":
      return withType(
        MSG.ANSWER,
        encoder.encode(JSON.stringify(
          msg.accept
            ? { accept: true, ...(msg.have ? { have: msg.have } : {}) }
            : { accept: false, reason: msg.reason },
        )),
      );
    case "file_end": {
      const out = new Uint8Array(37);
      out[0] = MSG.FILE_END;
      new DataView(out.buffer).setUint32(1, msg.index);
      out.set(msg.digest, 5);
      return out;
    }
    case "stream_end": {
      const out = new Uint8Array(STREAM_END_BYTES);
      const view = new DataView(out.buffer);
      out[0] = MSG.STREAM_END;
      view.setUint32(1, msg.index);
      view.setBigUint64(5, BigInt(msg.size));
      out.set(msg.digest, 13);
      return out;
    }
    case "done":
      return Uint8Array.of(MSG.DONE);
    case "result":
      return withType(
        MSG.RESULT,
        encoder.encode(JSON.stringify({ ok: true, files: msg.files, bytes: msg.bytes })),
      );
    case "error":
      return withType(
        MSG.ERROR,
        encoder.encode(JSON.stringify({ error: msg.error, message: msg.message.slice(0, 1000) })),
      );
    case "have":
    case "resume":
      return encodeSpans(
        msg.type === "have" ? MSG.HAVE : MSG.RESUME,
        msg.type === "have"
          ? msg.entries.map((e) => [e.index, e.bytes])
          : msg.entries.map((e) => [e.index, e.offset]),
      );
    case "check": {
      const out = new Uint8Array(1 + CHECK_ENTRY_BYTES * msg.entries.length);
      const view = new DataView(out.buffer);
      out[0] = MSG.CHECK;
      msg.entries.forEach((entry, i) => {
        const at = 1 + CHECK_ENTRY_BYTES * i;
        view.setUint32(at, entry.index);
        out.set(entry.sha256, at + 4);
      });
      return out;
    }
  }
}

/** A `have` or `resume` message: `u32 index | u64 number` per entry. */
function encodeSpans(type: number, entries: [number, number][]): Uint8Array {
  const out = new Uint8Array(1 + SPAN_ENTRY_BYTES * entries.length);
  const view = new DataView(out.buffer);
  out[0] = type;
  entries.forEach(([index, number], i) => {
    const at = 1 + SPAN_ENTRY_BYTES * i;
    view.setUint32(at, index);
    view.setBigUint64(at + 4, BigInt(number));
  });
  return out;
}

/** Decodes the entries of a `have` or `resume` message. */
function decodeSpans(bytes: Uint8Array, view: DataView, name: string): [number, number][] {
  const entries: [number, number][] = [];
  for (let i = 0, n = entryCount(bytes, SPAN_ENTRY_BYTES, name); i < n; i++) {
    const at = 1 + SPAN_ENTRY_BYTES * i;
    entries.push([view.getUint32(at), safeNumber(view.getBigUint64(at + 4), `${name} bytes`)]);
  }
  return entries;
}

/** Checks that a `have`, `check` or `resume` body holds 1 to RESUME_PIECE_ENTRIES whole entries. */
function entryCount(bytes: Uint8Array, size: number, name: string): number {
  const body = bytes.length - 1;
  const count = body / size;
  if (body === 0 || body % size !== 0 || count > RESUME_PIECE_ENTRIES) {
    protocol(`${name} must hold 1 to ${RESUME_PIECE_ENTRIES} entries of ${size} bytes`);
  }
  return count;
}

/**
 * Allocates a data message with room for `length` payload bytes and writes
 * its header; the caller fills `buffer.subarray(DATA_HEADER_BYTES)`. The
 * buffer has room for sealing in place ({@linkcode allocateMessage}).
 */
export function allocateData(index: number, offset: number, length: number): Uint8Array {
  const out = allocateMessage(DATA_HEADER_BYTES + length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = MSG.DATA;
  view.setUint32(1, index);
  view.setBigUint64(5, BigInt(offset));
  return out;
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) protocol(`${what} ${value} is too large`);
  return Number(value);
}

/** Decodes one message from a peer; throws `TransferError("protocol")` on garbage. */
export function decodeMessage(bytes: Uint8Array): TransferMsg {
  if (bytes.length === 0) protocol("empty message");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case MSG.OFFER:
      if (bytes.length < 2 || bytes[1]! > 1) protocol("bad offer piece");
      return { type: "offer", more: bytes[1] === 1, piece: bytes.subarray(2) };
    case MSG.ANSWER: {
      const body = jsonBody(bytes);
      if (body.accept === true) {
        const have = body.have ?? 0;
        if (!Number.isSafeInteger(have) || (have as number) < 0) protocol("bad have count");
        return {
          type: "answer",
          accept: true,
          ...(have ? { have: have as number } : {}),
        };
      }
      return { type: "answer", accept: false, reason: String(body.reason ?? "") };
    }
    case MSG.DATA:
      if (bytes.length < DATA_HEADER_BYTES) protocol("short data message");
      return {
        type: "data",
        index: view.getUint32(1),
        offset: safeNumber(view.getBigUint64(5), "offset"),
        bytes: bytes.subarray(DATA_HEADER_BYTES),
      };
    case MSG.FILE_END:
      if (bytes.length !== 37) protocol("file_end must be 37 bytes");
      return { type: "file_end", index: view.getUint32(1), digest: bytes.slice(5) };
    case MSG.STREAM_END:
      if (bytes.length !== STREAM_END_BYTES) {
        protocol(`stream_end must be ${STREAM_END_BYTES} bytes`);
      }
      return {
        type: "stream_end",
        index: view.getUint32(1),
        size: safeNumber(view.getBigUint64(5), "stream length"),
        digest: bytes.slice(13),
      };
    case MSG.DONE:
      if (bytes.length !== 1) protocol("done carries no body");
      return { type: "done" };
    case MSG.RESULT: {
      const body = jsonBody(bytes);
      return { type: "result", files: Number(body.files) || 0, bytes: Number(body.bytes) || 0 };
    }
    case MSG.ERROR: {
      const body = jsonBody(bytes);
      return {
        type: "error",
        error: String(body.error ?? "unknown").slice(0, 64),
        message: String(body.message ?? "").slice(0, 1000),
      };
    }
    case MSG.HAVE:
      return {
        type: "have",
        entries: decodeSpans(bytes, view, "have").map(([index, bytes]) => ({ index, bytes })),
      };
    case MSG.CHECK: {
      const entries: CheckEntry[] = [];
      for (let i = 0, n = entryCount(bytes, CHECK_ENTRY_BYTES, "check"); i < n; i++) {
        const at = 1 + CHECK_ENTRY_BYTES * i;
        entries.push({ index: view.getUint32(at), sha256: bytes.slice(at + 4, at + 36) });
      }
      return { type: "check", entries };
    }
    case MSG.RESUME:
      return {
        type: "resume",
        entries: decodeSpans(bytes, view, "resume").map(([index, offset]) => ({ index, offset })),
      };
    default:
      return protocol(`unknown type 0x${bytes[0]!.toString(16).padStart(2, "0")}`);
  }
}
