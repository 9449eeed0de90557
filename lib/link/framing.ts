/**
 * Length-prefixed framing: whole frames over a carrier that moves chunks of
 * bytes (a stream socket, or WebSocket messages smaller than a frame).
 *
 * ```
 * frame on the wire = u32 big-endian length || frame bytes
 * ```
 *
 * The writer cuts the stream into chunks of at most `chunkBytes`; the reader
 * accepts any chunking and refuses a declared length over its limit before
 * allocating anything.
 *
 * @module
 */

import { takeBuffer } from "../memory.ts";
import type { FramePipe } from "./frames.ts";
import { prefixedFrame } from "./room.ts";

/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;

/** A peer declared a frame longer than allowed. */
export class FramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FramingError";
  }
}

/** Cuts one frame into wire chunks of at most `chunkBytes`, the first carrying the length. */
export function splitFrame(frame: Uint8Array, chunkBytes: number): Uint8Array[] {
  const firstPayload = Math.min(frame.length, chunkBytes - FRAME_HEADER_BYTES);
  const prefixed = prefixedFrame(frame);
  let first: Uint8Array;
  if (prefixed === null) {
    first = new Uint8Array(FRAME_HEADER_BYTES + firstPayload);
    new DataView(first.buffer).setUint32(0, frame.length);
    first.set(frame.subarray(0, firstPayload), FRAME_HEADER_BYTES);
  } else {
    first = prefixed.subarray(0, FRAME_HEADER_BYTES + firstPayload);
  }
  const chunks: Uint8Array[] = [first];
  for (let at = firstPayload; at < frame.length; at += chunkBytes) {
    chunks.push(frame.subarray(at, at + chunkBytes));
  }
  return chunks;
}

/** Reassembles frames from wire chunks of any size. */
export class FrameReassembler {
  readonly #maxFrameBytes: number;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #frame: Uint8Array | undefined;
  #frameFill = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Whether a frame is partly received. */
  get partial(): boolean {
    return this.#headerFill > 0 || this.#frame !== undefined;
  }

  /**
   * Takes one chunk; returns the frames it completed. A frame that lies
   * whole in the chunk is returned as a view of it, not a copy: the caller
   * must not write into a chunk once it has pushed it. Other frames are
   * assembled in buffers from {@linkcode takeBuffer}, which their last
   * reader may give back.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const done: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#frame === undefined && this.#headerFill === 0) {
        const whole = this.#wholeFrameAt(chunk, at);
        if (whole !== null) {
          done.push(whole);
          at += FRAME_HEADER_BYTES + whole.length;
          continue;
        }
      }
      if (this.#frame === undefined) {
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length - at);
        this.#header.set(chunk.subarray(at, at + take), this.#headerFill);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < FRAME_HEADER_BYTES) break;
        const length = new DataView(this.#header.buffer).getUint32(0);
        if (length > this.#maxFrameBytes) {
          throw new FramingError(
            `Cannot read frame: declared length ${length} exceeds ${this.#maxFrameBytes}`,
          );
        }
        this.#headerFill = 0;
        this.#frame = takeBuffer(length);
        this.#frameFill = 0;
      }
      const take = Math.min(this.#frame.length - this.#frameFill, chunk.length - at);
      this.#frame.set(chunk.subarray(at, at + take), this.#frameFill);
      this.#frameFill += take;
      at += take;
      if (this.#frameFill === this.#frame.length) {
        done.push(this.#frame);
        this.#frame = undefined;
      }
    }
    return done;
  }

  /** The frame that starts at `at` if the chunk holds all of it. */
  #wholeFrameAt(chunk: Uint8Array, at: number): Uint8Array | null {
    if (chunk.length - at < FRAME_HEADER_BYTES) return null;
    const length = new DataView(chunk.buffer, chunk.byteOffset + at, FRAME_HEADER_BYTES)
      .getUint32(0);
    if (length > this.#maxFrameBytes) return null;
    const start = at + FRAME_HEADER_BYTES;
    if (chunk.length - start < length) return null;
    return chunk.subarray(start, start + length);
  }
}

/** A byte stream both ways, such as a TCP socket's. */
export interface BytePipe {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/**
 * Frames over a byte stream: each frame is written as `u32 length || frame`
 * and read back whole. A stream that ends inside a frame errors.
 */
export function framedPipe(bytes: BytePipe, maxFrameBytes: number): FramePipe {
  const reassembler = new FrameReassembler(maxFrameBytes);
  const source = bytes.readable.getReader();
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const { value, done } = await source.read();
        if (done) {
          if (reassembler.partial) {
            controller.error(new FramingError("Cannot read frame: stream ended inside a frame"));
          } else controller.close();
          return;
        }
        const frames = reassembler.push(value);
        for (const frame of frames) controller.enqueue(frame);
        if (frames.length > 0) return;
      }
    },
    cancel: (reason) => source.cancel(reason),
  }, { highWaterMark: 2 });
  const writer = bytes.writable.getWriter();
  const writable = new WritableStream<Uint8Array>({
    async write(frame) {
      const prefixed = prefixedFrame(frame);
      if (prefixed !== null) return await writer.write(prefixed);
      const header = new Uint8Array(FRAME_HEADER_BYTES);
      new DataView(header.buffer).setUint32(0, frame.length);
      await writer.write(header);
      await writer.write(frame);
    },
    close: () => writer.close(),
    abort: (reason) => writer.abort(reason),
  });
  return { readable, writable };
}
