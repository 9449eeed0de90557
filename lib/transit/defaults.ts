/**
 * Timings of hole punching and of falling back to the relay, each with its
 * reason.
 *
 * @module
 */

/**
 * Mean pause before dialing a candidate again after an attempt that was
 * refused or failed (an attempt that timed out is followed at once; see
 * the dial loop in punch.ts). Each pause is drawn at random from 0 to twice
 * this: NATs that answer an unsolicited SYN with a RST defeat fixed
 * intervals (1–16 of 20 tries succeeded at 50–300 ms in the lab) while
 * randomized ones met in 18–20 of 20.
 */
export const DIAL_INTERVAL_MS = 250;

/**
 * The TTL of a receiver's SYN once the other side's NAT has answered one
 * with a reset: 2 leaves this host and its NAT (one hop each) and expires
 * at the first router past it, far from the other NAT, which would answer
 * with another reset and end this NAT's mapping too. Behind two NATs (a
 * home router behind a carrier's), the SYN dies at the second, whose
 * mapping it then does not open: the dialing works as without it there.
 */
export const PRIMER_TTL = 2;

/**
 * A receiver primes (PRIMER_TTL) only where a dial was refused this soon:
 * two SYNs then cannot be timed to cross, since they must leave within
 * the one-way time between the NATs, about half of this, and the two
 * sides' clocks agree (over the relay) only to a few milliseconds. Where
 * a reset takes longer, timed and retried dials met in 20 of 20 trials of
 * the lab's 20 ms scenario, and priming there met in 5 of 10.
 */
export const PRIMER_MAX_RESET_MS = 8;

/**
 * How long a receiver waits for the reset that tells its primed SYNs would
 * reach the other side's NAT (_primer.ts): that NAT has just answered a SYN
 * within PRIMER_MAX_RESET_MS, and answers the probe as soon; the rest is
 * room for a busy machine.
 */
export const PRIMER_PROBE_TIMEOUT_MS = 50;

/**
 * How many of its dials refused within PRIMER_MAX_RESET_MS the sender
 * follows with a short pause (PRIMER_MAX_RESET_MS plus 0 to twice
 * PRIMER_PROBE_TIMEOUT_MS) instead of the usual one: the receiver primes at
 * once after such a reset, and the sender's SYN need only come after it.
 */
export const SENDER_QUICK_RETRIES = 3;

/** One dial attempt waits this long for its SYN-ACK before the next round; a 1 s cap kept RST-answering NATs working. */
export const DIAL_ATTEMPT_TIMEOUT_MS = 1000;

/**
 * Each attempt to a candidate that timed out waits twice as long next time,
 * up to this: fewer SYNs to a peer that is not punching yet, and a link
 * that the relay transfer loads (an uplink with deep buffers, the NAT lab's
 * 80 ms lossy link on a busy machine) can hold a SYN for over a second.
 * Refused attempts (RST) do not grow it.
 */
export const DIAL_ATTEMPT_MAX_TIMEOUT_MS = 4000;

/**
 * How long both sides keep punching before giving up and staying on the
 * relay. Ten seconds covers the two sides starting a few seconds apart and
 * 80 ms RTT links with loss, and costs nothing: the transfer runs on the
 * relay meanwhile.
 */
export const PUNCH_WINDOW_MS = 10_000;

/** A connection must finish the transit handshake this soon, or it is closed. */
export const HANDSHAKE_TIMEOUT_MS = 3000;

/**
 * How long a side waits for the rendezvous to tell P's public address. Three
 * seconds: without it the side still offers its LAN candidates, and the
 * transfer runs on the relay meanwhile.
 */
export const REFLECT_WAIT_MS = 3000;
