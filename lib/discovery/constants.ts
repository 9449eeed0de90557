/**
 * Fixed addresses, timeouts and limits of LAN discovery, each with its
 * reason. See docs/protocol/discovery.md.
 *
 * @module
 */

/**
 * IPv4 multicast group that queries are sent to.
 *
 * 239.255.0.0/16 is the IPv4 organization-local scope (RFC 2365): routers
 * do not forward it off the site, and it needs no registration. The last two
 * bytes spell "PN" in ASCII (0x50 0x4e).
 */
export const DISCOVERY_GROUP = "239.255.80.78";

/**
 * UDP port that announcers listen on and queries are sent to.
 *
 * 0x504e ("PN"). Below 32768, so outside the ephemeral ranges of Linux
 * (32768–60999), macOS and Windows (49152–65535): an outgoing socket of some
 * other program cannot be holding it when an announcer binds.
 */
export const DISCOVERY_PORT = 20558;

/** Hop limit of a query: one link, never past a router. */
export const QUERY_TTL = 1;

/** How long {@linkcode discover} waits for a first answer, by default. */
export const DISCOVER_TIMEOUT_MS = 2_000;

/**
 * How long {@linkcode discover} keeps listening after the first answer, so
 * that answers by other paths (loopback, another interface, another server
 * holding the same nameplate) can be ranked with it. Answers on a LAN come
 * within a few milliseconds.
 */
export const ANSWER_GRACE_MS = 150;

/**
 * When a query is sent, in milliseconds from the start, while no answer has
 * come: UDP may drop a datagram, so it is repeated twice with backoff.
 */
export const QUERY_SCHEDULE_MS: readonly number[] = [0, 250, 750];

/** Largest datagram either side reads; anything longer is ignored unread. */
export const MAX_MESSAGE_BYTES = 128;

/**
 * Answers an announcer may send in a burst. A query is answered only when
 * it names a nameplate the announcer holds, so honest traffic is a handful
 * of answers per receiver.
 */
export const ANSWER_BURST = 16;

/** Answers an announcer may send per second once its burst is spent. */
export const ANSWERS_PER_SECOND = 8;

/**
 * How often an announcer looks for new network interfaces to join the group
 * on (a laptop that joins Wi-Fi after `punch send` started).
 */
export const INTERFACE_RESCAN_MS = 5_000;
