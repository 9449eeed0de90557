/**
 * The one wire form of a bus message, whatever carries it.
 *
 * A frame is `u32 headerBytes`, the UTF-8 JSON header `[from, message]`, then
 * per `Uint8Array` in the message `u32 length` and its raw bytes (big-endian
 * lengths). In the header each `Uint8Array` stands as `{"$bytes": index}`.
 * A message is JSON (null, booleans, finite numbers, strings, arrays, plain
 * objects) with `Uint8Array` at any depth; anything else is a `TypeError`,
 * so a mistake shows with the in-process bus, not first in production.
 *
 * @module
 */

import { MAX_MESSAGE_BYTES } from "./defaults.ts";

const BYTES_TAG = "$bytes";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function describe(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value !== "object" || value === null) return typeof value;
  return value.constructor?.name ?? "object without prototype";
}

/** Encodes `message` posted by channel `from`; throws TypeError or RangeError. */
export function encodeFrame(message: unknown, from: string): Uint8Array {
  const blobs: Uint8Array[] = [];
  let blobBytes = 0;
  const header = JSON.stringify([from, message], function (key, value: unknown) {
    const raw: unknown = (this as Record<string, unknown>)[key];
    if (raw instanceof Uint8Array) {
      blobs.push(raw);
      blobBytes += 4 + raw.byteLength;
      return { [BYTES_TAG]: blobs.length - 1 };
    }
    if (typeof raw === "number" && !Number.isFinite(raw)) {
      throw new TypeError(`Cannot post message: ${describe(raw)} is not JSON`);
    }
    if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
      const proto = Object.getPrototypeOf(raw);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(
          `Cannot post message: a ${describe(raw)} is neither JSON nor Uint8Array`,
        );
      }
      if (Object.hasOwn(raw, BYTES_TAG)) {
        throw new TypeError(`Cannot post message: the key "${BYTES_TAG}" is reserved`);
      }
    }
    return value;
  });
  const head = encoder.encode(header);
  const total = 4 + head.byteLength + blobBytes;
  if (total > MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `Cannot post message: encoded size ${total} bytes exceeds ${MAX_MESSAGE_BYTES}`,
    );
  }
  const frame = new Uint8Array(total);
  const view = new DataView(frame.buffer);
  view.setUint32(0, head.byteLength);
  frame.set(head, 4);
  let at = 4 + head.byteLength;
  for (const blob of blobs) {
    view.setUint32(at, blob.byteLength);
    frame.set(blob, at + 4);
    at += 4 + blob.byteLength;
  }
  return frame;
}

/** A decoded frame: who posted it and a fresh copy of what. */
export interface Decoded {
  from: string;
  data: unknown;
}

/** Decodes a frame; every `Uint8Array` in the result is a fresh copy. */
export function decodeFrame(frame: Uint8Array): Decoded {
  if (!(frame instanceof Uint8Array) || frame.byteLength < 4) {
    throw new TypeError("Cannot decode bus frame: not a frame");
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const headBytes = view.getUint32(0);
  if (4 + headBytes > frame.byteLength) {
    throw new TypeError(
      `Cannot decode bus frame: header of ${headBytes} bytes exceeds ${frame.byteLength - 4}`,
    );
  }
  const blobs: Uint8Array[] = [];
  for (let at = 4 + headBytes; at < frame.byteLength;) {
    if (at + 4 > frame.byteLength) throw new TypeError("Cannot decode bus frame: truncated");
    const length = view.getUint32(at);
    const start = frame.byteOffset + at + 4;
    if (at + 4 + length > frame.byteLength) {
      throw new TypeError("Cannot decode bus frame: truncated");
    }
    // A plain Uint8Array copy, never a view into the frame (nor a Buffer).
    blobs.push(new Uint8Array(frame.buffer, start, length).slice());
    at += 4 + length;
  }
  const header = decoder.decode(frame.subarray(4, 4 + headBytes));
  const parsed: unknown = JSON.parse(header, (_key, value: unknown) => {
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const index = (value as Record<string, unknown>)[BYTES_TAG];
      if (typeof index === "number") {
        const blob = blobs[index];
        if (!blob) throw new TypeError(`Cannot decode bus frame: no byte string ${index}`);
        return blob;
      }
    }
    return value;
  });
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== "string") {
    throw new TypeError("Cannot decode bus frame: header is not [from, message]");
  }
  return { from: parsed[0], data: parsed[1] };
}
