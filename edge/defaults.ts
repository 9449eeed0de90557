/**
 * Every limit and timeout of the rendezvous, with units in the name and the
 * reason beside each. {@linkcode createRendezvous} takes overrides (tests use
 * short timeouts); nothing else in `edge/` hard-codes a number.
 *
 * @module
 */

/** The rendezvous' limits; every field can be overridden per instance. */
export interface Limits {
  /** A socket must allocate or claim this soon after connecting, or it is closed. */
  helloTimeoutMs: number;
  /** An allocated nameplate nobody claims is freed after this. */
  nameplateTtlMs: number;
  /** WebSocket ping interval; a peer that misses a pong for this long is closed. */
  idleTimeoutSeconds: number;
  /** Connections one instance holds at most; beyond, new ones get `server_busy`. */
  maxConnections: number;
  /** Nameplates one instance holds at most. */
  maxNameplates: number;
  /** Mailbox messages one side may add per session. */
  maxMailboxMessages: number;
  /** Bytes the relay lets queue towards one side before it drops the sender. */
  relayMaxBufferedBytes: number;
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
  // About 40 KiB of state per idle socket: 50 000 stays under 2 GiB.
  maxConnections: 50_000,
  // Four-digit nameplates fill first; 100 000 keeps codes at most 8 digits
  // long with room to spare for random allocation.
  maxNameplates: 100_000,
  // PAKE, confirmation and direct-path candidates need a handful; 256 leaves
  // room for future phases while a chatty client cannot use the mailbox as a
  // free message bus.
  maxMailboxMessages: 256,
  // End-to-end flow control keeps a well-behaved sender's bytes in flight at
  // its window (8 MiB); twice that is a sender ignoring the window.
  relayMaxBufferedBytes: 16 * 1024 * 1024,
});

/** Digits of the first nameplates tried; codes start short and grow when busy. */
export const NAMEPLATE_MIN_DIGITS = 4;

/** Random picks per length before a longer nameplate is tried. */
export const NAMEPLATE_TRIES_PER_LENGTH = 16;
