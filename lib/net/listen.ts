/**
 * A TCP listener that shares its port with bound dials ({@linkcode dialFrom}):
 * the incoming half of TCP hole punching.
 *
 * @module
 */

import { createServer, type Server, type Socket } from "node:net";
import { formatHostPort } from "./address.ts";
import { adoptFd, type FrameReads, type ReadShape, readShape } from "./_adopt.ts";
import { parseIp } from "./_ip.ts";
import { type Libc, openLibc, POLLIN } from "./_libc.ts";
import { watchFd } from "./_poller.ts";
import { limitUnacked, openShared, sendAtOnce } from "./_socket.ts";

/** Options of {@linkcode listenReusable}. */
export interface ListenReusableOptions {
  /**
   * Port to listen on; 0 for one the system picks.
   *
   * @default {0}
   */
  port?: number;
  /**
   * Address to listen on. `"::"` listens on IPv6 and IPv4 (dual stack).
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Accepted sockets read 1 MiB at a time instead of `node:net`'s 64 KiB
   * (where FFI accepts them): about twice the throughput. Turn it off to
   * wrap them with `node:tls`, which never completes a handshake over such a
   * socket.
   *
   * @default {true}
   */
  largeReads?: boolean;
  /**
   * Accepted sockets read frame by frame after a handshake (see
   * {@linkcode FrameReads}), where FFI accepts them. Ignored when
   * `largeReads` is false.
   */
  frames?: FrameReads;
}

/** A listening TCP port; see {@linkcode listenReusable}. */
export interface ReusableListener extends AsyncDisposable {
  /** The port listened on. */
  readonly port: number;
  /** The address listened on. */
  readonly hostname: string;
  /**
   * Whether the port has SO_REUSEPORT, so that {@linkcode dialFrom} can dial
   * from it (when {@linkcode dialFromAvailable} too). False only where the
   * system offered no way to set it (Windows): then listen or dial, not both.
   */
  readonly reusePort: boolean;
  /**
   * Accepted connections, in order, as `node:net` sockets made with
   * `allowHalfOpen: true`. One consumer: every `for await` over it takes
   * from the same queue. Connections that arrive while nobody iterates wait
   * in the queue (one that fails there is dropped); leaving a loop early
   * does not stop the listener. Iteration ends when the listener closes.
   */
  readonly connections: AsyncIterable<Socket>;
  /**
   * Stops listening and destroys connections still in the queue; those
   * already taken stay open. Resolves once the port is released.
   */
  close(): Promise<void>;
}

/**
 * Listens on a TCP port with SO_REUSEADDR and SO_REUSEPORT, so that
 * {@linkcode dialFrom} can connect out from the same port while it listens.
 * Needs no unstable flag. Where {@linkcode dialFromAvailable} (Linux; macOS
 * untested), the socket is made and accepted on through FFI, and accepted
 * sockets read in large chunks; elsewhere `node:net` listens, with
 * `reusePort` if the system takes it.
 *
 * Keep one listener per port: two listeners with SO_REUSEPORT on one port
 * split the incoming connections between them.
 *
 * @throws the system error (`code` `EADDRINUSE`, `EACCES`, …) if the port
 * cannot be listened on.
 *
 * @example
 * ```ts ignore
 * import { listenReusable } from "./listen.ts";
 *
 * await using listener = await listenReusable({ port: 0 });
 * for await (const socket of listener.connections) {
 *   socket.end("hello\n");
 * }
 * ```
 */
export async function listenReusable(
  options: ListenReusableOptions = {},
): Promise<ReusableListener> {
  const port = options.port ?? 0;
  const hostname = options.hostname ?? "0.0.0.0";
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot listen: port ${port} is not a port number`);
  }
  const method = openLibc() === null ? "node" : "ffi";
  return await listenWith(method, port, hostname, readShape(options.largeReads, options.frames));
}

/**
 * How the listening socket is made: `ffi` (through the C library, accepting
 * through the shared poll()), `node` (`node:net` with `reusePort`, then
 * without it if the system refuses the option), or `plain` (`node:net`
 * without reuse). Exported for tests.
 */
export async function listenWith(
  method: "ffi" | "node" | "plain",
  port: number,
  hostname: string,
  reads: ReadShape = "large",
): Promise<ReusableListener> {
  const queue = new ConnectionQueue();
  if (method === "ffi") {
    const libc = openLibc();
    if (libc === null) throw new TypeError("Cannot listen through FFI: not available here");
    return listenFfi(libc, queue, port, hostname, reads);
  }
  const server = createServer(
    { allowHalfOpen: true, noDelay: true },
    (socket) => queue.push(socket),
  );
  if (method === "node") {
    try {
      await start(server, { port, host: hostname, reusePort: true });
      return new NodeListener(server, queue, hostname, true);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") throw error;
      // The option itself was refused: listen without it.
    }
  }
  await start(server, { port, host: hostname });
  return new NodeListener(server, queue, hostname, false);
}

function start(server: Server, options: object): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(options, () => {
      server.removeListener("error", onError);
      // Accept failures (such as EMFILE) must not end the process.
      server.on("error", () => {});
      resolve();
    });
  });
}

function listenFfi(
  libc: Libc,
  queue: ConnectionQueue,
  port: number,
  hostname: string,
  reads: ReadShape,
): ReusableListener {
  const local = parseIp(hostname);
  if (local === null) throw new TypeError(`Cannot listen on ${hostname}: not an IP address`);
  const opened = openShared(libc, local, port, false);
  let failure = typeof opened === "number" ? null : opened;
  const fd = typeof opened === "number" ? opened : -1;
  if (failure === null && libc.listen(fd, LISTEN_BACKLOG) < 0) {
    failure = { call: "listen()", errno: libc.errno() };
  }
  const boundPort = failure === null ? libc.localPort(fd) : -1;
  if (failure === null && boundPort < 0) failure = { call: "getsockname()", errno: libc.errno() };
  if (failure !== null) {
    if (fd >= 0) libc.close(fd);
    const code = libc.errnoName(failure.errno);
    throw Object.assign(
      new Error(`Cannot listen on ${formatHostPort(hostname, port)}: ${failure.call}: ${code}`),
      { code },
    );
  }
  return new FfiListener(libc, fd, { port: boundPort, hostname, reads }, queue);
}

/** Connections waiting in the kernel's queue, at most: the usual default. */
const LISTEN_BACKLOG = 511;

/** How long to wait before accepting again after accept() failed for want of resources. */
const ACCEPT_RETRY_MS = 100;

/** A listening socket made through FFI; accepts when the shared poll() says so. */
class FfiListener implements ReusableListener {
  readonly port: number;
  readonly hostname: string;
  readonly reusePort = true;
  readonly #libc: Libc;
  readonly #fd: number;
  readonly #queue: ConnectionQueue;
  readonly #reads: ReadShape;
  #watch: { cancel(): Promise<void> } | null = null;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed: Promise<void> | null = null;

  constructor(
    libc: Libc,
    fd: number,
    options: { port: number; hostname: string; reads: ReadShape },
    queue: ConnectionQueue,
  ) {
    this.#libc = libc;
    this.#fd = fd;
    this.port = options.port;
    this.hostname = options.hostname;
    this.#reads = options.reads;
    this.#queue = queue;
    this.#arm();
  }

  get connections(): AsyncIterable<Socket> {
    return this.#queue;
  }

  #arm(): void {
    this.#watch = watchFd(this.#libc, this.#fd, POLLIN, () => {
      if (this.#closed !== null) return;
      const { errno } = this.#libc.constants;
      for (;;) {
        const fd = this.#libc.accept(this.#fd);
        if (fd < 0) {
          const error = this.#libc.errno();
          if (error === errno.ECONNABORTED || error === errno.EINTR) continue;
          if (error === errno.EAGAIN) break;
          // Out of file descriptors or memory: the connection stays queued
          // and poll() would report it again at once, so wait a little.
          this.#retry = setTimeout(() => this.#arm(), ACCEPT_RETRY_MS);
          return;
        }
        // Inherited from the listener on Linux; set again in case a system does not.
        limitUnacked(this.#libc, fd);
        sendAtOnce(this.#libc, fd);
        try {
          this.#queue.push(adoptFd(fd, this.#reads));
        } catch {
          this.#libc.close(fd);
        }
      }
      this.#arm();
    });
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#queue.close();
      clearTimeout(this.#retry);
      await this.#watch?.cancel();
      this.#libc.close(this.#fd);
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A `node:net` server: where FFI is not available. */
class NodeListener implements ReusableListener {
  readonly port: number;
  readonly hostname: string;
  readonly reusePort: boolean;
  readonly #server: Server;
  readonly #queue: ConnectionQueue;

  constructor(server: Server, queue: ConnectionQueue, hostname: string, reusePort: boolean) {
    this.#server = server;
    this.#queue = queue;
    const address = server.address();
    this.port = typeof address === "object" && address !== null ? address.port : 0;
    this.hostname = hostname;
    this.reusePort = reusePort;
  }

  get connections(): AsyncIterable<Socket> {
    return this.#queue;
  }

  close(): Promise<void> {
    this.#queue.close();
    if (!this.#server.listening) return Promise.resolve();
    // server.close()'s callback waits for every accepted connection to end;
    // the port itself is released by the time a macrotask has run.
    this.#server.close();
    return new Promise((resolve) => setTimeout(resolve, 0));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Accepted sockets waiting for the consumer, or consumers waiting for one. */
class ConnectionQueue implements AsyncIterable<Socket>, AsyncIterator<Socket> {
  /** Each waiting socket with the listener that drops it if it fails meanwhile. */
  readonly #waiting: { socket: Socket; onError: () => void }[] = [];
  readonly #takers: ((result: IteratorResult<Socket>) => void)[] = [];
  #closed = false;

  push(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const taker = this.#takers.shift();
    if (taker !== undefined) {
      taker({ value: socket, done: false });
      return;
    }
    const entry = {
      socket,
      onError: () => {
        this.#waiting.splice(this.#waiting.indexOf(entry), 1);
        socket.destroy();
      },
    };
    socket.once("error", entry.onError);
    this.#waiting.push(entry);
  }

  next(): Promise<IteratorResult<Socket>> {
    const entry = this.#waiting.shift();
    if (entry !== undefined) {
      entry.socket.removeListener("error", entry.onError);
      return Promise.resolve({ value: entry.socket, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  return(): Promise<IteratorResult<Socket>> {
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    this.#closed = true;
    for (const { socket } of this.#waiting.splice(0)) socket.destroy();
    for (const taker of this.#takers.splice(0)) taker({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<Socket> {
    return this;
  }
}
