/**
 * The little HTTP/1.1 the hardened transport speaks: one request per
 * connection, read into a bounded buffer; a WebSocket upgrade answered with
 * 101; anything else handed to the rendezvous' handler and its response
 * written back with `connection: close`.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A request line and headers, and the bytes that came after them. */
export interface RequestHead {
  method: string;
  /** The origin-form target: `/path?query`. */
  target: string;
  headers: Headers;
  /** Bytes read past the head (a client's first WebSocket frames). */
  rest: Uint8Array;
}

/** A request the transport refuses with `status`. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}

const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  503: "Service Unavailable",
};

/** RFC 6455's GUID, appended to the client's key for `Sec-WebSocket-Accept`. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const REQUEST_LINE_RE = /^([A-Z]{1,16}) (\/[^\s]*) HTTP\/1\.[01]$/;
const HEADER_RE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
const encoder = new TextEncoder();

function headEnd(buf: Uint8Array, from: number, end: number): number {
  for (let i = Math.max(0, from); i + 3 < end; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

function parseHead(bytes: Uint8Array, rest: Uint8Array): RequestHead {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  const [line = "", ...fields] = text.split("\r\n");
  const request = REQUEST_LINE_RE.exec(line);
  if (!request) throw new HttpError(400, "Cannot read the request line");
  const headers = new Headers();
  for (const field of fields) {
    const header = HEADER_RE.exec(field);
    if (!header) throw new HttpError(400, "Cannot read a header line");
    try {
      headers.append(header[1]!, header[2]!);
    } catch {
      throw new HttpError(400, `Cannot accept header ${header[1]}`);
    }
  }
  return { method: request[1]!, target: request[2]!, headers, rest };
}

/**
 * Reads one request head of at most `maxBytes`; null if the connection ends
 * (or is closed) first. Throws {@linkcode HttpError} for a head that is too
 * long or malformed.
 */
export async function readRequestHead(
  conn: Deno.Conn,
  maxBytes: number,
): Promise<RequestHead | null> {
  let buf = new Uint8Array(Math.min(1024, maxBytes));
  let end = 0;
  for (;;) {
    if (end === buf.length) {
      if (buf.length >= maxBytes) {
        throw new HttpError(431, `Request head over ${maxBytes} bytes`);
      }
      const larger = new Uint8Array(Math.min(maxBytes, buf.length * 2));
      larger.set(buf);
      buf = larger;
    }
    let n: number | null;
    try {
      n = await conn.read(buf.subarray(end));
    } catch {
      return null;
    }
    if (n === null) return null;
    const from = end - 3;
    end += n;
    const at = headEnd(buf, from, end);
    if (at >= 0) return parseHead(buf.subarray(0, at), buf.slice(at + 4, end));
  }
}

/** Whether the head asks for a WebSocket upgrade. */
export function isUpgrade(head: RequestHead): boolean {
  return head.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** The 101 answer to a valid upgrade request; throws {@linkcode HttpError} for an invalid one. */
export function upgradeAnswer(head: RequestHead): Uint8Array {
  const key = head.headers.get("sec-websocket-key") ?? "";
  const connection = head.headers.get("connection")?.toLowerCase() ?? "";
  if (
    head.method !== "GET" || !connection.split(",").some((t) => t.trim() === "upgrade") ||
    head.headers.get("sec-websocket-version") !== "13" || !/^[A-Za-z0-9+/]{22}==$/.test(key)
  ) {
    throw new HttpError(400, "Cannot upgrade: not a WebSocket version 13 handshake");
  }
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  return encoder.encode(
    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
      `sec-websocket-accept: ${accept}\r\n\r\n`,
  );
}

/** The bytes of a response with `connection: close`; a HEAD response without its body. */
export async function responseBytes(response: Response, head = false): Promise<Uint8Array> {
  const body = new Uint8Array(await response.arrayBuffer());
  let text = `HTTP/1.1 ${response.status} ${REASONS[response.status] ?? ""}\r\n`;
  for (const [name, value] of response.headers) {
    if (name !== "content-length" && name !== "connection") text += `${name}: ${value}\r\n`;
  }
  text += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  const start = encoder.encode(text);
  if (head) return start;
  const bytes = new Uint8Array(start.length + body.length);
  bytes.set(start);
  bytes.set(body, start.length);
  return bytes;
}

/** A short JSON error response's bytes: `{"error":"…"}`. */
export function errorBytes(status: number, message: string): Uint8Array {
  const body = JSON.stringify({ error: message }) + "\n";
  return encoder.encode(
    `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\ncontent-type: application/json\r\n` +
      `cache-control: no-store\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n` +
      body,
  );
}

/** Writes all of `bytes`; false if the connection broke. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let n = 0; n < bytes.length;) n += await conn.write(bytes.subarray(n));
    return true;
  } catch {
    return false;
  }
}
