/**
 * TCP connections dialed *from* a chosen local port, while a
 * {@linkcode listenReusable} listener holds that same port: the outgoing
 * half of TCP hole punching.
 *
 * Where the C library can be reached through FFI (Linux; macOS in
 * principle), the socket is made by hand: SO_REUSEADDR and SO_REUSEPORT,
 * nonblocking, bound, connected, and handed to `node:net` once the handshake
 * is done. Elsewhere {@linkcode dialFrom} falls back to `node:net`'s
 * `connect({ localPort })`, which cannot share the port with a listener:
 * check {@linkcode dialFromAvailable} first and either listen or dial from
 * the port, not both.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { connect as netConnect, type Socket } from "node:net";
import { adoptFd, type FrameReads, readOptions, readShape } from "./_adopt.ts";
import { formatHostPort } from "./address.ts";
import { DIAL_TIMEOUT_MS } from "./constants.ts";
import { type IpBytes, parseIp } from "./_ip.ts";
import { type Libc, openLibc, POLLERR, POLLHUP, POLLOUT } from "./_libc.ts";
import { pollNow, watchFd } from "./_poller.ts";
import { openShared, sockaddr } from "./_socket.ts";

/** Options of {@linkcode dialFrom}. */
export interface DialFromOptions {
  /** Local port to connect from; 0 for any. */
  localPort: number;
  /**
   * Local address to bind. Must be of the remote address's family.
   *
   * @default {"0.0.0.0" for an IPv4 host, "::" for an IPv6 host}
   */
  localAddress?: string;
  /** Remote IP literal or DNS name (the first IPv4 address is used, else IPv6). */
  host: string;
  /** Remote port. */
  port: number;
  /** Abandons the dial: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * How long to wait for the handshake.
   *
   * @default {10_000}
   */
  timeoutMs?: number;
  /**
   * Read 1 MiB at a time instead of `node:net`'s 64 KiB: about twice the
   * throughput. Turn it off to wrap the socket with `node:tls`, which never
   * completes a handshake over such a socket.
   *
   * @default {true}
   */
  largeReads?: boolean;
  /**
   * Read the stream frame by frame after a handshake (see
   * {@linkcode FrameReads}): each frame arrives in one chunk of its own,
   * which a frame reader takes without copying. Ignored when `largeReads`
   * is false.
   */
  frames?: FrameReads;
  /**
   * The TTL of the SYN alone (IPv4, FFI dials only): the socket's default
   * comes back right after the SYN has left, for its retransmissions and
   * everything after. A SYN that expires between the NATs opens this
   * side's mapping without reaching the other NAT, which would answer it
   * with a reset (the STUNT approach; see punch.ts). Where the SYN
   * expires, the router answers with an ICMP time exceeded, which ends the
   * dial with `EHOSTUNREACH` (unless `outlastExpiry`).
   * @default {the system's default TTL}
   */
  synTtl?: number;
  /**
   * With `synTtl`, on Linux: ignore the ICMP time exceeded that the SYN
   * draws, and wait on (up to `timeoutMs`) for the other side's SYN, a
   * simultaneous open. Elsewhere the dial ends on it as without this.
   * @default {false}
   */
  outlastExpiry?: boolean;
}

/**
 * A dial that failed: refused, unreachable, timed out, or the local port
 * cannot be bound. `code` is the system's name for it (`ECONNREFUSED`,
 * `ETIMEDOUT`, `EADDRINUSE`, `EHOSTUNREACH`, `ENOTFOUND`, …), or `EALREADY`
 * for a dial of a connection (same ports, same addresses) that another dial
 * is making at the moment.
 */
export class DialError extends Error {
  /** `"DialError"`. */
  override name = "DialError";
  /** The system error name, such as `ECONNREFUSED`. */
  readonly code: string;

  /** Makes an error with a message and a system error name. */
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The connection between these two endpoints exists already (the kernel
 * refused the 4-tuple: EADDRNOTAVAIL on Linux). When a listener holds the
 * local port, this nearly always means the listener has just accepted the
 * very same connection — the peer's SYN arrived first — so it is a success:
 * take the connection from the listener. The other cause is a connection
 * this side closed first in the last ~60 s (TIME_WAIT): retry later, or
 * dial from another port.
 */
export class ConnectionExistsError extends DialError {
  /** `"ConnectionExistsError"`. */
  override name = "ConnectionExistsError";
}

/**
 * Whether {@linkcode dialFrom} can share its local port with a
 * {@linkcode listenReusable} listener: true on Linux (and, untested, macOS)
 * when FFI is permitted (`--allow-ffi` or `-A`; it never prompts). When
 * false, `dialFrom` uses `node:net`, which fails with `EADDRINUSE` if
 * anything listens on the local port.
 */
export function dialFromAvailable(): boolean {
  return openLibc() !== null;
}

/**
 * Connects to `host:port` from `localPort`, alongside a listener on that
 * port (see {@linkcode dialFromAvailable}). Resolves with a connected
 * `node:net` socket made with `allowHalfOpen: true`; give it an `'error'`
 * listener (or a {@linkcode socketPipe}) at once.
 *
 * Two sides dialing each other from their listening ports meet in a TCP
 * simultaneous open, or one side's listener accepts: both are connections.
 *
 * @throws {ConnectionExistsError} if this connection exists already,
 * usually accepted by the listener on `localPort`.
 * @throws {DialError} if the connection is refused, times out, cannot be
 * routed, or the local port cannot be bound.
 * @throws the signal's reason if `signal` aborts first.
 */
export async function dialFrom(options: DialFromOptions): Promise<Socket> {
  const { localPort, port, signal } = options;
  checkPort(localPort, "localPort");
  checkPort(port, "port");
  const timeoutMs = options.timeoutMs ?? DIAL_TIMEOUT_MS;
  signal?.throwIfAborted();
  const libc = openLibc();
  if (libc === null) return await dialWithNode(options, timeoutMs);
  const remote = await resolve(options.host);
  signal?.throwIfAborted();
  const local = parseIp(options.localAddress ?? (remote.family === 6 ? "::" : "0.0.0.0"));
  if (local === null || local.family !== remote.family) {
    throw new TypeError(
      `Cannot dial from ${options.localAddress}: not an IPv${remote.family} address`,
    );
  }
  const what = `${formatHostPort(options.host, port)} from port ${localPort}`;
  // One 4-tuple is one connection: a second dial of it while the first is
  // under way would fail as if the connection existed.
  const tuple = `${local.bytes}|${localPort}|${remote.bytes}|${port}`;
  if (localPort !== 0 && pending.has(tuple)) {
    throw new DialError(`Cannot dial ${what}: a dial of it is under way`, "EALREADY");
  }
  // IPv6-only, so that the dial claims no IPv4 port.
  const fd = openShared(libc, local, localPort, true);
  if (typeof fd !== "number") throw errnoError(libc, fd.errno, `Cannot dial ${what}: ${fd.call}`);
  pending.add(tuple);
  try {
    const short = options.synTtl === undefined
      ? undefined
      : { ttl: options.synTtl, outlastExpiry: options.outlastExpiry ?? false };
    await connectFd(libc, fd, remote, port, what, timeoutMs, signal, short);
    return adoptFd(fd, readShape(options.largeReads, options.frames));
  } catch (error) {
    // With a reset: a connection half set up (a simultaneous open caught
    // mid-way by the timeout) would otherwise hold the 4-tuple for a minute,
    // and every later dial of it would fail with EADDRNOTAVAIL.
    libc.abort(fd);
    throw error;
  } finally {
    pending.delete(tuple);
  }
}

/** The 4-tuples of FFI dials under way. */
const pending = new Set<string>();

function checkPort(port: number, name: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot dial: ${name} ${port} is not a port number`);
  }
}

async function resolve(host: string): Promise<IpBytes> {
  const literal = parseIp(host);
  if (literal !== null) return literal;
  let found: { address: string; family: number }[];
  try {
    found = await lookup(host, { all: true });
  } catch (cause) {
    throw new DialError(`Cannot resolve ${host}`, "ENOTFOUND", { cause });
  }
  const pick = found.find((entry) => entry.family === 4) ?? found[0];
  const ip = pick === undefined ? null : parseIp(pick.address);
  if (ip === null) throw new DialError(`Cannot resolve ${host}: no address`, "ENOTFOUND");
  return ip;
}

/**
 * A dial's least TTL while its SYN is short-lived (`synTtl`): above the TTL
 * an ICMP time exceeded quotes, that of the SYN where it expired (1).
 */
const EXPIRY_IGNORING_MIN_TTL = 2;

/** connect() and wait for the handshake; rejects with the reason it failed. */
function connectFd(
  libc: Libc,
  fd: number,
  remote: IpBytes,
  port: number,
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  synTtl: { ttl: number; outlastExpiry: boolean } | undefined,
): Promise<void> {
  const c = libc.constants;
  const ttl = synTtl !== undefined && remote.family === 4
    ? libc.getInt(fd, c.IPPROTO_IP, c.IP_TTL)
    : -1;
  if (ttl > 0 && libc.setInt(fd, c.IPPROTO_IP, c.IP_TTL, synTtl!.ttl) !== 0) {
    return Promise.reject(systemError(libc, `Cannot dial ${what}: IP_TTL`));
  }
  // Where the short-lived SYN expires, the router answers with an ICMP time
  // exceeded, on which Linux ends the connect() at once: the 4-tuple is then
  // free, and the other side's SYN, let in by the mapping the SYN opened,
  // meets the listener, whose SYN-ACK (of another sequence number) the NAT
  // drops while that half-open connection holds the 4-tuple against every
  // later dial. A least TTL above the one that ICMP quotes (at most 1)
  // ignores it, so the dial waits for that SYN as a simultaneous open.
  const ignoresExpiry = ttl > 0 && synTtl!.outlastExpiry && c.IP_MINTTL > 0 &&
    libc.setInt(fd, c.IPPROTO_IP, c.IP_MINTTL, EXPIRY_IGNORING_MIN_TTL) === 0;
  const connected = libc.connect(fd, sockaddr(libc, remote, port));
  const errno = libc.errno();
  // The SYN has left (or the call failed): everything after it goes with the usual TTL.
  if (ttl > 0) libc.setInt(fd, c.IPPROTO_IP, c.IP_TTL, ttl);
  const connecting = awaitConnect(libc, fd, what, timeoutMs, signal, connected, errno);
  if (!ignoresExpiry) return connecting;
  // Connected: packets with any TTL are taken again.
  return connecting.then(() => void libc.setInt(fd, c.IPPROTO_IP, c.IP_MINTTL, 0));
}

/** The end of connect(): `connected` and `errno` are what the call gave. */
function awaitConnect(
  libc: Libc,
  fd: number,
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  connected: number,
  errno: number,
): Promise<void> {
  const c = libc.constants;
  if (connected === 0) return Promise.resolve();
  if (errno === c.errno.EADDRNOTAVAIL || errno === c.errno.EADDRINUSE) {
    const name = libc.errnoName(errno);
    return Promise.reject(
      new ConnectionExistsError(`Cannot dial ${what}: the connection exists already`, name),
    );
  }
  if (errno !== c.errno.EINPROGRESS) {
    return Promise.reject(errnoError(libc, errno, `Cannot dial ${what}`));
  }
  const finished = (revents: number): DialError | null => {
    const soError = libc.getInt(fd, c.SOL_SOCKET, c.SO_ERROR);
    if (soError < 0) return systemError(libc, `Cannot dial ${what}: SO_ERROR`);
    if (soError !== 0) return errnoError(libc, soError, `Cannot dial ${what}`);
    return revents & POLLOUT ? null : new DialError(`Cannot dial ${what}: reset`, "ECONNRESET");
  };
  const events = POLLOUT | POLLERR | POLLHUP;
  const now = pollNow(libc, fd, events);
  if (now !== 0) {
    const error = finished(now);
    return error === null ? Promise.resolve() : Promise.reject(error);
  }
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      // Settle once no poll() holds the socket, so that closing it releases
      // the 4-tuple at once: a retry right after a timeout must not find it.
      void watch.cancel().then(() => (error === null ? resolve() : reject(error)));
    };
    const onAbort = () => settle(signal!.reason);
    const timer = setTimeout(
      () =>
        settle(new DialError(`Cannot dial ${what}: no answer within ${timeoutMs} ms`, "ETIMEDOUT")),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    const watch = watchFd(libc, fd, events, (revents) => settle(finished(revents)));
  });
}

function systemError(libc: Libc, message: string): DialError {
  return errnoError(libc, libc.errno(), message);
}

function errnoError(libc: Libc, errno: number, message: string): DialError {
  const code = libc.errnoName(errno);
  return new DialError(`${message}: ${code}`, code);
}

/** The degraded mode: a `node:net` connect, which cannot share a listener's port. */
function dialWithNode(options: DialFromOptions, timeoutMs: number): Promise<Socket> {
  const { host, port, localPort, signal } = options;
  const what = `${formatHostPort(host, port)} from port ${localPort}`;
  return new Promise((resolve, reject) => {
    const onread = readOptions(readShape(options.largeReads, options.frames), () => socket);
    const socket: Socket = netConnect({
      host,
      port,
      localPort,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      allowHalfOpen: true,
      noDelay: true,
      ...(onread === undefined ? {} : { onread }),
    });
    const settle = (error: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.removeListener("connect", onConnect);
      socket.removeListener("error", onError);
      if (error === null) return resolve(socket);
      // The connect under way may still fail after this (an abort or the
      // timeout came first), and an 'error' without a listener is an
      // uncaught exception: one ECONNREFUSED ended a test process.
      socket.on("error", () => {});
      socket.destroy();
      reject(error);
    };
    const onConnect = () => settle(null);
    const onError = (cause: Error & { code?: string }) => {
      const code = cause.code ?? "EIO";
      const message = `Cannot dial ${what}: ${code}`;
      settle(
        code === "EADDRNOTAVAIL"
          ? new ConnectionExistsError(message, code, { cause })
          : new DialError(message, code, { cause }),
      );
    };
    const onAbort = () => settle(signal!.reason);
    const timer = setTimeout(
      () =>
        settle(new DialError(`Cannot dial ${what}: no answer within ${timeoutMs} ms`, "ETIMEDOUT")),
      timeoutMs,
    );
    socket.once("connect", onConnect);
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
