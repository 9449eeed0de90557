/**
 * Sizes of the transfer layer, with the reason for each.
 *
 * @module
 */

/**
 * Payload bytes per data message (one record). Every record costs a file
 * read or write, a cipher setup and a few promises (~100 µs of CPU here), so
 * 1 MiB records spend almost all their time on bytes; the relay still moves
 * them as 64 KiB WebSocket messages.
 */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * The receiver's flow-control window: unacknowledged payload bytes the
 * sender may have in flight. Eight chunks keep the pipe full on loopback and
 * typical links while each process stays well under 64 MB; the relay buffers
 * at most this much per pair.
 */
export const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * The receiver grants credit back in batches of this many bytes: one credit
 * record per chunk cost as much CPU as a tenth of the data path; a quarter
 * window keeps the sender's pipe full. The sender never waits on a smaller
 * debt: it is blocked only once more than the window less a chunk is owed.
 */
export const CREDIT_BATCH_BYTES = WINDOW_BYTES / 4;

/**
 * At the end of a file, the receiver grants what it owes if it has granted
 * nothing for this long, so that the sender, whose only news of the
 * receiver is credit, never sees {@linkcode STALL_TIMEOUT_MS} pass while many
 * small files flow. A credit record after every file instead cost 5000
 * records for 5000 small files.
 */
export const CREDIT_QUIET_MS = 1_000;

/**
 * The receiver keeps this many directories of the output tree open between
 * files (lib/transfer/_fs.ts), so that each file is created relative to its
 * directory's handle without opening every directory above it again. A
 * sorted manifest keeps a directory's files together except where its
 * subdirectories come between, so a few would do; 64 descriptors stay far
 * below any process's limit.
 */
export const MAX_OPEN_DIRS = 64;

/**
 * Once the receiver accepted (the resume exchange, then the data), either
 * side gives up after this long without a message from the other: a
 * direct connection whose NAT mapping died, or a relay that stopped
 * forwarding, must not leave a transfer hanging for ever. Long enough for
 * a slow disk to catch up; the prompt before accepting is not timed.
 */
export const STALL_TIMEOUT_MS = 60_000;

/**
 * A side that hashes held bytes before resuming (lib/transfer/resume.ts),
 * which takes minutes for a large file on a slow disk, sends a `hashing`
 * keepalive this often, so that the other side, waiting, can keep its
 * {@linkcode STALL_TIMEOUT_MS}; and where a dead connection makes a send
 * fail (a reset, or `TCP_USER_TIMEOUT` on Linux), this side stops hashing
 * at once. A quarter of the stall timeout, so that a keepalive held up on
 * a slow path is not taken for a dead connection.
 */
export const HASHING_KEEPALIVE_MS = STALL_TIMEOUT_MS / 4;
