/**
 * Limits of the rendezvous client, with units in the name and the reason
 * beside each. They bound what the other side (or a stranger who claimed a
 * nameplate) can make this side hold or wait for before the key exchange
 * has proved it knows the code.
 *
 * @module
 */

/**
 * Relayed bytes this side holds unread, before and after the relay is
 * handed to the secure channel (`frames()`). An honest peer never has more
 * than the transfer's flow-control window (8 MiB, lib/transfer/defaults.ts)
 * plus a record (1 MiB) in flight, and the channel reads as they come; twice
 * the window is the relay's own limit per side (`relayMaxBufferedBytes`,
 * edge/defaults.ts). Beyond it the other side is ignoring flow control, or
 * is a stranger streaming at a waiting sender, and the session fails.
 */
export const RELAY_QUEUE_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Mailbox messages this side holds for phases nobody reads yet. A session
 * uses a handful (pake, confirm, candidates); the server lets each side add
 * 256 (`maxMailboxMessages`), so a server that does not enforce that cannot
 * grow this side's memory instead.
 */
export const MAILBOX_QUEUE_MAX_MESSAGES = 256;

/**
 * Once paired, the key exchange and key confirmation must finish this soon.
 * They take two round trips, and the receiver has typed the code already
 * while the sender answers at once, so anything slower is a claimant that
 * stalls (or a dead network). Longer than the server's own deadline for a
 * claimant's first message (`pakeTimeoutMs`, 10 s), so that a rendezvous
 * that re-opens the nameplate does so first.
 */
export const HANDSHAKE_TIMEOUT_MS = 30_000;
