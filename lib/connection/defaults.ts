/**
 * Every timeout and limit of a connection, with the reason for each
 * (docs/protocol/connection.md, "Timings").
 *
 * @module
 */

/**
 * The flow-control window: bytes of messages one side may have sent that
 * the other has not taken yet. It bounds what the sender keeps for sending
 * again, what the receiver buffers, and what the relay holds per pair (its
 * cap is twice this). Eight 1 MiB records keep a loopback or LAN path full.
 */
export const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * The least a message counts against the window, however small it is: so
 * that a stream of tiny messages (a file_end for each of 400 000 empty
 * files) cannot put hundreds of thousands of records in flight, whose
 * framing alone overran the relay's 16 MiB queue. 8 MiB at 512 bytes is at
 * most 16 384 records in flight.
 */
export const MESSAGE_MIN_CHARGE_BYTES = 512;

/**
 * The receiver acknowledges taken messages in batches of this many bytes
 * while it keeps up, and at once when it has nothing left to read: one
 * acknowledgement per 1 MiB record cost a tenth of the data path's CPU; a
 * quarter window keeps the sender's pipe full.
 */
export const ACK_BATCH_BYTES = WINDOW_BYTES / 4;

/**
 * A side that has sent nothing on a carrier for this long sends a ping on
 * it, so that the other side can tell a quiet carrier from a dead one.
 */
export const KEEPALIVE_MS = 5_000;

/**
 * A carrier on which nothing (not even a ping) has come for this long is
 * dead: four keepalives missed. A direct one is dropped and the messages go
 * on over the relay. A 1 MiB record still arrives within it down to about
 * 0.5 Mbit/s.
 */
export const CARRIER_STALL_MS = 20_000;

/**
 * A `send()` that has waited this long for the window to open, while the
 * other side is alive (pings come), fails with `stalled`: the other side
 * takes nothing. A slow disk writes 8 MiB well within it.
 */
export const FLOW_STALL_MS = 60_000;

/** How long the other side's hello may take after the key is confirmed. */
export const HELLO_WAIT_MS = 10_000;

/**
 * `close()` waits this long for the other side to take the last messages
 * and end its own direction, then leaves anyway.
 */
export const CLOSE_WAIT_MS = 5_000;

/**
 * After a broken direct connection or a failed search, the sender starts
 * the next round after this, doubling with each round that finds nothing:
 * a cut that heals is met soon, a NAT that never lets a hole through costs
 * one round a minute.
 */
export const SEARCH_RETRY_MIN_MS = 1_000;

/** The longest pause between two search rounds. */
export const SEARCH_RETRY_MAX_MS = 60_000;

/**
 * The first search round after a failed one that began without a fallback
 * waits this long: a symmetric NAT rarely changes its mind within seconds.
 */
export const SEARCH_RETRY_AFTER_MISS_MS = 5_000;

/**
 * How long a round waits for the other side's candidates once it has sent
 * its own: the other side answers at once unless it is in a round already.
 */
export const CANDIDATES_WAIT_MS = 10_000;
