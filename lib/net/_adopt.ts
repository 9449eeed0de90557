// Sockets made by hand become node:net sockets here, reading in large
// chunks, or frame by frame.

import { Buffer } from "node:buffer";
import { type OnReadOpts, Socket, type SocketConstructorOpts } from "node:net";
import { FRAME_HEADER_BYTES } from "../link/framing.ts";
import { takeBuffer } from "../memory.ts";
import { READ_BUFFER_BYTES } from "./constants.ts";

/**
 * Reads shaped for a byte stream that carries length-prefixed frames
 * (`u32 big-endian length || frame`) after `skipBytes` bytes of something
 * else, such as a handshake.
 *
 * Each frame is read straight into a buffer of its own, prefix included, and
 * handed on whole as one `'data'` chunk, so the reader can take it without
 * copying. The shaping only chooses where reads go: the chunks carry exactly
 * the stream's bytes, in order, whatever the peer sends.
 */
export interface FrameReads {
  /** Bytes before the first frame, handed on as they are read. */
  skipBytes: number;
  /**
   * The longest frame read whole. A longer declared length is handed on as
   * read, and the socket reads 1 MiB at a time from then on; the reader is
   * the one to refuse it.
   */
  maxFrameBytes: number;
}

/** How a socket reads: `node:net`'s 64 KiB at a time, 1 MiB at a time, or frame by frame. */
export type ReadShape = "small" | "large" | FrameReads;

/**
 * A `node:net` socket over a connected file descriptor, which it then owns,
 * made with `allowHalfOpen: true`, reading as `shape` says. It behaves as
 * any socket does: `'data'` events carry Buffers, pausing and resuming work;
 * but `node:tls` can wrap only a socket that reads `"small"` (over the
 * others the handshake never completes).
 */
export function adoptFd(fd: number, shape: ReadShape): Socket {
  const options: SocketConstructorOpts & { onread?: OnReadOpts } = {
    fd,
    readable: true,
    writable: true,
    allowHalfOpen: true,
  };
  const onread = readOptions(shape, () => socket);
  if (onread !== undefined) options.onread = onread;
  const socket = new Socket(options);
  adopted.set(socket, fd);
  return socket;
}

/** The file descriptor of each socket made by adoptFd(), while the socket is alive. */
const adopted = new WeakMap<Socket, number>();

/** The file descriptor under a socket made by {@linkcode adoptFd}, if it is one. */
export function fdOf(socket: Socket): number | undefined {
  return adopted.get(socket);
}

/** The shape the options `largeReads` (default true) and `frames` ask for. */
export function readShape(largeReads: boolean | undefined, frames?: FrameReads): ReadShape {
  if (largeReads === false) return "small";
  return frames ?? "large";
}

/** The `onread` option for a shape; none for `"small"`. */
export function readOptions(shape: ReadShape, socket: () => Socket): OnReadOpts | undefined {
  if (shape === "small") return undefined;
  if (shape === "large") return largeReads(socket);
  return frameReads(socket, shape);
}

/**
 * `onread` options that read into fresh READ_BUFFER_BYTES buffers and push
 * what they read into the socket's own stream, so `'data'` still fires. A
 * buffer holding a large chunk is handed on and never written again; a small
 * chunk is copied out and the buffer is read into again.
 */
function largeReads(socket: () => Socket): ReadOptions {
  let buffer: Buffer | undefined;
  let handedOn = true;
  return {
    buffer() {
      if (handedOn || buffer === undefined) buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      return buffer;
    },
    callback(bytes: number, read: Uint8Array) {
      handedOn = bytes >= READ_BUFFER_BYTES / 8;
      const view = Buffer.from(read.buffer, read.byteOffset, bytes);
      // Returning false stops reading until the stream wants more.
      return socket().push(handedOn ? view : Buffer.from(view));
    },
  };
}

/** `onread` options whose buffer is always made by a function. */
interface ReadOptions extends OnReadOpts {
  buffer(): Uint8Array;
}

/**
 * `onread` options for {@linkcode FrameReads}: the skipped bytes are read
 * into buffers of just the size still to skip, each length prefix into a
 * 4-byte buffer, and then the frame into a buffer of `4 + length` bytes
 * from {@linkcode takeBuffer} (the reader may give it back when done),
 * pushed once full. A frame begun when the stream ends is pushed as far as
 * it came, so the reader sees the stream end inside it.
 */
function frameReads(socket: () => Socket, layout: FrameReads): ReadOptions {
  let skip = layout.skipBytes;
  const prefix = Buffer.alloc(FRAME_HEADER_BYTES);
  let prefixFill = 0;
  let frame: Buffer | undefined;
  let frameFill = 0;
  /** Set once a declared length is over the limit: plain large reads from then on. */
  let large: ReadOptions | undefined;

  // The stream's end arrives as push(null), past the callback: hand on a
  // partly read frame or prefix first.
  let patched = false;
  const patchEnd = () => {
    if (patched) return;
    patched = true;
    const target = socket();
    const push = target.push.bind(target);
    target.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk === null) {
        const partial = frame !== undefined
          ? frame.subarray(0, frameFill)
          : Buffer.from(prefix.subarray(0, prefixFill));
        frame = undefined;
        prefixFill = 0;
        if (partial.length > 0) push(partial);
      }
      return push(chunk, encoding);
    };
  };

  return {
    buffer() {
      if (large !== undefined) return large.buffer();
      if (skip > 0) return Buffer.allocUnsafe(skip);
      if (frame !== undefined) return frame.subarray(frameFill);
      return prefix.subarray(prefixFill);
    },
    callback(bytes: number, read: Uint8Array) {
      patchEnd();
      if (large !== undefined) return large.callback(bytes, read);
      if (skip > 0) {
        skip -= bytes;
        return socket().push(Buffer.from(read.buffer, read.byteOffset, bytes));
      }
      if (frame !== undefined) {
        frameFill += bytes;
        if (frameFill < frame.length) return true;
        const whole = frame;
        frame = undefined;
        return socket().push(whole);
      }
      prefixFill += bytes;
      if (prefixFill < FRAME_HEADER_BYTES) return true;
      prefixFill = 0;
      const length = prefix.readUInt32BE(0);
      if (length > layout.maxFrameBytes) {
        large = largeReads(socket);
        return socket().push(Buffer.from(prefix));
      }
      const room = takeBuffer(FRAME_HEADER_BYTES + length);
      frame = Buffer.from(room.buffer, room.byteOffset, room.byteLength);
      frame.set(prefix);
      frameFill = FRAME_HEADER_BYTES;
      if (length > 0) return true;
      const empty = frame;
      frame = undefined;
      return socket().push(empty);
    },
  };
}
