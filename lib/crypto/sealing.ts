/**
 * The records of protocol 2: ChaCha20-Poly1305 under one key per direction
 * for the whole connection, every record carrying its own number, so that
 * a message sealed once can travel on any carrier, and again on another
 * when the first one breaks (docs/protocol/connection.md).
 *
 * ```
 * record = kind (1) || number (u64 BE) || ciphertext || tag (16)
 * nonce  = kind || 00 00 00 || number
 * ad     = kind || number                          (message)
 *        = kind || number || carrier (u32 BE)      (control)
 * ```
 *
 * - kind 0x10, a **message**: `number` is its sequence number in this
 *   direction. Not bound to a carrier: resent as sealed, its bytes and tag
 *   are the same on every path.
 * - kind 0x11, a **control** record: `number` is this direction's control
 *   counter, one count across every carrier; bound to the carrier it is
 *   sent on, so that it cannot be moved to another.
 *
 * The kinds never collide, so no nonce is used twice under one key; a
 * message sent again is the same plaintext under the same nonce, which
 * reveals nothing. Version 1 records start with 0x00–0x02, so the two
 * versions cannot be taken for each other.
 *
 * @module
 */

import {
  type Aead,
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  createAead,
} from "./_aead.ts";
import { RECORD_MAX_PLAINTEXT, RecordError } from "./records.ts";

/** The kind byte of a message record. */
export const KIND_MESSAGE = 0x10;
/** The kind byte of a control record. */
export const KIND_CONTROL = 0x11;
/** Bytes before the ciphertext: kind and number. */
export const SEALED_HEADER_BYTES = 9;
/** Bytes a record adds to its plaintext: header and tag. */
export const SEALED_OVERHEAD = SEALED_HEADER_BYTES + AEAD_TAG_BYTES;
/** The longest record: the longest plaintext and the overhead. */
export const SEALED_MAX_BYTES = RECORD_MAX_PLAINTEXT + SEALED_OVERHEAD;

/** A record taken apart: what kind, its number, the plaintext (a view) and the tag. */
export interface OpenedRecord {
  kind: typeof KIND_MESSAGE | typeof KIND_CONTROL;
  number: number;
  plaintext: Uint8Array<ArrayBuffer>;
  tag: Uint8Array;
}

/** Nonce and additional data of one record, in buffers reused by one direction. */
class Framing {
  readonly nonce = new Uint8Array(AEAD_NONCE_BYTES);
  readonly #ad = new Uint8Array(SEALED_HEADER_BYTES + 4);
  readonly #adView = new DataView(this.#ad.buffer);

  /** Fills the nonce and returns the additional data for a record's header. */
  set(header: Uint8Array, carrier: number | null): Uint8Array {
    this.nonce[0] = header[0]!;
    this.nonce.set(header.subarray(1, SEALED_HEADER_BYTES), 4);
    this.#ad.set(header.subarray(0, SEALED_HEADER_BYTES));
    if (carrier === null) return this.#ad.subarray(0, SEALED_HEADER_BYTES);
    this.#adView.setUint32(SEALED_HEADER_BYTES, carrier);
    return this.#ad;
  }
}

function checkKey(key: Uint8Array): Aead {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_BYTES) {
    throw new TypeError(`Cannot use key: expected ${AEAD_KEY_BYTES} bytes`);
  }
  return createAead(new Uint8Array(key));
}

function writeHeader(record: Uint8Array, kind: number, number: number): void {
  if (!Number.isSafeInteger(number) || number < 0) {
    throw new RangeError(`Cannot seal record: number ${number} is out of range`);
  }
  record[0] = kind;
  const view = new DataView(record.buffer, record.byteOffset + 1, 8);
  view.setUint32(0, Math.floor(number / 2 ** 32));
  view.setUint32(4, number >>> 0);
}

/** Seals the records of one direction. */
export class RecordSeal {
  readonly #aead: Aead;
  readonly #framing = new Framing();
  #control = 0;

  /** Takes the 32-byte key of this direction (copied). */
  constructor(key: Uint8Array) {
    this.#aead = checkKey(key);
  }

  /**
   * Seals message `sequence` in place: `record` is the header's 9 bytes of
   * room, the plaintext, and 16 bytes of room for the tag. Returns `record`.
   */
  message(sequence: number, record: Uint8Array): Uint8Array {
    return this.#seal(KIND_MESSAGE, sequence, record, null);
  }

  /** Seals a control record for `carrier` into a new buffer, with the next control number. */
  control(body: Uint8Array, carrier: number): Uint8Array<ArrayBuffer> {
    const record = new Uint8Array(SEALED_OVERHEAD + body.length);
    record.set(body, SEALED_HEADER_BYTES);
    this.#seal(KIND_CONTROL, this.#control++, record, carrier);
    return record;
  }

  #seal(kind: number, number: number, record: Uint8Array, carrier: number | null): Uint8Array {
    const length = record.length - SEALED_OVERHEAD;
    if (length < 0 || length > RECORD_MAX_PLAINTEXT) {
      throw new RangeError(
        `Cannot seal record: plaintext has ${length} bytes, allowed 0 to ${RECORD_MAX_PLAINTEXT}`,
      );
    }
    writeHeader(record, kind, number);
    const ad = this.#framing.set(record, carrier);
    const plaintext = record.subarray(SEALED_HEADER_BYTES, SEALED_HEADER_BYTES + length);
    this.#aead.seal(
      this.#framing.nonce,
      ad,
      plaintext,
      plaintext,
      record.subarray(-AEAD_TAG_BYTES),
    );
    return record;
  }
}

/** Opens the records of one direction, on whichever carrier they come. */
export class RecordUnseal {
  readonly #aead: Aead;
  readonly #framing = new Framing();

  /** Takes the 32-byte key of this direction (copied). */
  constructor(key: Uint8Array) {
    this.#aead = checkKey(key);
  }

  /**
   * Opens a record that came on `carrier`, decrypting it in place: the
   * plaintext is a view of `record`. Order and duplicates are the caller's
   * to judge, by the number.
   *
   * @throws {RecordError} `malformed`, `too_large` or `tampered`.
   */
  open(record: Uint8Array<ArrayBuffer>, carrier: number): OpenedRecord {
    if (record.length < SEALED_OVERHEAD) {
      throw new RecordError("malformed", `Cannot open record: ${record.length} bytes is too short`);
    }
    if (record.length > SEALED_MAX_BYTES) {
      throw new RecordError(
        "too_large",
        `Cannot open record: ${record.length} bytes exceeds ${SEALED_MAX_BYTES}`,
      );
    }
    const kind = record[0]!;
    if (kind !== KIND_MESSAGE && kind !== KIND_CONTROL) {
      throw new RecordError(
        "malformed",
        `Cannot open record: unknown kind 0x${kind.toString(16).padStart(2, "0")}` +
          (kind <= 0x02 ? " (a protocol 1 record)" : ""),
      );
    }
    const view = new DataView(record.buffer, record.byteOffset + 1, 8);
    const number = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
    if (!Number.isSafeInteger(number)) {
      throw new RecordError("malformed", `Cannot open record: number ${number} is out of range`);
    }
    const ad = this.#framing.set(record, kind === KIND_CONTROL ? carrier : null);
    const tag = record.subarray(-AEAD_TAG_BYTES);
    const plaintext = record.subarray(SEALED_HEADER_BYTES, record.length - AEAD_TAG_BYTES);
    if (!this.#aead.open(this.#framing.nonce, ad, plaintext, plaintext, tag)) {
      throw new RecordError(
        "tampered",
        `Cannot open ${kind === KIND_MESSAGE ? "message" : "control record"} ${number}: ` +
          "authentication failed (tampered, or not meant for this carrier)",
      );
    }
    return { kind, number, plaintext, tag };
  }
}
