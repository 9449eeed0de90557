/**
 * The record layer: a stream of ChaCha20-Poly1305 records
 * ([RFC 8439](https://www.rfc-editor.org/rfc/rfc8439)), one key per direction.
 *
 * A frame is `flag (1 byte) || ChaCha20-Poly1305(plaintext) || tag (16 bytes)`.
 * Flag 0x00 is a data record, 0x01 the final record (empty plaintext), 0x02
 * the final record of a stream that moves to another carrier (empty). The
 * flag byte is the additional data; the nonce is 4 zero bytes followed by
 * the record's sequence number as u64 big-endian, from 0 per direction. A
 * reordered, dropped, replayed or altered record fails authentication, and a
 * stream cut short lacks its final record.
 *
 * Sealing and opening are synchronous, on the calling thread (WebCrypto's
 * thread-pool handoff cost more CPU than the cipher itself), through
 * OpenSSL's libcrypto where it loads and node:crypto elsewhere
 * (`_aead.ts`). Opening decrypts in place.
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

/** Largest plaintext of one record: 1 MiB of file data plus 1 KiB of headers. */
export const RECORD_MAX_PLAINTEXT = 1_049_600;
/** Bytes a frame adds to its plaintext: the flag byte and the 16-byte tag. */
export const RECORD_OVERHEAD = 17;
/** Bytes of the Poly1305 tag that ends every frame. */
export const RECORD_TAG_BYTES = AEAD_TAG_BYTES;

/** Why a record stream was rejected; see {@linkcode RecordError}. */
export type RecordErrorCode = "tampered" | "truncated" | "after_final" | "too_large" | "malformed";

/**
 * Thrown when a record stream cannot be trusted any more:
 * - `tampered`: a record failed authentication (altered, reordered, dropped,
 *   replayed, flag flipped, or the wrong key);
 * - `truncated`: the stream ended without its final record;
 * - `after_final`: a record came (or was sealed) after the final record;
 * - `too_large`: a frame is longer than the largest record;
 * - `malformed`: a frame is too short or has an unknown flag.
 */
export class RecordError extends Error {
  /** Which condition was met. */
  readonly code: RecordErrorCode;

  /** Constructs a new instance. */
  constructor(code: RecordErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RecordError";
    this.code = code;
  }
}

const FLAG_DATA = 0x00;
const FLAG_FINAL = 0x01;
const FLAG_MOVED = 0x02;
const ADDITIONAL_DATA = [
  new Uint8Array([FLAG_DATA]),
  new Uint8Array([FLAG_FINAL]),
  new Uint8Array([FLAG_MOVED]),
] as const;

/**
 * How a record stream ended: `end`, the sender is done; `moved`, the stream
 * goes on over another carrier (with other keys), at this record boundary.
 */
export type RecordStreamEnding = "end" | "moved";
const EMPTY = new Uint8Array();

/**
 * Seals the records of one direction, numbering them in call order.
 *
 * @example Usage
 * ```ts
 * import { RecordOpener, RecordSealer } from "./records.ts";
 *
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const sealer = new RecordSealer(key);
 * const opener = new RecordOpener(key);
 * opener.open(sealer.seal(new Uint8Array([1]))); // Uint8Array [1]
 * opener.open(sealer.sealFinal()); // null
 * opener.end();
 * ```
 */
export class RecordSealer {
  #aead: Aead;
  #nonce = new Nonce();
  #sequence = 0;
  #finished = false;

  /** Takes the 32-byte ChaCha20-Poly1305 key of this direction (copied). */
  constructor(key: Uint8Array) {
    this.#aead = createAead(checkKey(key));
  }

  /**
   * Seals a data record of at most {@linkcode RECORD_MAX_PLAINTEXT} bytes.
   * The frame is a new buffer that shares nothing with `plaintext`.
   */
  seal(plaintext: Uint8Array): Uint8Array<ArrayBuffer> {
    if (!(plaintext instanceof Uint8Array)) {
      throw new TypeError("Cannot seal record: plaintext must be a Uint8Array");
    }
    checkPlaintextLength(plaintext.length);
    return this.#seal(FLAG_DATA, plaintext);
  }

  /**
   * Seals a data record in place: `record` is `flag || plaintext || 16
   * bytes of room for the tag`, and becomes the frame (the flag and tag are
   * written, the plaintext is encrypted where it lies). Returns `record`.
   */
  sealInPlace(record: Uint8Array): Uint8Array {
    if (!(record instanceof Uint8Array) || record.length < RECORD_OVERHEAD) {
      throw new TypeError(
        `Cannot seal record: expected at least ${RECORD_OVERHEAD} bytes of flag, plaintext and tag room`,
      );
    }
    const length = record.length - RECORD_OVERHEAD;
    checkPlaintextLength(length);
    const plaintext = record.subarray(1, 1 + length);
    this.#seal(FLAG_DATA, plaintext, record);
    return record;
  }

  /**
   * Seals the final record, after which nothing more can be sealed: flag
   * 0x01 for `end`, 0x02 for `moved` (the stream continues elsewhere).
   */
  sealFinal(ending: RecordStreamEnding = "end"): Uint8Array<ArrayBuffer> {
    return this.#seal(ending === "moved" ? FLAG_MOVED : FLAG_FINAL, EMPTY);
  }

  /** Seals into `frame` (a new one if not given), which may hold the plaintext in place. */
  #seal(flag: 0 | 1 | 2, plaintext: Uint8Array): Uint8Array<ArrayBuffer>;
  #seal(flag: 0 | 1 | 2, plaintext: Uint8Array, frame: Uint8Array): Uint8Array;
  #seal(
    flag: 0 | 1 | 2,
    plaintext: Uint8Array,
    frame: Uint8Array = new Uint8Array(1 + plaintext.length + RECORD_TAG_BYTES),
  ): Uint8Array {
    const sequence = this.#sequence++;
    if (this.#finished) {
      throw new RecordError(
        "after_final",
        `Cannot seal record ${sequence}: the final record was already sealed`,
      );
    }
    if (flag !== FLAG_DATA) this.#finished = true;
    const length = plaintext.length;
    frame[0] = flag;
    this.#aead.seal(
      this.#nonce.of(sequence),
      ADDITIONAL_DATA[flag],
      plaintext,
      frame.subarray(1, 1 + length),
      frame.subarray(1 + length),
    );
    return frame;
  }
}

/**
 * Opens the records of one direction, checking order and completeness:
 * frames must be passed in arrival order. After any error the opener
 * refuses every later frame.
 */
export class RecordOpener {
  #aead: Aead;
  #nonce = new Nonce();
  #sequence = 0;
  #finished = false;
  #ending: RecordStreamEnding | undefined;
  #failure: RecordErrorCode | undefined;

  /** Takes the 32-byte ChaCha20-Poly1305 key of this direction (copied). */
  constructor(key: Uint8Array) {
    this.#aead = createAead(checkKey(key));
  }

  /** Whether the final record has been opened. */
  get finished(): boolean {
    return this.#finished;
  }

  /** How the stream ended, once the final record has been opened. */
  get ending(): RecordStreamEnding | undefined {
    return this.#ending;
  }

  /**
   * Opens one frame: its plaintext, or `null` for the final record. The
   * frame is decrypted in place: the plaintext is a view of `frame`'s
   * memory, and after a rejected frame that memory holds garbage.
   *
   * @throws {RecordError} if the frame is rejected.
   */
  open(frame: Uint8Array): Uint8Array<ArrayBuffer> | null {
    if (!(frame instanceof Uint8Array)) {
      throw new TypeError("Cannot open record: frame must be a Uint8Array");
    }
    const sequence = this.#sequence++;
    try {
      return this.#open(sequence, frame);
    } catch (error) {
      if (error instanceof RecordError) this.#failure ??= error.code;
      throw error;
    }
  }

  /**
   * Declares the stream over.
   *
   * @throws {RecordError} with code `truncated` if the final record was not opened.
   */
  end(): void {
    if (!this.#finished) {
      throw new RecordError(
        "truncated",
        `Cannot end record stream: it stopped after ${this.#sequence} records without the final record`,
      );
    }
  }

  #open(sequence: number, frame: Uint8Array): Uint8Array<ArrayBuffer> | null {
    const fail = (code: RecordErrorCode, detail: string, cause?: unknown): never => {
      const options = cause === undefined ? undefined : { cause };
      throw new RecordError(code, `Cannot open record ${sequence}: ${detail}`, options);
    };
    if (this.#failure !== undefined) fail(this.#failure, "an earlier record was rejected");
    if (this.#finished) fail("after_final", "it comes after the final record");
    if (frame.length > RECORD_MAX_PLAINTEXT + RECORD_OVERHEAD) {
      fail(
        "too_large",
        `frame has ${frame.length} bytes, the maximum is ${RECORD_MAX_PLAINTEXT + RECORD_OVERHEAD}`,
      );
    }
    if (frame.length < RECORD_OVERHEAD) {
      fail("malformed", `frame has ${frame.length} bytes, the minimum is ${RECORD_OVERHEAD}`);
    }
    const flag = frame[0];
    if (flag !== FLAG_DATA && flag !== FLAG_FINAL && flag !== FLAG_MOVED) {
      fail("malformed", `unknown flag 0x${flag!.toString(16).padStart(2, "0")}`);
    }
    const tagStart = frame.length - RECORD_TAG_BYTES;
    const plaintext = frame.subarray(1, tagStart) as Uint8Array<ArrayBuffer>;
    const authentic = this.#aead.open(
      this.#nonce.of(sequence),
      ADDITIONAL_DATA[flag as 0 | 1 | 2],
      plaintext,
      plaintext,
      frame.subarray(tagStart),
    );
    if (!authentic) fail("tampered", "authentication failed (tampered, reordered or wrong key)");
    if (flag === FLAG_DATA) return plaintext;
    if (plaintext.length !== 0) fail("malformed", "the final record is not empty");
    this.#finished = true;
    this.#ending = flag === FLAG_MOVED ? "moved" : "end";
    return null;
  }
}

/** The 12-byte nonce of a record, in a buffer reused for every record of one direction. */
class Nonce {
  #bytes = new Uint8Array(AEAD_NONCE_BYTES);
  #view = new DataView(this.#bytes.buffer);

  /** `00 00 00 00 || u64 BE sequence`; valid until the next call. */
  of(sequence: number): Uint8Array<ArrayBuffer> {
    if (sequence > Number.MAX_SAFE_INTEGER) {
      throw new RangeError("Cannot use record sequence number: the stream is too long");
    }
    this.#view.setUint32(4, Math.floor(sequence / 2 ** 32));
    this.#view.setUint32(8, sequence >>> 0);
    return this.#bytes;
  }
}

function checkPlaintextLength(length: number): void {
  if (length > RECORD_MAX_PLAINTEXT) {
    throw new RangeError(
      `Cannot seal record: plaintext has ${length} bytes, the maximum is ${RECORD_MAX_PLAINTEXT}`,
    );
  }
}

function checkKey(key: Uint8Array): Uint8Array<ArrayBuffer> {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_BYTES) {
    throw new TypeError(
      `Cannot use key: expected ${AEAD_KEY_BYTES} bytes of ChaCha20-Poly1305 key`,
    );
  }
  return new Uint8Array(key);
}
