/**
 * A small Redis client: RESP2 over `Deno.connect` (or `connectTls` for
 * `rediss://`), pipelined, with reconnection. Enough for the bus — PUBLISH,
 * SUBSCRIBE, EVAL, GET — at a fraction of the memory of a full client (the
 * npm one, with Node compatibility, added ~45 MB to each rendezvous).
 *
 * Protocol flow:
 * - `connect()` dials, sends AUTH and SELECT from the URL, and resolves.
 * - `command()` writes at once (writes of one tick leave as one) and
 *   resolves with the reply; replies come back in order.
 * - On a subscribed connection, `message` pushes go to `onPush` instead.
 * - If the connection drops, pending commands fail, new ones fail at once,
 *   and it redials with back-off; `onReconnect` then runs (to resubscribe).
 *
 * @module
 */

import { concatBytes } from "@noble/hashes/utils.js";
import { REDIS_CONNECT_TIMEOUT_MS, REDIS_RECONNECT_MAX_MS } from "./defaults.ts";

/** A reply: strings and bulk strings as bytes, integers, arrays, null. */
export type RespValue = Uint8Array | number | null | RespValue[];

/** A `-ERR …` reply. */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

/** Options for {@linkcode RespConnection.connect}. */
export interface RespOptions {
  /** Called with each `message` push of a subscribed connection. */
  onPush?: (channel: Uint8Array, payload: Uint8Array) => void;
  /** Called after a reconnection (not the first connection). */
  onReconnect?: () => void;
  /** Called once per outage. */
  onError: (error: unknown) => void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF = encoder.encode("\r\n");
const MESSAGE = "message";

/** Decodes bytes (or a number) from a reply as text. */
export function text(value: RespValue): string {
  if (value instanceof Uint8Array) return decoder.decode(value);
  return value === null ? "" : String(value);
}

function encodeCommand(args: (string | Uint8Array)[]): Uint8Array[] {
  const parts: Uint8Array[] = [encoder.encode(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === "string" ? encoder.encode(arg) : arg;
    parts.push(encoder.encode(`$${bytes.byteLength}\r\n`), bytes, CRLF);
  }
  return parts;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.byteLength;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Incremental RESP2 reader over a growing buffer. */
class Parser {
  #buffer = new Uint8Array(0);
  #at = 0;

  push(chunk: Uint8Array): void {
    const rest = this.#buffer.subarray(this.#at);
    const merged = new Uint8Array(rest.byteLength + chunk.byteLength);
    merged.set(rest);
    merged.set(chunk, rest.byteLength);
    this.#buffer = merged;
    this.#at = 0;
  }

  /** The next complete reply, or undefined if more bytes are needed. */
  next(): RespValue | RespError | undefined {
    const start = this.#at;
    const value = this.#value();
    if (value === undefined) this.#at = start;
    return value;
  }

  #line(): string | undefined {
    const end = this.#buffer.indexOf(13, this.#at);
    if (end < 0 || end + 1 >= this.#buffer.byteLength) return undefined;
    const line = decoder.decode(this.#buffer.subarray(this.#at, end));
    this.#at = end + 2;
    return line;
  }

  #value(): RespValue | RespError | undefined {
    if (this.#at >= this.#buffer.byteLength) return undefined;
    const type = this.#buffer[this.#at++];
    const line = this.#line();
    if (line === undefined) return undefined;
    switch (type) {
      case 43: // +
        return encoder.encode(line);
      case 45: // -
        return new RespError(line);
      case 58: // :
        return Number(line);
      case 36: { // $
        const length = Number(line);
        if (length < 0) return null;
        if (this.#at + length + 2 > this.#buffer.byteLength) return undefined;
        const bytes = this.#buffer.slice(this.#at, this.#at + length);
        this.#at += length + 2;
        return bytes;
      }
      case 42: { // *
        const count = Number(line);
        if (count < 0) return null;
        const items: RespValue[] = [];
        for (let i = 0; i < count; i++) {
          const item = this.#value();
          if (item === undefined) return undefined;
          if (item instanceof RespError) throw item;
          items.push(item);
        }
        return items;
      }
      default:
        throw new RespError(`Cannot parse a reply starting with byte ${type}`);
    }
  }
}

interface Pending {
  resolve: (value: RespValue) => void;
  reject: (error: unknown) => void;
}

/** One connection to Redis that redials when dropped. */
export class RespConnection {
  readonly #url: URL;
  readonly #options: RespOptions;
  #conn: Deno.Conn | undefined;
  #pending: Pending[] = [];
  #queued: Uint8Array[] = [];
  #closed = false;
  #ready = false;
  #writing = false;
  #reported = false;

  private constructor(url: URL, options: RespOptions) {
    this.#url = url;
    this.#options = options;
  }

  /** Dials `url` (`redis://` or `rediss://`, with user, password and /db). */
  static async connect(url: string, options: RespOptions): Promise<RespConnection> {
    const connection = new RespConnection(new URL(url), options);
    await connection.#dial();
    return connection;
  }

  /** Whether commands can be sent now. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Sends a command; rejects at once while disconnected. */
  command(...args: (string | Uint8Array)[]): Promise<RespValue> {
    if (!this.#ready) {
      return Promise.reject(new Error("Cannot send a Redis command: not connected"));
    }
    return this.#send(args);
  }

  /** Closes the connection; pending commands fail. */
  close(): void {
    this.#closed = true;
    this.#drop(new Error("Redis connection closed"));
  }

  #send(args: (string | Uint8Array)[]): Promise<RespValue> {
    const { promise, resolve, reject } = Promise.withResolvers<RespValue>();
    this.#pending.push({ resolve, reject });
    if (this.#queued.length === 0) queueMicrotask(() => this.#flush());
    this.#queued.push(...encodeCommand(args));
    return promise;
  }

  /** Writes queued commands, one write at a time, until the queue is empty. */
  async #flush(): Promise<void> {
    if (this.#writing) return; // the running flush takes what was queued meanwhile
    this.#writing = true;
    try {
      for (;;) {
        const parts = this.#queued;
        this.#queued = [];
        const conn = this.#conn;
        if (!conn || parts.length === 0) return;
        try {
          await writeAll(conn, concatBytes(...parts));
        } catch (error) {
          if (this.#conn === conn) this.#lost(conn, error);
          return;
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  async #dial(): Promise<void> {
    const url = this.#url;
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || 6379);
    let conn: Deno.Conn;
    if (url.protocol === "rediss:") {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let timedOut = false;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new Error(`Connection timed out after ${REDIS_CONNECT_TIMEOUT_MS} ms`));
        }, REDIS_CONNECT_TIMEOUT_MS);
      });
      const dialing = Deno.connectTls({ hostname, port });
      dialing.then((late) => timedOut && late.close(), () => {});
      try {
        conn = await Promise.race([dialing, timeout]);
      } finally {
        clearTimeout(timer);
      }
    } else {
      const tcp = await Deno.connect({
        hostname,
        port,
        signal: AbortSignal.timeout(REDIS_CONNECT_TIMEOUT_MS),
      });
      tcp.setNoDelay(true);
      conn = tcp;
    }
    this.#conn = conn;
    this.#read(conn);
    try {
      const user = decodeURIComponent(url.username);
      const password = decodeURIComponent(url.password);
      if (password) await this.#send(user ? ["AUTH", user, password] : ["AUTH", password]);
      const db = url.pathname.slice(1);
      if (db) await this.#send(["SELECT", db]);
    } catch (error) {
      this.#drop(error);
      throw error;
    }
    this.#ready = true;
    this.#reported = false;
  }

  async #read(conn: Deno.Conn): Promise<void> {
    const parser = new Parser();
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error("Redis closed the connection");
        parser.push(buffer.subarray(0, n));
        for (let reply = parser.next(); reply !== undefined; reply = parser.next()) {
          this.#onReply(reply);
        }
      }
    } catch (error) {
      if (this.#conn === conn) this.#lost(conn, error);
    }
  }

  #onReply(reply: RespValue | RespError): void {
    if (Array.isArray(reply) && reply.length === 3 && text(reply[0]!) === MESSAGE) {
      return this.#options.onPush?.(reply[1] as Uint8Array, reply[2] as Uint8Array);
    }
    const pending = this.#pending.shift();
    if (reply instanceof RespError) pending?.reject(reply);
    else pending?.resolve(reply);
  }

  /** Fails every pending command and closes the socket. */
  #drop(error: unknown): void {
    this.#ready = false;
    const pending = this.#pending;
    this.#pending = [];
    this.#queued = [];
    for (const p of pending) p.reject(error);
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = undefined;
  }

  #lost(conn: Deno.Conn, error: unknown): void {
    if (this.#conn !== conn) return;
    this.#drop(error);
    if (this.#closed) return;
    if (!this.#reported) this.#options.onError(error);
    this.#reported = true;
    this.#redial(0);
  }

  #redial(attempt: number): void {
    const delay = Math.min(50 * 2 ** attempt, REDIS_RECONNECT_MAX_MS);
    setTimeout(async () => {
      if (this.#closed) return;
      try {
        await this.#dial();
      } catch {
        return this.#redial(attempt + 1);
      }
      this.#options.onReconnect?.();
    }, delay);
  }
}
