/**
 * A raw WebSocket client over node:net for tests and the abuse bench: it
 * dials from a chosen local address (a loopback alias such as 127.0.0.7,
 * which `WebSocket` cannot), writes frames byte by byte as a hostile client
 * would, and reads what the server answers.
 *
 * @module
 */

import { connect, type Socket } from "node:net";
import { Buffer } from "node:buffer";

/** A frame the server sent. */
export interface ServerFrame {
  opcode: number;
  payload: Uint8Array;
}

/** Options for {@linkcode RawWebSocket.open}. */
export interface RawOpenOptions {
  /** The local address to dial from. @default {"127.0.0.1"} */
  localAddress?: string;
  /** The request path. @default {"/v1/ws"} */
  path?: string;
  /** Give up (destroy the socket, reject) after this long. @default {10000} */
  timeoutMs?: number;
  /** More request headers, as a proxy would add. */
  headers?: Record<string, string>;
}

/** Frame header bytes for a masked client frame (mask 00000000: payload sent as is). */
export function clientFrameHead(opcode: number, length: number, fin = true): Uint8Array {
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = new Uint8Array(2 + lengthBytes + 4);
  head[0] = (fin ? 0x80 : 0) | opcode;
  const view = new DataView(head.buffer);
  if (lengthBytes === 0) head[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    head[1] = 0x80 | 126;
    view.setUint16(2, length);
  } else {
    head[1] = 0x80 | 127;
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  return head; // the mask, the last 4 bytes, is zero
}

/** A client frame whose payload is sent as is (zero mask). */
export function clientFrame(opcode: number, payload: Uint8Array | string, fin = true): Uint8Array {
  const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const head = clientFrameHead(opcode, bytes.length, fin);
  const frame = new Uint8Array(head.length + bytes.length);
  frame.set(head);
  frame.set(bytes, head.length);
  return frame;
}

/** One client connection, upgraded or refused. */
export class RawWebSocket {
  readonly socket: Socket;
  /** The status line and headers of the server's answer. */
  readonly status: number;
  #buffer: Buffer;
  #wake?: () => void;
  #ended = false;

  private constructor(socket: Socket, status: number, rest: Buffer) {
    this.socket = socket;
    this.status = status;
    this.#buffer = rest;
    socket.on("data", (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on("end", end).on("close", end).on("error", end);
  }

  /** Connects and sends the upgrade request; resolves with the answer's status. */
  static open(port: number, options: RawOpenOptions = {}): Promise<RawWebSocket> {
    const { promise, resolve, reject } = Promise.withResolvers<RawWebSocket>();
    const socket = connect({
      host: "127.0.0.1",
      port,
      localAddress: options.localAddress ?? "127.0.0.1",
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no answer to the upgrade in time"));
    }, options.timeoutMs ?? 10_000);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      clearTimeout(timer);
      socket.off("data", onData);
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head.subarray(0, end).toString())?.[1]);
      resolve(new RawWebSocket(socket, status, head.subarray(end + 4)));
    };
    socket.on("data", onData);
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once("close", () => {
      clearTimeout(timer);
      reject(new Error("closed before an answer"));
    });
    socket.once("connect", () =>
      socket.write(
        `GET ${options.path ?? "/v1/ws"} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n` +
          "upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n" +
          "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("") +
          "\r\n",
      ));
    return promise;
  }

  /** Writes bytes; resolves once they are handed to the kernel (false if the socket broke). */
  write(bytes: Uint8Array): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve(false);
      this.socket.write(bytes, (error) => resolve(!error));
    });
  }

  /** Sends a text message (a JSON value unless a string). */
  sendText(message: unknown): Promise<boolean> {
    const text = typeof message === "string" ? message : JSON.stringify(message);
    return this.write(clientFrame(0x1, text));
  }

  /** The next frame from the server, or null once the connection ended. */
  async next(): Promise<ServerFrame | null> {
    for (;;) {
      const frame = this.#parse();
      if (frame) return frame;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** The next text message, parsed as JSON, skipping other frames; null once ended. */
  async nextJson(): Promise<Record<string, unknown> | null> {
    for (;;) {
      const frame = await this.next();
      if (frame === null) return null;
      if (frame.opcode === 0x1) return JSON.parse(new TextDecoder().decode(frame.payload));
    }
  }

  /** Resolves once the connection has ended. */
  async ended(): Promise<void> {
    while (!this.#ended) await new Promise<void>((resolve) => this.#wake = resolve);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #parse(): ServerFrame | null {
    const b = this.#buffer;
    if (b.length < 2) return null;
    let length = b[1]! & 0x7f;
    let at = 2;
    if (length === 126) {
      if (b.length < 4) return null;
      length = b.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      if (b.length < 10) return null;
      length = Number(b.readBigUInt64BE(2));
      at = 10;
    }
    if (b.length < at + length) return null;
    const frame = { opcode: b[0]! & 0x0f, payload: new Uint8Array(b.subarray(at, at + length)) };
    this.#buffer = b.subarray(at + length);
    return frame;
  }
}

/**
 * Opens a TCP connection from `localAddress` that says nothing; resolves once
 * connected, with what the server sends gathered in `received` and
 * `ended` set when it hangs up.
 */
export function openIdle(port: number, localAddress = "127.0.0.1"): Promise<IdleConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    const idle: IdleConnection = { socket, received: "", ended: false };
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => idle.received += text);
    socket.on("close", () => idle.ended = true);
    socket.once("error", (error) => {
      idle.ended = true;
      reject(error);
    });
    socket.once("connect", () => resolve(idle));
  });
}

/** A connection opened by {@linkcode openIdle}. */
export interface IdleConnection {
  socket: Socket;
  received: string;
  ended: boolean;
}
