/**
 * Whether a primed SYN (PRIMER_TTL) reaches the other side's NAT: priming
 * helps only where it expires short of it, since a SYN that reaches that NAT
 * while the NAT has a mapping for it spoils the mapping.
 *
 * @module
 */

import { DialError, dialFrom } from "../net/dial.ts";
import { PRIMER_PROBE_TIMEOUT_MS, PRIMER_TTL } from "./defaults.ts";

/** The probe's port: discard (RFC 863), where no mapping of the punch can be. */
const PROBE_PORT = 9;

/**
 * Sends one SYN with PRIMER_TTL to `host`'s discard port, from a port of its
 * own: true when it reached `host` (a reset or a connection within
 * PRIMER_PROBE_TIMEOUT_MS), false when it expired on the way (an ICMP time
 * exceeded) or nothing came back in time (routers limit how many ICMP
 * errors they send: the lab's core router answered the first few primed
 * SYNs of a minute only).
 *
 * Where the other NAT is the next router past this side's NAT (two routers
 * on one network), a primed SYN to the other side's mapping passes that
 * NAT's connection tracking, which then holds it as a simultaneous open, and
 * expires there instead of reaching the other side. From then on the NAT
 * finds every later SYN of either side out of window and lets none through,
 * for minutes: priming there ends all punching (seen in the lab's rst-nat,
 * about one trial in five). Priming follows a reset from that NAT, which
 * therefore answers the probe's SYN, to a port no mapping holds, with a
 * reset of its own, and nothing is spoiled.
 */
export async function reachesWithPrimerTtl(host: string, signal: AbortSignal): Promise<boolean> {
  try {
    const socket = await dialFrom({
      localPort: 0,
      host,
      port: PROBE_PORT,
      synTtl: PRIMER_TTL,
      timeoutMs: PRIMER_PROBE_TIMEOUT_MS,
      signal,
    });
    socket.destroy();
    return true;
  } catch (error) {
    return error instanceof DialError && error.code === "ECONNREFUSED";
  }
}
