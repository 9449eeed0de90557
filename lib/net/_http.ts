// A small HTTP/1.1 client for talking to a LAN device (a UPnP router):
// one request per connection (`Connection: close`), the whole exchange
// bounded in bytes and in time, no redirects followed, no proxy consulted
// (fetch() would honour HTTP_PROXY, and send LAN requests to it), no
// compression. What comes back is read strictly: a status line, headers,
// then a body of Content-Length bytes, chunked, or up to the close.

const ENCODER = new TextEncoder();
/** Headers of an answer, at most: a device's headers are a few hundred bytes. */
export const HTTP_MAX_HEADER_BYTES = 8 * 1024;
/** Most header lines of an answer. */
const MAX_HEADERS = 64;

/** A request to send: exact bytes, so that tests pin them. */
export interface HttpRequest {
  method: "GET" | "POST";
  url: URL;
  /** Further headers, in order (Host and Connection come first, Content-Length last). */
  headers?: readonly (readonly [string, string])[];
  body?: string;
}

/** An answer, read to its end. */
export interface HttpResponse {
  status: number;
  /** Header names in lower case. */
  headers: ReadonlyMap<string, string>;
  body: Uint8Array;
  /** This side's address on the connection (the LAN address the device sees). */
  localAddress: string;
}

/** Options of {@linkcode httpExchange}. */
export interface HttpExchangeOptions {
  /** Most bytes of the whole answer, headers included; more is an error. */
  maxBytes: number;
  /** The whole exchange (connect, send, read) must end within this. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The bytes of `request`, as sent. */
export function encodeHttpRequest(request: HttpRequest): Uint8Array {
  const { url } = request;
  const body = request.body === undefined ? undefined : ENCODER.encode(request.body);
  const lines = [
    `${request.method} ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    "Connection: close",
    ...(request.headers ?? []).map(([name, value]) => `${name}: ${value}`),
    ...(body === undefined ? [] : [`Content-Length: ${body.length}`]),
    "",
    "",
  ];
  const head = ENCODER.encode(lines.join("\r\n"));
  if (body === undefined) return head;
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

/**
 * Sends `request` to its URL's host (an IP literal, plain http) and reads
 * the answer. Throws an Error saying what went wrong: refused, timed out,
 * too large, malformed.
 */
export async function httpExchange(
  request: HttpRequest,
  options: HttpExchangeOptions,
): Promise<HttpResponse> {
  const { url } = request;
  if (url.protocol !== "http:") throw new Error(`Cannot fetch ${url.href}: not http`);
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port === "" ? 80 : Number(url.port);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname, port, signal });
  } catch (error) {
    if (deadline.aborted) throw new Error(`Cannot connect to ${url.host}: timed out`);
    throw new Error(`Cannot connect to ${url.host}: ${(error as Error).message}`);
  }
  const close = () => {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  };
  signal.addEventListener("abort", close, { once: true });
  try {
    await writeAll(conn, encodeHttpRequest(request));
    const { bytes, complete } = await readAnswer(conn, options.maxBytes);
    const response = parseHttpResponse(bytes, !complete, options.maxBytes);
    return { ...response, localAddress: conn.localAddr.hostname };
  } catch (error) {
    if (deadline.aborted) throw new Error(`Cannot read the answer of ${url.host}: timed out`);
    if (options.signal?.aborted) throw new Error(`Cannot read the answer of ${url.host}: stopped`);
    throw error;
  } finally {
    signal.removeEventListener("abort", close);
    close();
  }
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/**
 * Reads until the answer is complete by its own framing, the peer closes,
 * or `maxBytes` are exceeded (an error). Each read looks at the new bytes
 * only, so a device that drips its answer a byte at a time costs no more
 * than one that sends it at once (up to the deadline).
 */
async function readAnswer(
  conn: Deno.TcpConn,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; complete: boolean }> {
  const buffer = new Uint8Array(maxBytes + 1);
  let length = 0;
  let headEnd = -1;
  let framing: Framing | undefined;
  for (;;) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) return { bytes: buffer.subarray(0, length), complete: false };
    const from = Math.max(0, length - 3);
    length += n;
    if (length > maxBytes) throw new Error(`Cannot read the answer: over ${maxBytes} bytes`);
    if (headEnd < 0) {
      headEnd = indexOf(
        buffer.subarray(0, Math.min(length, HTTP_MAX_HEADER_BYTES + 4)),
        HEADER_END,
        from,
      );
      if (headEnd < 0) {
        if (length > HTTP_MAX_HEADER_BYTES) {
          throw new Error(`Cannot read the answer: headers over ${HTTP_MAX_HEADER_BYTES} bytes`);
        }
        continue;
      }
      framing = parseHead(buffer.subarray(0, headEnd)).framing;
    }
    const got = buffer.subarray(0, length);
    const bodyBytes = length - headEnd - 4;
    if (
      typeof framing === "number" ? bodyBytes >= framing : framing === "chunked" &&
        endsWith(got, HEADER_END) && chunkedWhole(got.subarray(headEnd + 4), maxBytes)
    ) {
      return { bytes: got, complete: true };
    }
  }
}

function endsWith(bytes: Uint8Array, tail: Uint8Array): boolean {
  if (bytes.length < tail.length) return false;
  return tail.every((b, i) => bytes[bytes.length - tail.length + i] === b);
}

function chunkedWhole(bytes: Uint8Array, maxBytes: number): boolean {
  try {
    dechunk(bytes, maxBytes);
    return true;
  } catch {
    return false;
  }
}

const HEADER_END = ENCODER.encode("\r\n\r\n");

function indexOf(bytes: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** How an answer's body ends: after so many bytes, after its last chunk, or at the close. */
type Framing = number | "chunked" | "close";

/** Reads the status line and headers (the bytes before the blank line); throws if malformed. */
function parseHead(
  bytes: Uint8Array,
): { status: number; headers: Map<string, string>; framing: Framing } {
  let head: string;
  try {
    head = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error("Cannot read the answer: headers are not text");
  }
  const [statusLine = "", ...lines] = head.split("\r\n");
  const status = statusLine.match(/^HTTP\/1\.[01] ([1-5][0-9]{2})(?: [\x20-\x7e\t]*)?$/);
  if (status === null) throw new Error("Cannot read the answer: not an HTTP/1.x status line");
  if (lines.length > MAX_HEADERS) {
    throw new Error(`Cannot read the answer: over ${MAX_HEADERS} headers`);
  }
  const headers = new Map<string, string>();
  for (const line of lines) {
    const header = line.match(/^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7e\t]*?)[ \t]*$/);
    if (header === null) throw new Error("Cannot read the answer: a malformed header line");
    const name = header[1]!.toLowerCase();
    const value = header[2]!;
    const known = headers.get(name);
    if (known !== undefined) {
      if (name === "content-length" || name === "transfer-encoding" || name === "content-type") {
        throw new Error(`Cannot read the answer: ${name} given twice`);
      }
      headers.set(name, `${known}, ${value}`);
    } else headers.set(name, value);
  }
  const encoding = headers.get("content-encoding");
  if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
    throw new Error(`Cannot read the answer: it is encoded (${encoding})`);
  }
  const transfer = headers.get("transfer-encoding");
  const lengthHeader = headers.get("content-length");
  let framing: Framing = "close";
  if (transfer !== undefined) {
    if (transfer.toLowerCase() !== "chunked") {
      throw new Error(`Cannot read the answer: transfer encoding ${transfer}`);
    }
    if (lengthHeader !== undefined) {
      throw new Error("Cannot read the answer: both Content-Length and chunked");
    }
    framing = "chunked";
  } else if (lengthHeader !== undefined) {
    if (!/^[0-9]{1,9}$/.test(lengthHeader)) {
      throw new Error(`Cannot read the answer: Content-Length ${lengthHeader}`);
    }
    framing = Number(lengthHeader);
  }
  return { status: Number(status[1]), headers, framing };
}

/**
 * Reads an answer's status, headers and body from `bytes`, all of it.
 * `closed`: the peer closed the connection after these bytes, which ends a
 * body that has no framing of its own. Throws for anything malformed or
 * incomplete, or a body over `maxBytes`.
 */
export function parseHttpResponse(
  bytes: Uint8Array,
  closed: boolean,
  maxBytes: number,
): Omit<HttpResponse, "localAddress"> {
  const end = indexOf(bytes.subarray(0, HTTP_MAX_HEADER_BYTES + 4), HEADER_END);
  if (end < 0) {
    throw new Error(
      bytes.length > HTTP_MAX_HEADER_BYTES
        ? `Cannot read the answer: headers over ${HTTP_MAX_HEADER_BYTES} bytes`
        : "Cannot read the answer: it ends within its headers",
    );
  }
  const { status, headers, framing } = parseHead(bytes.subarray(0, end));
  const rest = bytes.subarray(end + 4);
  let body: Uint8Array;
  if (framing === "chunked") {
    body = dechunk(rest, maxBytes);
  } else if (typeof framing === "number") {
    if (framing > maxBytes) throw new Error(`Cannot read the answer: over ${maxBytes} bytes`);
    if (rest.length < framing) throw new Error("Cannot read the answer: it ends within its body");
    if (rest.length > framing) throw new Error("Cannot read the answer: bytes after its body");
    body = rest;
  } else {
    if (!closed) throw new Error("Cannot read the answer: no framing, and not closed yet");
    body = rest;
  }
  if (body.length > maxBytes) throw new Error(`Cannot read the answer: over ${maxBytes} bytes`);
  return { status, headers, body };
}

/** Decodes a chunked body that must be whole in `bytes`, trailers refused. */
function dechunk(bytes: Uint8Array, maxBytes: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let at = 0;
  const CRLF = ENCODER.encode("\r\n");
  for (;;) {
    const lineEnd = indexOf(bytes.subarray(0, at + 32), CRLF, at);
    if (lineEnd < 0) throw new Error("Cannot read the answer: a malformed chunk size");
    const line = new TextDecoder().decode(bytes.subarray(at, lineEnd));
    if (!/^[0-9a-fA-F]{1,7}$/.test(line)) {
      throw new Error("Cannot read the answer: a malformed chunk size");
    }
    const size = parseInt(line, 16);
    at = lineEnd + 2;
    if (size === 0) {
      if (bytes.length - at !== 2 || bytes[at] !== 13 || bytes[at + 1] !== 10) {
        throw new Error("Cannot read the answer: a malformed last chunk");
      }
      break;
    }
    total += size;
    if (total > maxBytes) throw new Error(`Cannot read the answer: over ${maxBytes} bytes`);
    if (bytes.length < at + size + 2) {
      throw new Error("Cannot read the answer: it ends within a chunk");
    }
    if (bytes[at + size] !== 13 || bytes[at + size + 1] !== 10) {
      throw new Error("Cannot read the answer: a chunk without its CRLF");
    }
    chunks.push(bytes.subarray(at, at + size));
    at += size + 2;
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}
