/**
 * RFC 6455 frames as the hardened transport's server side reads and writes
 * them: client frame headers parsed (and checked) before their payload,
 * masks undone a word at a time, unmasked server frame headers.
 *
 * @module
 */

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** A frame's header, parsed. */
export interface FrameHead {
  fin: boolean;
  opcode: number;
  length: number;
  mask: [number, number, number, number];
  bytes: number;
}

/** A client broke the protocol: close with this code. */
export class CloseError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export function parseHead(buf: Uint8Array, start: number, end: number): FrameHead | null {
  if (end - start < 2) return null;
  const b0 = buf[start]!;
  const b1 = buf[start + 1]!;
  if (b0 & 0x70) throw new CloseError(1002, "reserved bits set");
  if (!(b1 & 0x80)) throw new CloseError(1002, "unmasked client frame");
  let length = b1 & 0x7f;
  let at = start + 2;
  if (length === 126) {
    if (end - at < 2) return null;
    length = (buf[at]! << 8) | buf[at + 1]!;
    at += 2;
  } else if (length === 127) {
    if (end - at < 8) return null;
    const view = new DataView(buf.buffer, buf.byteOffset + at, 8);
    length = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
    at += 8;
  }
  if (end - at < 4) return null;
  const mask: FrameHead["mask"] = [buf[at]!, buf[at + 1]!, buf[at + 2]!, buf[at + 3]!];
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, length, mask, bytes: at + 4 - start };
}

/** XORs `data` with the mask in place, a word at a time where the view is aligned. */
export function unmask(data: Uint8Array, mask: FrameHead["mask"]): void {
  let i = 0;
  if ((data.byteOffset & 3) === 0 && data.length >= 16) {
    const [word = 0] = new Int32Array(new Uint8Array(mask).buffer);
    const words = new Int32Array(data.buffer, data.byteOffset, data.length >>> 2);
    for (let w = 0; w < words.length; w++) words[w]! ^= word;
    i = words.length << 2;
  }
  for (; i < data.length; i++) data[i]! ^= mask[i & 3]!;
}

/** Writes an unmasked, final frame header for `length` bytes at the start of `target`. */
export function writeHead(target: Uint8Array, opcode: number, length: number): void {
  target[0] = 0x80 | opcode;
  if (length < 126) {
    target[1] = length;
  } else if (length < 65536) {
    target[1] = 126;
    target[2] = length >> 8;
    target[3] = length & 255;
  } else {
    target[1] = 127;
    const view = new DataView(target.buffer, target.byteOffset + 2, 8);
    view.setUint32(0, Math.floor(length / 2 ** 32));
    view.setUint32(4, length >>> 0);
  }
}

export function headBytes(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}
