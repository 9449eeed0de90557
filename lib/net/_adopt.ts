// Sockets made by hand become node:net sockets here, reading in large
// chunks.

import { Buffer } from "node:buffer";
import { type OnReadOpts, Socket, type SocketConstructorOpts } from "node:net";
import { READ_BUFFER_BYTES } from "./constants.ts";

/**
 * A `node:net` socket over a connected file descriptor, which it then owns,
 * made with `allowHalfOpen: true`, and with `large` reading READ_BUFFER_BYTES
 * at a time. It behaves as any socket does: `'data'` events carry Buffers,
 * pausing and resuming work; but `node:tls` cannot wrap a socket that reads
 * large (the handshake never completes).
 */
export function adoptFd(fd: number, large: boolean): Socket {
  const options: SocketConstructorOpts & { onread?: OnReadOpts } = {
    fd,
    readable: true,
    writable: true,
    allowHalfOpen: true,
  };
  if (large) options.onread = largeReads(() => socket);
  const socket = new Socket(options);
  return socket;
}

/**
 * `onread` options that read into fresh READ_BUFFER_BYTES buffers and push
 * what they read into the socket's own stream, so `'data'` still fires. A
 * buffer holding a large chunk is handed on and never written again; a small
 * chunk is copied out and the buffer is read into again.
 */
export function largeReads(socket: () => Socket): OnReadOpts {
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
