/**
 * Timeouts and limits of the socket primitives, each with its reason.
 *
 * @module
 */

/**
 * How long {@linkcode dialFrom} waits for a handshake, by default. Long
 * enough for a slow path with a lost SYN or two (Linux retransmits at 1 s
 * and 3 s); a hole-punching attempt passes its own, shorter timeout.
 */
export const DIAL_TIMEOUT_MS = 10_000;

/**
 * How long one wait for sockets made through FFI (pending dials, listeners)
 * holds a thread of Deno's blocking pool, which async file I/O shares. All
 * of them share one poll(), so at most one thread is held (with 256 dials
 * pending and a listener open, a file read still took under 1 ms); short
 * slices bound how late a new dial joins a wait already under way, and how
 * long a cancelled one keeps its socket. (One wait per dial in 1 s slices
 * made a file read take 7.9 s with 256 dials pending.)
 */
export const POLL_SLICE_MS = 20;

/** How long {@linkcode reflectFrom} waits for the whole answer, by default. */
export const REFLECT_TIMEOUT_MS = 5_000;

/**
 * How long {@linkcode reflectFrom} waits, after the answer, for the server
 * to close the connection first. The side that closes first keeps the
 * connection in TIME_WAIT (60 s on Linux), and while it does, the same port
 * cannot connect to the same server again; the server asked with
 * `Connection: close` should close within a round trip.
 */
export const REFLECT_CLOSE_GRACE_MS = 1_000;

/**
 * Bytes a {@linkcode socketPipe} readable buffers before it pauses the
 * socket: a few kernel reads' worth, enough to keep a 1 MiB reader fed.
 */
export const PIPE_READ_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Size of each read on sockets this module makes (dialed, accepted). The
 * `node:net` default, 64 KiB per read, caps a socket at about 1 GB/s here;
 * 1 MiB reads reach about 2 GB/s, larger ones gain no more. Reads that fill
 * less than an eighth of it are copied out, so small messages do not each
 * hold a whole buffer.
 */
export const READ_BUFFER_BYTES = 1024 * 1024;

/**
 * Sockets this module makes through FFI give up once data they sent has gone
 * unacknowledged this long (TCP_USER_TIMEOUT, Linux): a direct connection
 * whose NAT mapping died, or whose peer vanished without a reset, then fails
 * with ETIMEDOUT, and the transfer falls back to the relay, in 15 s instead
 * of the transfer's 60 s stall timeout. A peer that is merely slow to read
 * still acknowledges (its window closes, and window probes are answered);
 * 15 s leaves room for five back-to-back retransmissions on a lossy link.
 */
export const UNACKED_TIMEOUT_MS = 15_000;
