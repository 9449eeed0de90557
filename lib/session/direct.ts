/**
 * Going direct during a session: both sides exchange candidates through the
 * mailbox, punch, and move the running transfer onto the direct connection.
 *
 * Protocol flow (docs/protocol/transit.md):
 * - `add candidates {sealed}` and read the other side's.
 * - Punch for up to the window; the sender nominates.
 * - Both move their sending onto the nominated connection; once both
 *   directions moved, the relay carries nothing more unless the direct
 *   connection breaks (fallback.ts).
 *
 * @module
 */

import { MigratingChannel } from "../link/migrating.ts";
import { type Candidates, openCandidates, sealCandidates } from "../transit/candidates.ts";
import { NOMINATION_GRACE_MS } from "../transit/defaults.ts";
import { directChannel } from "../transit/handshake.ts";
import { Transit } from "../transit/punch.ts";
import { followMissedMove } from "./fallback.ts";
import type { Session } from "./session.ts";

/** Options for {@linkcode goDirect}. */
export interface GoDirectOptions {
  /** The rendezvous URL, asked for this side's public address. */
  server: string;
  /** Take no direct connection; still tell the other side. */
  relayOnly?: boolean;
  /** The local port P (0 picks one). */
  port?: number;
  /** Ask the router to forward a port to P (NAT-PMP). @default {true} */
  portMapping?: boolean;
  /** Called when the transfer moved onto a direct connection. */
  onDirect?: (address: string) => void;
  /** Called with a reason when no direct connection was found. */
  onRelay?: (reason: string) => void;
  /** Stops punching (for example when the transfer ended on the relay). */
  signal?: AbortSignal;
}

/** The outcome of {@linkcode goDirect}. */
export type DirectOutcome = { path: "direct"; address: string } | { path: "relay"; reason: string };

/**
 * Looks for a direct connection and moves `channel` onto it. Resolves with
 * where the transfer ended up; never throws for a missing direct path.
 */
export async function goDirect(
  session: Session,
  channel: MigratingChannel,
  options: GoDirectOptions,
): Promise<DirectOutcome> {
  let transit: Transit | undefined;
  if (!options.relayOnly) {
    try {
      transit = await Transit.open({
        server: options.server,
        side: session.side,
        port: options.port ?? 0,
        portMapping: options.portMapping ?? true,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (options.port) throw error;
    }
  }
  const own: Candidates = transit?.candidates ?? { port: 0, public: null, candidates: [] };
  let peer: Candidates;
  try {
    session.client.add("candidates", await sealCandidates(session.keys, session.side, own));
    peer = await openCandidates(
      session.keys,
      session.side,
      await session.client.next("candidates"),
    );
  } catch (error) {
    // No punching then: release the port, and the router's mapping of it.
    await transit?.close();
    throw error;
  }
  if (!transit) {
    const reason = options.relayOnly
      ? "--relay-only was given"
      : "this side could not listen for direct connections";
    options.onRelay?.(reason);
    return { path: "relay", reason };
  }
  // Once the other side moved, a nomination this side has not read by now
  // was lost with its connection: stop punching after a grace period.
  const punching = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, punching.signal])
    : punching.signal;
  let peerMoved = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  channel.peerMoved.then(() => {
    peerMoved = true;
    if (!punching.signal.aborted) grace = setTimeout(() => punching.abort(), NOMINATION_GRACE_MS);
  });
  const result = await transit.punch(peer, { keys: session.keys, signal }).finally(() => {
    punching.abort();
    clearTimeout(grace);
  });
  if (result.connection === null) {
    await transit.close();
    // The transfer then fails as on a broken direct connection, and falls
    // back to the relay (fallback.ts).
    followMissedMove(channel);
    if (!peerMoved) options.onRelay?.(result.reason);
    return { path: "relay", reason: result.reason };
  }
  await channel.moveTo(await directChannel(result.connection, session.keys));
  options.onDirect?.(result.address);
  return { path: "direct", address: result.address };
}
