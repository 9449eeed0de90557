/**
 * Every limit and timeout of the rendezvous, with units in the name and the
 * reason beside each. {@linkcode createRendezvous} takes overrides (tests use
 * short timeouts); nothing else in `edge/` hard-codes a number.
 *
 * @module
 */

import { GC_EVERY_BYTES } from "../lib/memory.ts";
import { MAX_BINARY_FRAME_BYTES } from "../lib/rendezvous/messages.ts";

/** The rendezvous' limits; every field can be overridden per instance. */
export interface Limits {
  /** A socket must allocate or claim this soon after connecting, or it is closed. */
  helloTimeoutMs: number;
  /** An allocated nameplate nobody claims is freed after this. */
  nameplateTtlMs: number;
  /** WebSocket ping interval; a peer that misses a pong for this long is closed. */
  idleTimeoutSeconds: number;
  /**
   * Connections one instance holds at most; beyond, the oldest that has not
   * allocated or claimed yet makes room, or the new one is refused. The
   * hardened transport (`transport.ts`) also stays below the process's
   * descriptor limit ({@linkcode DESCRIPTOR_RESERVE_MIN}).
   */
  maxConnections: number;
  /** Connections one client address (IPv4, or IPv6 /64) holds at most (`addresses.ts`). */
  maxConnectionsPerAddress: number;
  /**
   * The hardened transport closes a connection whose HTTP request head has
   * not arrived this long after it was accepted.
   */
  requestHeadTimeoutMs: number;
  /** Nameplates one instance holds at most. */
  maxNameplates: number;
  /** Mailbox messages one side may add per session. */
  maxMailboxMessages: number;
  /**
   * Once paired, a receiver must add its first mailbox message (its PAKE
   * message) this soon, or it is dropped; having made no guess, it leaves
   * the nameplate open for the next claim (`unpaired`).
   */
  pakeTimeoutMs: number;
  /** Claims one client address may make at once (`claims.ts`). */
  claimBurst: number;
  /** One claim comes back to an address's budget this often. */
  claimRefillMs: number;
  /**
   * Failed claims per minute, across all addresses, that make a sweep:
   * then an address that failed lately claims once per `sweepRetryMs`, and
   * new nameplates grow a digit for each tenfold of this.
   */
  sweepFailedClaimsPerMinute: number;
  /** During a sweep, how often an address that failed lately may claim. */
  sweepRetryMs: number;
  /**
   * Bytes the relay lets queue towards one side before it drops the sender:
   * in the receiving socket, and, across instances, on the bus between them.
   */
  relayMaxBufferedBytes: number;
  /** A nameplate's registry entry lives this long unless reserved again (every third of it). */
  registryTtlMs: number;
  /** A claim forwarded to the instance holding the nameplate waits this long for its answer. */
  claimTimeoutMs: number;
  /** Instances linked by a pair tell each other they are alive this often. */
  instanceHeartbeatMs: number;
  /** A linked instance not heard from for this long is presumed gone with its sockets. */
  instanceTimeoutMs: number;
}

/** The limits a rendezvous runs with unless told otherwise. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  // Long enough for a slow TLS handshake on a phone link; short enough that
  // sockets which never speak cannot pile up.
  helloTimeoutMs: 30_000,
  // A code is read out to a person who may answer later; after an hour it is
  // surely stale, and a stale nameplate only helps a guesser.
  nameplateTtlMs: 60 * 60_000,
  // Under typical NAT UDP/TCP idle timeouts (≥ 2 min), so the path stays open
  // while a sender waits, and dead peers are noticed within a minute.
  idleTimeoutSeconds: 60,
  // About 40 KiB of state per idle socket: 50 000 stays under 2 GiB. Where
  // the process may open fewer descriptors (commonly 1024), the transport's
  // cap is lower.
  maxConnections: 50_000,
  // A household or office behind one address runs a few transfers at once,
  // two sockets each at most; 64 leaves room for a busy NAT, while one
  // address holds at most 64 of the ~900 connections a 1024-descriptor
  // process has room for.
  maxConnectionsPerAddress: 64,
  // A client sends its upgrade request as soon as it has connected; ten
  // seconds cover a slow link, and a socket that says nothing holds its
  // descriptor no longer than that.
  requestHeadTimeoutMs: 10_000,
  // Four-digit nameplates fill first; 100 000 keeps codes at most 8 digits
  // long with room to spare for random allocation.
  maxNameplates: 100_000,
  // PAKE, confirmation and direct-path candidates need a handful; 256 leaves
  // room for future phases while a chatty client cannot use the mailbox as a
  // free message bus.
  maxMailboxMessages: 256,
  // A receiver sends its PAKE message as soon as it is paired: one trip,
  // under a second on a bad link. A claimant that says nothing for ten
  // seconds holds a sender no longer; the client's own deadline for the
  // whole key exchange (30 s, lib/rendezvous/defaults.ts) is longer.
  pakeTimeoutMs: 10_000,
  // A receiver claims once, twice after a typo in the nameplate; a few
  // receivers behind one NAT claim a few times an hour. A sweep from one
  // address then gets 6 claims and one every 10 s: under 0.5 % of the 9000
  // four-digit nameplates in a minute.
  claimBurst: 6,
  claimRefillMs: 10_000,
  // Honest claims fail rarely (a mistyped nameplate, a wrong code); sixty a
  // minute on one instance is a sweep, or a crowd that can bear longer codes.
  sweepFailedClaimsPerMinute: 60,
  // Long enough that a sweep over many addresses gets about one guess per
  // address a minute; a person who mistyped waits a minute only during one.
  sweepRetryMs: 60_000,
  // End-to-end flow control keeps a well-behaved sender's bytes in flight at
  // its window (8 MiB); twice that is a sender ignoring the window.
  relayMaxBufferedBytes: 16 * 1024 * 1024,
  // Long enough that a refresh every 20 s survives a slow store, short enough
  // that a crashed instance's nameplates come back within a minute.
  registryTtlMs: 60_000,
  // A bus round trip takes milliseconds (a KV watch across regions, under a
  // second); five seconds means the holder is gone, not slow.
  claimTimeoutMs: 5_000,
  // Cheap (one small message per linked instance), and frequent enough that
  // a dead instance is noticed long before a person gives up.
  instanceHeartbeatMs: 5_000,
  // Three missed heartbeats plus slack for a stalled event loop.
  instanceTimeoutMs: 20_000,
});

/** Digits of the first nameplates tried; codes start short and grow when busy. */
export const NAMEPLATE_MIN_DIGITS = 4;

/**
 * The claim budgets (`claims.ts`) remember this many addresses, the least
 * recently used forgotten first: ~100 bytes each, 6.5 MB in all.
 */
export const MAX_TRACKED_ADDRESSES = 65_536;

/**
 * The failure rate of claims decays with this time constant: it counts about
 * the failures of the last minute, and a sweep's rate falls below the
 * threshold within a few minutes of the sweep's end.
 */
export const SWEEP_WINDOW_MS = 60_000;

/** Random picks per length before a longer nameplate is tried. */
export const NAMEPLATE_TRIES_PER_LENGTH = 16;

/**
 * Across instances, the receiving instance acknowledges relayed bytes in
 * batches of this many, so the sending instance knows how much is still on
 * the bus: small against the 16 MiB cap, large enough that acks cost nothing.
 */
export const RELAY_ACK_BYTES = 256 * 1024;

/**
 * Across instances, a relayed WebSocket message crosses the bus in pieces of
 * at most this many bytes: with its envelope, a piece stays well under the
 * bus's largest message (edge/bus/defaults.ts), which fits one Deno KV commit.
 */
export const BUS_RELAY_PIECE_BYTES = 64 * 1024;

/**
 * New connections between two of the hub's young-generation collections
 * (`lib/memory.ts`; only with `--expose-gc`, as `deno task serve` and the
 * compiled binary run). A connection's upgrade, greeting and pairing leave
 * ~16 KiB of garbage, and without collections V8 grows its young generation
 * to its 48 MB maximum. Peak RSS per instance in `deno task load` (10 000
 * waiting sessions, 250 pairings/s): 208 MB collecting every 256 connections,
 * 191 MB every 128, 179 MB every 64, with the same pairing latency and CPU
 * (a collection takes ~0.5 ms). It was every 256, over the 200 MB target,
 * from when the meter's period doubled for the data path until this count
 * was tied to it.
 */
export const CONNECTIONS_PER_COLLECTION = 64;
/**
 * What a new connection and a text message count towards the hub's
 * collections, which also count relayed bytes: a share of the meter's period
 * ({@linkcode GC_EVERY_BYTES}) such that {@linkcode CONNECTIONS_PER_COLLECTION}
 * connections, or eight times as many text messages, make one collection.
 */
export const CONNECTION_GARBAGE_BYTES = GC_EVERY_BYTES / CONNECTIONS_PER_COLLECTION;
export const TEXT_MESSAGE_GARBAGE_BYTES = CONNECTION_GARBAGE_BYTES / 8;

/**
 * Descriptors the hardened transport keeps out of its connection cap for
 * everything else the process opens: the bus, its listener, and in an
 * embedded rendezvous the sender's files, transit sockets and discovery.
 * The cap is the descriptor limit less the larger of this and
 * {@linkcode DESCRIPTOR_RESERVE_SHARE} of the limit: 896 connections at the
 * common 1024.
 */
export const DESCRIPTOR_RESERVE_MIN = 64;
/** The share of the descriptor limit kept in reserve, see {@linkcode DESCRIPTOR_RESERVE_MIN}. */
export const DESCRIPTOR_RESERVE_SHARE = 1 / 8;

/**
 * At the cap, connections closed to make room may hold their descriptors a
 * while longer (a WebSocket's closing handshake takes up to
 * {@linkcode WEBSOCKET_CLOSE_GRACE_MS}): at most this many beyond the cap,
 * half the smallest reserve, before new connections are refused instead.
 */
export const EVICTING_MAX_CONNECTIONS = DESCRIPTOR_RESERVE_MIN / 2;

/**
 * After a failed accept (EMFILE: the process is out of descriptors), the
 * accept loop waits this long before the next: long enough not to spin on
 * an error that lasts, short enough that connections waiting in the
 * kernel's backlog are served soon after descriptors come free.
 */
export const ACCEPT_ERROR_PAUSE_MS = 100;

/**
 * Largest HTTP request head the hardened transport reads: punch's upgrade
 * request is about 250 bytes and a browser's under 2 KiB; 8 KiB is what
 * common servers allow. A longer head gets 431 and the connection closed.
 */
export const MAX_REQUEST_HEAD_BYTES = 8 * 1024;

/**
 * Largest WebSocket message the hardened transport accepts, checked at each
 * frame's header before its payload is read (a longer one closes the socket
 * with 1009): the protocol's largest message, a relayed binary one of
 * {@linkcode MAX_BINARY_FRAME_BYTES}; a text message is at most 64 Ki UTF-16
 * code units, 192 KiB of UTF-8. Deno's own WebSocket (`Deno.serve`) buffers
 * up to 64 MiB before anyone can check.
 */
export const MAX_WEBSOCKET_MESSAGE_BYTES = MAX_BINARY_FRAME_BYTES;

/**
 * Each connection's read buffer in the hardened transport, held while it
 * waits: 4 KiB holds every text message punch sends; a larger frame is read
 * straight into a buffer of its own size. 50 000 idle sockets hold 200 MiB.
 */
export const WEBSOCKET_READ_BUFFER_BYTES = 4 * 1024;

/**
 * Bytes a hardened WebSocket may have queued to send before it is dropped:
 * the hub already drops a relay sender at 16 MiB queued towards its peer
 * (`relayMaxBufferedBytes`), so beyond twice that is a client that makes the
 * server answer (pings, mailbox traffic) and never reads.
 */
export const WEBSOCKET_MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

/** After sending a close frame, how long the transport waits for the client's before it hangs up. */
export const WEBSOCKET_CLOSE_GRACE_MS = 1_000;

/**
 * Parses `name=value` overrides of {@linkcode DEFAULT_LIMITS}, from
 * `punch serve --limit` or the `PUNCH_LIMITS` environment variable (items
 * separated by commas or spaces); throws `RangeError` naming a bad item.
 */
export function parseLimits(items: readonly string[]): Partial<Limits> {
  const limits: Partial<Record<keyof Limits, number>> = {};
  for (const item of items.flatMap((text) => text.split(/[\s,]+/)).filter(Boolean)) {
    const at = item.indexOf("=");
    const name = (at < 0 ? item : item.slice(0, at)) as keyof Limits;
    const value = at < 0 ? "" : item.slice(at + 1);
    if (!Object.hasOwn(DEFAULT_LIMITS, name)) {
      throw new RangeError(
        `Cannot set limit "${name}": no such limit (${Object.keys(DEFAULT_LIMITS).join(", ")})`,
      );
    }
    const number = Number(value);
    if (value.trim() === "" || !(number >= 0)) {
      throw new RangeError(`Cannot set limit ${name}: "${value}" is not a number from 0 up`);
    }
    limits[name] = number;
  }
  return limits;
}
