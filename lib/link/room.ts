/**
 * Messages built where they will be sent. {@linkcode allocateMessage} makes
 * a buffer with room before the message for the frame's length prefix and
 * the record's flag, and after it for the record's tag:
 *
 * ```
 * buffer = length prefix (4) || flag (1) || message || tag (16)
 * ```
 *
 * A connection (lib/connection/_stream.ts) then seals such a message in place, and a
 * framed pipe writes prefix and record in one piece: no second buffer to
 * allocate (and zero), no copy, one socket write per record. Any other
 * message works as well, only with those costs.
 *
 * @module
 */

/**
 * Bytes before the message: the frame's u32 length prefix and a record
 * header of up to 9 bytes (a protocol 2 record's kind and number; a
 * protocol 1 record uses the last byte only, for its flag).
 */
export const ROOM_BEFORE = 13;
/** Bytes after the message: the record's authentication tag. */
export const ROOM_AFTER = 16;
/** Bytes of the frame's length prefix, at the very start of the room. */
const PREFIX_BYTES = 4;

/** Buffers made by {@linkcode allocateMessage}, whose room nobody else uses. */
const roomy = new WeakSet<ArrayBufferLike>();

/**
 * A zeroed message of `bytes` bytes with room around it. Once passed to a
 * channel's `send()`, the buffer belongs to the channel: it is encrypted in
 * place.
 */
export function allocateMessage(bytes: number): Uint8Array<ArrayBuffer> {
  const buffer = new ArrayBuffer(ROOM_BEFORE + bytes + ROOM_AFTER);
  roomy.add(buffer);
  return new Uint8Array(buffer, ROOM_BEFORE, bytes);
}

/**
 * The record `[header | message | tag]` around a message from
 * {@linkcode allocateMessage}, with a header of `headerBytes` (9 for a
 * protocol 2 record, 1 for a protocol 1 one), else `null`.
 */
export function recordAround(message: Uint8Array, headerBytes = 9): Uint8Array | null {
  const buffer = message.buffer;
  if (
    !roomy.has(buffer) || message.byteOffset !== ROOM_BEFORE ||
    ROOM_BEFORE + message.byteLength + ROOM_AFTER !== buffer.byteLength
  ) {
    return null;
  }
  const start = ROOM_BEFORE - headerBytes;
  return new Uint8Array(buffer, start, buffer.byteLength - start);
}

/**
 * `length prefix || frame` as one view, when `frame` is a record sealed in a
 * buffer from {@linkcode allocateMessage} (the prefix is written into its
 * room, just before the record), else `null`.
 */
export function prefixedFrame(frame: Uint8Array): Uint8Array | null {
  const buffer = frame.buffer;
  if (
    !roomy.has(buffer) || frame.byteOffset < PREFIX_BYTES ||
    frame.byteOffset + frame.byteLength !== buffer.byteLength
  ) {
    return null;
  }
  const start = frame.byteOffset - PREFIX_BYTES;
  new DataView(buffer).setUint32(start, frame.byteLength);
  return new Uint8Array(buffer, start, PREFIX_BYTES + frame.byteLength);
}
