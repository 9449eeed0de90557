/**
 * A frame pipe: the carrier under a secure channel. Each chunk is one frame,
 * delivered whole and in order (a relay WebSocket message, or a
 * length-prefixed frame on a TCP stream).
 *
 * @module
 */

/** Two streams of whole frames, one each way. */
export interface FramePipe {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/**
 * Two frame pipes joined back to back in memory, for tests: what one writes,
 * the other reads. Like a socket, each direction queues up to `frames`
 * frames before a write waits for the reader.
 */
export function memoryFramePipes(frames = 256): [FramePipe, FramePipe] {
  const queue = () =>
    new TransformStream<Uint8Array, Uint8Array>({}, { highWaterMark: frames }, {
      highWaterMark: 0,
    });
  const ab = queue();
  const ba = queue();
  return [
    { readable: ba.readable, writable: ab.writable },
    { readable: ab.readable, writable: ba.writable },
  ];
}
