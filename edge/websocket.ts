/**
 * The server side of a WebSocket (RFC 6455) over a TCP connection, for the
 * hardened transport (`transport.ts`). Unlike Deno's own, it checks each
 * frame's length at its header, before reading its payload: a client that
 * announces a message over {@linkcode ServerWebSocketOptions.maxMessageBytes}
 * is closed (1009) having cost the server a 4 KiB read buffer, where Deno's
 * WebSocket buffers up to 64 MiB first.
 *
 * Protocol flow:
 * - The transport has answered the upgrade with 101 and hands over the
 *   connection with the bytes read past the request head.
 * - Client frames must be masked and use no extension (1002 otherwise);
 *   text must be UTF-8 (1007); a message, fragmented or not, may not exceed
 *   the limit (1009), counted at each frame's header.
 * - A received binary payload is read into a buffer of its own with room
 *   in front for a frame header, so relaying it to another socket costs one
 *   write and no copy.
 * - Every `idleTimeoutMs` the server pings; a client silent for a whole
 *   period is hung up on. A ping gets one pong at most while one is queued.
 * - `close()` sends a close frame and hangs up once the client's arrives, or
 *   after the grace period; a client's close frame is echoed, then the
 *   server hangs up. Either way `close` fires once.
 *
 * @module
 */

import type { HubSocket, HubSocketEvents } from "./conn.ts";
import {
  CloseError,
  type FrameHead,
  headBytes,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  parseHead,
  unmask,
  writeHead,
} from "./_ws_frames.ts";

/** Bytes left free in front of each received binary payload: the largest frame header fits. */
const ROOM_BYTES = 16;

/** Queued chunks up to this size are merged into one write. */
const MERGE_BYTES = 64 * 1024;

/** Buffers made by the reader, with {@linkcode ROOM_BYTES} free in front of their payload. */
const roomy = new WeakSet<ArrayBufferLike>();

const encoder = new TextEncoder();

/** Options for {@linkcode ServerWebSocket}. */
export interface ServerWebSocketOptions {
  /** Largest message, counted at each frame's header. */
  maxMessageBytes: number;
  /** Ping period; a client that sends nothing for a whole period is hung up on. */
  idleTimeoutMs: number;
  /** Bytes queued to send beyond which the client is hung up on (it does not read). */
  maxBufferedBytes: number;
  /** The read buffer each connection holds while it waits. */
  readBufferBytes: number;
  /** After a close frame is sent, how long to wait for the client's. */
  closeGraceMs: number;
}

/** A WebSocket's server side over an accepted TCP connection. */
export class ServerWebSocket implements HubSocket {
  readonly #conn: Deno.Conn;
  readonly #options: ServerWebSocketOptions;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #initial: Uint8Array;
  #state: "open" | "closing" | "closed" = "open";
  #events?: HubSocketEvents;
  #queue: Uint8Array[] = [];
  #buffered = 0;
  #writing = false;
  /** Hang up once the queue is written. */
  #hangUpWhenFlushed = false;
  /** Refused: once the queue is written, end this side's stream and discard what comes. */
  #draining = false;
  #pongQueued = false;
  #heard = true;
  #pinger?: ReturnType<typeof setInterval>;
  #grace?: ReturnType<typeof setTimeout>;
  /** The message being reassembled from fragments. */
  #fragments: Uint8Array[] = [];
  #fragmentOpcode = 0;
  #fragmentBytes = 0;
  readonly #closed = Promise.withResolvers<void>();

  constructor(conn: Deno.Conn, initial: Uint8Array, options: ServerWebSocketOptions) {
    this.#conn = conn;
    this.#initial = initial;
    this.#options = options;
  }

  get open(): boolean {
    return this.#state === "open";
  }

  get closing(): boolean {
    return this.#state !== "open";
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  /** Resolves once the connection is closed. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  listen(events: HubSocketEvents): void {
    this.#events = events;
    this.#pinger = setInterval(() => this.#ping(), this.#options.idleTimeoutMs);
    queueMicrotask(() => {
      if (this.#state === "open") events.open();
      this.#read();
    });
  }

  send(data: string | Uint8Array): void {
    if (this.#state !== "open") return;
    this.#frame(typeof data === "string" ? OP_TEXT : OP_BINARY, data);
  }

  close(code: number, reason: string): void {
    if (this.#state !== "open") return;
    this.#state = "closing";
    const body = encoder.encode(reason).subarray(0, 123);
    const payload = new Uint8Array(2 + body.length);
    payload[0] = code >> 8;
    payload[1] = code & 255;
    payload.set(body, 2);
    this.#frame(OP_CLOSE, payload);
    this.#grace = setTimeout(() => this.#hangUp(), this.#options.closeGraceMs);
  }

  #frame(opcode: number, data: string | Uint8Array): void {
    const payload = typeof data === "string" ? encoder.encode(data) : data;
    const length = payload.length;
    const head = headBytes(length);
    if (
      roomy.has(payload.buffer) && payload.byteOffset === ROOM_BYTES &&
      payload.buffer.byteLength === ROOM_BYTES + length
    ) {
      const frame = new Uint8Array(payload.buffer, ROOM_BYTES - head, head + length);
      writeHead(frame, opcode, length);
      return this.#enqueue(frame);
    }
    if (length <= MERGE_BYTES) {
      const frame = new Uint8Array(head + length);
      writeHead(frame, opcode, length);
      frame.set(payload, head);
      return this.#enqueue(frame);
    }
    const frameHead = new Uint8Array(head);
    writeHead(frameHead, opcode, length);
    this.#enqueue(frameHead);
    this.#enqueue(payload);
  }

  #enqueue(chunk: Uint8Array): void {
    this.#queue.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered > this.#options.maxBufferedBytes) return this.#hangUp();
    if (!this.#writing) this.#flush();
  }

  /** The next chunk to write: small queued chunks merged into one. */
  #take(): Uint8Array {
    const first = this.#queue.shift()!;
    if (first.length >= MERGE_BYTES || (this.#queue[0]?.length ?? MERGE_BYTES) >= MERGE_BYTES) {
      return first;
    }
    const parts = [first];
    let total = first.length;
    while (this.#queue.length > 0 && total + this.#queue[0]!.length <= MERGE_BYTES) {
      const next = this.#queue.shift()!;
      parts.push(next);
      total += next.length;
    }
    const merged = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      merged.set(part, at);
      at += part.length;
    }
    return merged;
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && this.#state !== "closed") {
        const chunk = this.#take();
        for (let n = 0; n < chunk.length;) n += await this.#conn.write(chunk.subarray(n));
        this.#buffered -= chunk.length;
      }
    } catch {
      return this.#hangUp();
    } finally {
      this.#writing = false;
    }
    if (this.#hangUpWhenFlushed) this.#hangUp();
    else if (this.#draining) this.#conn.closeWrite().catch(() => this.#hangUp());
  }

  #ping(): void {
    if (this.#state !== "open") return;
    if (!this.#heard) return this.#hangUp();
    this.#heard = false;
    this.#frame(OP_PING, new Uint8Array());
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(Math.max(this.#options.readBufferBytes, this.#initial.length));
    buf.set(this.#initial);
    let start = 0;
    let end = this.#initial.length;
    this.#initial = new Uint8Array();
    try {
      while (this.#state !== "closed" && !this.#hangUpWhenFlushed) {
        const head = parseHead(buf, start, end);
        if (head === null) {
          buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
          const n = await this.#conn.read(buf.subarray(end));
          if (n === null) break;
          end += n;
          this.#heard = true;
          continue;
        }
        this.#check(head);
        start += head.bytes;
        const have = end - start;
        let payload: Uint8Array;
        // Text and control frames are used before the next read: a view of the buffer will do.
        const inPlace = head.length <= have && head.opcode !== OP_BINARY &&
          head.opcode !== OP_CONTINUATION && head.fin;
        if (inPlace) {
          payload = buf.subarray(start, start + head.length);
          start += head.length;
        } else {
          const own = new Uint8Array(ROOM_BYTES + head.length);
          roomy.add(own.buffer);
          payload = own.subarray(ROOM_BYTES);
          const take = Math.min(have, head.length);
          payload.set(buf.subarray(start, start + take));
          start += take;
          for (let filled = take; filled < head.length;) {
            const n = await this.#conn.read(payload.subarray(filled));
            if (n === null) throw new CloseError(1002, "connection ended inside a frame");
            filled += n;
            this.#heard = true;
          }
        }
        unmask(payload, head.mask);
        this.#onFrame(head, payload);
        if (start === end) start = end = 0;
      }
    } catch (error) {
      if (!(error instanceof CloseError)) return this.#hangUp();
      // Refused: the close frame, then read on and discard until the client
      // hangs up or the grace period ends, so that the close frame is not lost
      // to a reset (closing with unread bytes sends one).
      this.#fail(error.code, error.message);
      try {
        while (this.#state !== "closed" && await this.#conn.read(buf) !== null) { /* discard */ }
      } catch { /* closed */ }
    }
    if (!this.#hangUpWhenFlushed || this.#draining) this.#hangUp();
  }

  /** Refuses a frame that breaks the protocol or the size limit, before its payload is read. */
  #check(head: FrameHead): void {
    const { opcode, length } = head;
    if (opcode >= 0x8) {
      if (opcode > OP_PONG) throw new CloseError(1002, `unknown opcode ${opcode}`);
      if (!head.fin || length > 125) throw new CloseError(1002, "bad control frame");
      return;
    }
    if (opcode > OP_BINARY) throw new CloseError(1002, `unknown opcode ${opcode}`);
    const continuing = this.#fragmentOpcode !== 0;
    if ((opcode === OP_CONTINUATION) !== continuing) {
      throw new CloseError(1002, continuing ? "expected a continuation" : "stray continuation");
    }
    const max = this.#options.maxMessageBytes;
    if (this.#fragmentBytes + length > max) {
      throw new CloseError(1009, `Message of ${this.#fragmentBytes + length} bytes exceeds ${max}`);
    }
  }

  #onFrame(head: FrameHead, payload: Uint8Array): void {
    switch (head.opcode) {
      case OP_PING:
        if (this.#pongQueued || this.#state !== "open") return;
        this.#pongQueued = true;
        this.#frame(OP_PONG, payload.slice());
        queueMicrotask(() => this.#pongQueued = false);
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        if (payload.length === 1) throw new CloseError(1002, "bad close frame");
        if (this.#state === "open") {
          this.#state = "closing";
          this.#frame(OP_CLOSE, payload.length >= 2 ? payload.slice(0, 2) : payload.slice());
          this.#grace = setTimeout(() => this.#hangUp(), this.#options.closeGraceMs);
        }
        this.#hangUpWhenFlushed = true;
        if (!this.#writing) this.#hangUp();
        return;
      }
    }
    if (!head.fin) {
      if (this.#fragmentOpcode === 0) this.#fragmentOpcode = head.opcode;
      this.#fragments.push(payload);
      this.#fragmentBytes += payload.length;
      return;
    }
    let opcode = head.opcode;
    let message = payload;
    if (opcode === OP_CONTINUATION) {
      opcode = this.#fragmentOpcode;
      const own = new Uint8Array(ROOM_BYTES + this.#fragmentBytes + payload.length);
      roomy.add(own.buffer);
      message = own.subarray(ROOM_BYTES);
      let at = 0;
      for (const part of [...this.#fragments, payload]) {
        message.set(part, at);
        at += part.length;
      }
      this.#fragments = [];
      this.#fragmentOpcode = 0;
      this.#fragmentBytes = 0;
    }
    if (this.#state !== "open") return;
    if (opcode === OP_TEXT) {
      let text: string;
      try {
        text = this.#decoder.decode(message);
      } catch {
        throw new CloseError(1007, "text is not UTF-8");
      }
      this.#events?.text(text);
    } else {
      this.#events?.binary(message);
    }
  }

  /**
   * Closes for a protocol error: a close frame (the hub's own, with its
   * error message, for an oversize one), then this side's end of the stream.
   */
  #fail(code: number, reason: string): void {
    if (code === 1009 && this.#state === "open") this.#events?.oversize(reason);
    this.close(code, reason);
    this.#draining = true;
  }

  #hangUp(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearInterval(this.#pinger);
    clearTimeout(this.#grace);
    this.#queue = [];
    this.#buffered = 0;
    this.#fragments = [];
    try {
      this.#conn.close();
    } catch { /* closed already */ }
    this.#closed.resolve();
    this.#events?.close();
  }
}
