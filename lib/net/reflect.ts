/**
 * Asking the rendezvous server which address it sees a local port as: the
 * server-reflexive candidate that the other peer dials.
 *
 * @module
 */

import { request } from "node:http";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { parseHostPort } from "./address.ts";
import { REFLECT_CLOSE_GRACE_MS, REFLECT_TIMEOUT_MS } from "./constants.ts";
import { dialFrom } from "./dial.ts";
import { whenAborted } from "../_abort.ts";

/** Options of {@linkcode reflectFrom}. */
export interface ReflectFromOptions {
  /** Abandons the request: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * How long the whole exchange may take: connect, TLS, request, answer.
   *
   * @default {5_000}
   */
  timeoutMs?: number;
  /**
   * Certificates (PEM) to trust besides the system's, for an `https:` server
   * with a private certificate authority.
   */
  caCerts?: string[];
}

/** Longest answer accepted; the real one is about 40 bytes. */
const MAX_BODY_BYTES = 4096;

/**
 * Connects to the rendezvous `server` (`http(s)://host:port`, with any path
 * prefix) *from* `localPort`, asks `GET /v1/reflect`, and returns the
 * address it answered, `"ip:port"`: this port as the server sees it, after
 * any NAT. Works alongside a {@linkcode listenReusable} listener on the port
 * when {@linkcode dialFromAvailable}; otherwise call it before listening.
 *
 * The request says `Connection: close` and the server closes first, so the
 * port keeps no TIME_WAIT towards the server and can ask again at once.
 *
 * @throws {DialError} if the server cannot be reached from the port.
 * @throws {Error} if the answer is not `200` with `{"address":"ip:port"}`.
 * @throws the signal's reason if `signal` aborts first.
 *
 * @example
 * ```ts ignore
 * import { listenReusable, reflectFrom } from "./mod.ts";
 *
 * await using listener = await listenReusable();
 * const publicAddress = await reflectFrom("https://punch.example", listener.port);
 * ```
 */
export async function reflectFrom(
  server: string,
  localPort: number,
  options: ReflectFromOptions = {},
): Promise<string> {
  const url = new URL("v1/reflect", server.endsWith("/") ? server : `${server}/`);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Cannot reflect through ${server}: not an http(s) URL`);
  }
  const tls = url.protocol === "https:";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  const timeoutMs = options.timeoutMs ?? REFLECT_TIMEOUT_MS;
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new Error(`Cannot reflect through ${server}: no answer within ${timeoutMs} ms`),
      ),
    timeoutMs,
  );
  const signal = options.signal === undefined
    ? controller.signal
    : AbortSignal.any([options.signal, controller.signal]);
  let socket: Socket | undefined;
  try {
    // node:tls cannot wrap a socket that reads large.
    socket = await dialFrom({ localPort, host, port, signal, timeoutMs, largeReads: !tls });
    socket.on("error", () => {}); // Reported through the request below.
    const carrier = tls ? await startTls(socket, host, options.caCerts, signal) : socket;
    const body = await get(carrier, url, signal);
    void closeAfterServer(socket);
    return parseAnswer(body, server);
  } catch (error) {
    socket?.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function startTls(
  socket: Socket,
  host: string,
  caCerts: string[] | undefined,
  signal: AbortSignal,
): Promise<Socket> {
  const isIp = /^[0-9.]+$/.test(host) || host.includes(":");
  const secure = tlsConnect({
    socket,
    ...(isIp ? {} : { servername: host }),
    ...(caCerts === undefined ? {} : { ca: caCerts }),
    ALPNProtocols: ["http/1.1"],
  });
  secure.on("error", () => {}); // Reported through settleOn() and the request.
  return settleOn(secure, "secureConnect", signal).then(() => secure);
}

/** Sends the GET over `carrier` and collects the body of a 200 answer. */
function get(carrier: Socket, url: URL, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({
      method: "GET",
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      headers: { host: url.host, connection: "close", accept: "application/json" },
      createConnection: () => carrier,
    });
    let unlisten = () => {};
    const fail = (error: unknown) => {
      unlisten();
      req.destroy();
      reject(error);
    };
    unlisten = whenAborted(signal, () => fail(signal.reason));
    req.on("error", fail);
    req.on("response", (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        fail(new Error(`Cannot reflect through ${url.origin}: HTTP ${response.statusCode}`));
        return;
      }
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (text: string) => {
        body += text;
        if (body.length > MAX_BODY_BYTES) {
          fail(
            new Error(`Cannot reflect through ${url.origin}: answer over ${MAX_BODY_BYTES} bytes`),
          );
        }
      });
      response.on("error", fail);
      response.on("end", () => {
        unlisten();
        resolve(body);
      });
    });
    req.end();
  });
}

function parseAnswer(body: string, server: string): string {
  let address: unknown;
  try {
    address = (JSON.parse(body) as { address?: unknown }).address;
  } catch {
    address = undefined;
  }
  if (typeof address === "string") {
    try {
      parseHostPort(address);
      return address;
    } catch {
      // Reported below.
    }
  }
  throw new Error(`Cannot reflect through ${server}: unexpected answer ${JSON.stringify(body)}`);
}

/**
 * Waits (up to REFLECT_CLOSE_GRACE_MS) for the server to close first, so
 * that TIME_WAIT stays on its side, then destroys the socket.
 */
async function closeAfterServer(socket: Socket): Promise<void> {
  if (!socket.destroyed && !socket.readableEnded) {
    socket.resume(); // Read on until the server's FIN.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, REFLECT_CLOSE_GRACE_MS);
      Deno.unrefTimer(timer); // Not a reason to keep the process alive.
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      socket.once("close", done).once("end", done);
    });
  }
  socket.destroy();
}

/** Resolves on `event`; rejects on `'error'` or abort. */
function settleOn(socket: Socket, event: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let unlisten = () => {};
    const done = (error?: unknown) => {
      socket.removeListener(event, onEvent);
      socket.removeListener("error", done);
      unlisten();
      if (error === undefined) resolve();
      else reject(error);
    };
    const onEvent = () => done();
    socket.once(event, onEvent);
    socket.once("error", done);
    unlisten = whenAborted(signal, () => done(signal.reason));
  });
}
