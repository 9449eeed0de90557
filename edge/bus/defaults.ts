/**
 * Every limit and timeout of the pairing bus and the nameplate registry, with
 * units in the name and the reason beside each.
 *
 * @module
 */

/**
 * The largest message a bus carries, encoded (JSON plus raw `Uint8Array`
 * bytes). A relayed piece is at most 64 KiB; four times that leaves room for
 * envelopes while one Deno KV commit (800 KiB at most) still holds a message.
 */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * Bytes of one Deno KV value holding part of a message: KV refuses values over
 * 64 KiB, and the V8 serialization of a `Uint8Array` adds a few bytes.
 */
export const KV_PART_BYTES = 60_000;

/**
 * Bytes and messages one Deno KV commit carries at most: under the 800 KiB and
 * 1000-mutation limits of an atomic operation, with margin for keys.
 */
export const KV_BATCH_BYTES = 512 * 1024;
export const KV_BATCH_PARTS = 256;

/**
 * How long a message stays in Deno KV: a reader that falls further behind
 * than this loses messages, as a BroadcastChannel listener would.
 */
export const KV_MESSAGE_TTL_MS = 60_000;

/**
 * How often a `kv:PATH` bus also reads the head key: `watch` on a SQLite file
 * does not see writes made by another process, a plain read does.
 */
export const KV_FILE_POLL_INTERVAL_MS = 50;

/**
 * How long a registry entry lives unless its owner reserves it again: long
 * enough that a refresh every third of it survives a slow store, short enough
 * that a crashed instance's nameplates come back within a minute.
 */
export const REGISTRY_TTL_MS = 60_000;

/**
 * How long the BroadcastChannel registry waits for a conflicting claim before
 * it calls a nameplate its own. Must exceed the broadcast delay between any
 * two instances (under a millisecond in one process; Deploy regions may take
 * a few hundred): a person reads the code out anyway.
 */
export const BROADCAST_SETTLE_MS = 500;

/**
 * How long the broadcast bus keeps its anchor channel open after the last bus
 * closed (see `broadcast.ts`): longer than Deno takes to end a receive loop,
 * short enough that a process exits promptly once done.
 */
export const BROADCAST_ANCHOR_LINGER_MS = 100;

/** Redis reconnect back-off once connected: grows per retry up to this cap. */
export const REDIS_RECONNECT_MAX_MS = 2_000;

/** How long `close()` lets in-flight Redis commands finish before it drops the socket. */
export const REDIS_CLOSE_TIMEOUT_MS = 1_000;

/** How long the first Redis connection may take before `redisBus()` fails. */
export const REDIS_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Attempts at one Deno KV operation that SQLite refuses with "database is
 * locked" (two handles or processes writing at once), with a random back-off
 * of up to 2^attempt ms capped at 50: about 2 s in all before giving up.
 */
export const KV_BUSY_ATTEMPTS = 50;

/**
 * How long a batch whose commit failed (busy beyond {@linkcode KV_BUSY_ATTEMPTS},
 * KV unreachable) is tried again, with pauses from 100 ms doubling to 5 s,
 * before its messages are dropped: the pairing and mailbox messages on the
 * bus wait that long rather than being lost to a passing failure, and a
 * client gives up on a silent peer after about as long.
 */
export const KV_FLUSH_RETRY_MS = 30_000;
