/**
 * Web streams over a `node:net` socket, with backpressure both ways.
 *
 * @module
 */

import type { Socket } from "node:net";
import { PIPE_READ_HIGH_WATER_BYTES } from "./constants.ts";

/** A socket as two Web streams; see {@linkcode socketPipe}. */
export interface SocketPipe {
  /** Bytes from the peer; ends when the peer ends its side. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; `close()` ends this side (half-close), `abort()` destroys. */
  writable: WritableStream<Uint8Array>;
  /** Destroys the socket at once: both streams error if still open. */
  close(): void;
}

/** Options of {@linkcode socketPipe}. */
export interface SocketPipeOptions {
  /**
   * Bytes the readable buffers before the socket is paused.
   *
   * @default {1_048_576}
   */
  readableHighWaterMark?: number;
}

/**
 * Wraps a connected socket as a readable and a writable stream.
 *
 * - Reading: the socket is paused while the readable holds
 *   `readableHighWaterMark` bytes nobody has read, and resumed when the
 *   reader asks for more, so a slow reader slows the sender through TCP.
 * - Writing: a write resolves as soon as the socket has taken the chunk
 *   (its own buffer below its high-water mark), else once it drains. The
 *   socket keeps a reference to each chunk until the kernel has it: do not
 *   modify a chunk after writing it.
 * - Closing the writable ends this direction only (TCP half-close) once
 *   everything written is sent; the readable carries on until the peer ends
 *   its side. For half-close to work both ways, the socket must be made with
 *   `allowHalfOpen: true`, as {@linkcode dialFrom} and
 *   {@linkcode listenReusable} make theirs.
 * - A socket error errors both streams; cancelling the readable or aborting
 *   the writable destroys the socket.
 *
 * Takes over the socket's `'data'`, `'end'` and `'error'` events.
 */
export function socketPipe(socket: Socket, options: SocketPipeOptions = {}): SocketPipe {
  const highWaterMark = options.readableHighWaterMark ?? PIPE_READ_HIGH_WATER_BYTES;
  let failure: Error | undefined;
  let readController!: ReadableStreamDefaultController<Uint8Array>;
  let readOpen = true;
  let writeController!: WritableStreamDefaultController;
  /** The write waiting for 'drain', if any. */
  let drainWait: { resolve: () => void; reject: (error: unknown) => void } | undefined;

  const closeReadable = (error?: Error) => {
    if (!readOpen) return;
    readOpen = false;
    if (error === undefined) readController.close();
    else readController.error(error);
  };
  const fail = (error: Error) => {
    failure ??= error;
    closeReadable(error);
    writeController.error(error);
    drainWait?.reject(error);
    drainWait = undefined;
  };

  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      readController = controller;
    },
    pull() {
      if (socket.isPaused()) socket.resume();
    },
    cancel() {
      readOpen = false;
      socket.destroy();
    },
  }, { highWaterMark, size: (chunk) => chunk.byteLength });

  const writable = new WritableStream<Uint8Array>({
    start(controller) {
      writeController = controller;
    },
    write(chunk) {
      if (failure !== undefined) return Promise.reject(failure);
      if (socket.write(chunk)) return undefined;
      return new Promise<void>((resolve, reject) => {
        drainWait = { resolve, reject };
      });
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        if (failure !== undefined) return reject(failure);
        socket.end(() => (failure === undefined ? resolve() : reject(failure)));
      });
    },
    abort() {
      socket.destroy();
    },
  });

  socket.on("data", (data: Uint8Array) => {
    if (!readOpen) return;
    // A plain Uint8Array over the same bytes: Buffer's slice() shares
    // memory where Uint8Array's copies, and readers expect the latter.
    readController.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if ((readController.desiredSize ?? 0) <= 0) socket.pause();
  });
  socket.on("drain", () => {
    const wait = drainWait;
    drainWait = undefined;
    wait?.resolve();
  });
  socket.on("end", () => closeReadable());
  socket.on("error", fail);
  socket.on("close", () => {
    // Destroyed without an error (by close(), by the other stream, or after
    // the peer's end while allowHalfOpen is off): whatever is still open
    // fails; what has ended cleanly stays so.
    if (failure === undefined) fail(new Error("Socket closed"));
  });

  return {
    readable,
    writable,
    close() {
      socket.destroy();
    },
  };
}
