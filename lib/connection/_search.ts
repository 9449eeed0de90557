// One round of the search for a direct path: listen, tell the other side
// where this side can be reached, learn where it can, punch for the window
// (docs/protocol/transit.md). The connection runs rounds; this runs one.

import type { SessionKeys, Side } from "../crypto/keys.ts";
import type { FramePipe } from "../link/frames.ts";
import { type Candidates, NO_CANDIDATES } from "../transit/candidates.ts";
import { directPipe } from "../transit/handshake.ts";
import { explainNoDirect, Transit } from "../transit/punch.ts";
import { CANDIDATES_WAIT_MS } from "./defaults.ts";

/** What a round needs from its connection. */
export interface RoundOptions {
  round: number;
  side: Side;
  keys: SessionKeys;
  /** The rendezvous, asked for P's public address. */
  server: string;
  /** The local port P (0 picks one). */
  port: number;
  portMapping: boolean;
  /** Sends this side's candidates for the round to the other side. */
  tell(candidates: Candidates): Promise<void>;
  /** The other side's candidates for the round, when they come. */
  heard: Promise<Candidates>;
  /**
   * Times the dialing: resolves with the moment of the first dial
   * (`performance.now()`'s clock), so that both sides' first SYNs leave
   * together (the sender measures the relay's round trip and tells the
   * receiver when; see _rounds.ts).
   */
  align(): Promise<number>;
  /** This round's Transit, opened already (round 1 opens while the key exchange runs). */
  transit?: EarlyTransit;
  /**
   * Called once this side dials the other's candidates, with what adds one
   * more of them (a port mapping the other side was granted late).
   */
  dialing?(add: (address: string) => void): void;
  /** Ends the round early (the connection closes, or the other side moved on). */
  signal: AbortSignal;
}

/** What a round found: a proven, nominated connection, or why there is none. */
export type RoundResult =
  | { found: true; pipe: FramePipe; address: string }
  | {
    found: false;
    reason: string;
    /** A side takes no direct connection at all: no later round can do better. */
    final: boolean;
  };

function timeout<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(null), ms);
    const stop = () => resolve(null);
    signal.addEventListener("abort", stop, { once: true });
    promise.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener("abort", stop);
    });
  });
}

/** Runs one round: never throws for a missing path, only for a fixed port that cannot be had. */
export async function runRound(options: RoundOptions): Promise<RoundResult> {
  let transit: Transit | undefined;
  const opening = options.transit ?? openTransit(options);
  // A port mapping granted after the candidates went is sent as they are now
  // (the Transit has added it): candidates trickle.
  opening.late = (later) => void options.tell(later.candidates).catch(() => {});
  try {
    transit = await opening.transit;
  } catch (error) {
    if (options.port) throw error;
  }
  const own = transit?.candidates ?? NO_CANDIDATES;
  try {
    await options.tell(own);
    const peer = await timeout(options.heard, CANDIDATES_WAIT_MS, options.signal);
    if (peer === null) {
      const reason = options.signal.aborted
        ? "the transfer finished before a direct connection was found"
        : "the other side did not answer the search for a direct connection";
      return { found: false, reason, final: false };
    }
    if (!transit || peer.candidates.length === 0) {
      return { found: false, reason: explainNoDirect(own, peer), final: true };
    }
    const dialAt = await options.align();
    options.dialing?.((address) => transit!.addPeerCandidate(address));
    const result = await transit.punch(peer, {
      keys: options.keys,
      signal: options.signal,
      dialAt,
    });
    if (result.connection === null) return { found: false, reason: result.reason, final: false };
    return { found: true, pipe: directPipe(result.connection), address: result.address };
  } finally {
    await transit?.close();
  }
}

/**
 * A Transit being opened, and where a port mapping granted after it opened
 * goes (set by the round that uses it).
 */
export interface EarlyTransit {
  transit: Promise<Transit>;
  late: (transit: Transit) => void;
}

/** Listens on P and gathers this side's candidates for a round. */
export function openTransit(
  options: Pick<RoundOptions, "server" | "side" | "port" | "portMapping" | "signal">,
): EarlyTransit {
  const early: EarlyTransit = { transit: Promise.resolve() as never, late: () => {} };
  let opened: Transit | undefined;
  early.transit = Transit.open({
    server: options.server,
    side: options.side,
    port: options.port,
    portMapping: options.portMapping,
    signal: options.signal,
    onLateCandidate: () => opened && early.late(opened),
  }).then((transit) => opened = transit);
  return early;
}
