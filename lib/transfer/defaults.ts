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
 * The receiver keeps this many directories of the output tree open between
 * files (lib/transfer/_fs_handles.ts), so that each file is created
 * relative to its directory's handle without opening every directory above
 * it again. A sorted manifest keeps a directory's files together except
 * where its subdirectories come between, so a few would do; 64 descriptors
 * stay far below any process's limit.
 */
export const MAX_OPEN_DIRS = 64;

/**
 * At most this many partial files are claimed for one receive; each stays
 * open, holding its lock, until it is written or given back. A receive
 * leaves at most one new partial file behind when it fails, so real trees
 * hold a few; 256 descriptors stay well below the 1024 a process commonly
 * may open. Partial files beyond it are left for a later receive.
 */
export const MAX_HELD_PARTIALS = 256;

/**
 * A partial file (`.punch-<hash>.partial`) that no receive has written for
 * this long, and that the offer being received does not name, is removed
 * when a receive reads its directory: a week, so that a transfer retried
 * after a weekend or a trip still resumes, while the bytes of one that was
 * abandoned (a crash, a source deleted, a mind changed) do not hold disk
 * space for ever.
 */
export const PARTIAL_MAX_AGE_MS = 7 * 24 * 3600_000;

/**
 * A temporary file (`.punch-<random>.part`) that no receive holds locked
 * and that nothing has written for this long is removed when a receive
 * reads its directory. No receive can resume it (its name is random: one
 * that lost the race for a partial name, or punch before partial files were
 * written in place, crashed), so a day is only a margin for a receive of
 * that older punch still running, which never pauses writing for longer
 * than its 60 s stall timeout.
 */
export const TEMP_MAX_AGE_MS = 24 * 3600_000;

/**
 * The receiver's synchronous file work around the answer (claiming partial
 * files, creating directories) gives the event loop a turn after this much,
 * so that keepalives, stall timers and the connection's reads are not held
 * up: with a garbage collector's pause on top (20–60 ms with an offer of a
 * million entries in memory, measured here) turns stay about 50 ms apart,
 * far below any timeout on the other side.
 */
export const SYNC_SLICE_MS = 25;

/**
 * The most entries a manifest may list. It bounds the objects and checks a
 * peer can make the receiver create, is far above any real folder, and keeps
 * file indexes well inside the u32 of data messages.
 */
export const MAX_MANIFEST_ENTRIES = 1_000_000;

/**
 * The most bytes an encoded manifest may take: 64 MiB. An entry takes about
 * 50 bytes plus its path, so with paths of 30 to 40 bytes this limit binds
 * first, near 750,000 entries; 10^6 entries fit with paths of up to about
 * 15 bytes (`d123/f456.txt`).
 */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/**
 * How deep JSON may nest in a manifest: the manifest, `entries` and an
 * entry are 3 levels; the rest leaves room for unknown fields of a later
 * version (skipped, never kept). The parser keeps one small number per
 * level, so this bounds nothing but junk.
 */
export const MAX_MANIFEST_DEPTH = 32;

/**
 * The most JSON values (objects, arrays, strings, numbers, literals) a
 * manifest may hold, counting those of unknown fields: an entry is 5 today
 * (the object and its four fields), so ten per entry of the largest
 * manifest leaves room for later fields, and 64 MiB of tiny junk values
 * (`0,0,0,…`, 33 million) is refused a third of the way in.
 */
export const MAX_MANIFEST_VALUES = 10 * MAX_MANIFEST_ENTRIES;

/**
 * Long synchronous work on a large manifest (scanning, encoding, decoding,
 * checking it against the disk) gives the event loop a turn at least this
 * often, so that sockets, their pings, keepalives and timers run meanwhile:
 * 10^6 entries take seconds, and a relay or rendezvous connection must not
 * look dead.
 */
export const YIELD_EVERY_MS = 50;

/**
 * A side waits at most this long for its `error` message to leave before it
 * stops: a peer that stopped reading must not hold a side that is already
 * failing, nor a user who pressed Ctrl-C. Two seconds is long for a message
 * to leave a socket with room, short for a person.
 */
export const ERROR_SEND_TIMEOUT_MS = 2_000;

/**
 * Text of at most this many bytes (`punch send --text`) is shown by
 * `punch receive` as it arrives, without asking, as magic-wormhole prints
 * text: a message, a command, a link or a key fits many times over. It is
 * held in memory until its digest matches, so nothing unchecked is shown;
 * 64 KiB is also about as much as a terminal's scrollback shows usefully.
 * Longer text is a document or a log, which a user wants as a file, so it is
 * offered as one (`text.txt`), asked about like any file.
 */
export const MAX_SHOWN_TEXT_BYTES = 64 * 1024;
