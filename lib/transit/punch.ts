/**
 * Finding a direct connection: listen on P, learn P's public address, dial
 * every candidate of the other side from P again and again, prove every
 * connection, keep the first one the sender nominates.
 *
 * Protocol flow (docs/protocol/transit.md):
 * - `Transit.open()`: listen on P (reusable; IPv6 and IPv4 where the host
 *   has IPv6), reflect from P and ask the router to forward a port to P
 *   (NAT-PMP, PCP and UPnP IGD, all at once: lib/net/portmap.ts) at the
 *   same time, list candidates. It waits for the reflection and for NAT-PMP
 *   and PCP (250 ms at most), not for UPnP's search, which may take over a
 *   second (only for a device that has answered it by then, 250 ms more at
 *   most): a mapping granted after `open()` returned is handed to
 *   `onLateCandidate(address)`, up to `close()`, for the caller to send on
 *   (trickled candidates).
 * - Exchange candidates through the relay (candidates.ts).
 * - `transit.punch(peer)`: dial rounds at randomized intervals plus accepted
 *   connections; each runs the handshake; the sender nominates the first
 *   proven one; resolves with its secure channel, or with why there is none.
 *   `transit.addPeerCandidate(address)` adds a candidate the other side
 *   trickled later: a running `punch()` dials it too (one given before
 *   `punch()` is dialed from its start).
 * - `transit.close()` (and the end of `punch()`): stop listening, delete
 *   every port mapping granted, awaited.
 *
 * @module
 */

import type { Socket } from "node:net";
import type { SessionKeys, Side } from "../crypto/keys.ts";
import { formatPeerAddress, parseHostPort } from "../net/address.ts";
import { DialError, dialFrom, dialFromAvailable } from "../net/dial.ts";
import { localCandidates } from "../net/interfaces.ts";
import { type MappingResult, PortMapper, type PortMapperOptions } from "../net/portmap.ts";
import type { FrameReads } from "../net/_adopt.ts";
import { listenReusable, type ReusableListener } from "../net/listen.ts";
import { setNagle } from "../net/nodelay.ts";
import { socketPipe } from "../net/pipe.ts";
import { reflectFrom } from "../net/reflect.ts";
import { ADDRESS_RE as CANDIDATE_RE, type Candidates, MAX_CANDIDATES } from "./candidates.ts";
import { sleep } from "../_sleep.ts";
import {
  DIAL_ATTEMPT_MAX_TIMEOUT_MS,
  DIAL_ATTEMPT_TIMEOUT_MS,
  DIAL_INTERVAL_MS,
  HANDSHAKE_TIMEOUT_MS,
  PRIMER_MAX_RESET_MS,
  PRIMER_PROBE_TIMEOUT_MS,
  PRIMER_TTL,
  PUNCH_WINDOW_MS,
  REFLECT_WAIT_MS,
  SENDER_QUICK_RETRIES,
} from "./defaults.ts";
import {
  awaitNomination,
  nominate,
  proveConnection,
  type ProvenConnection,
  TRANSIT_PURPOSE,
  transitReads,
} from "./handshake.ts";
import { whenAborted } from "../_abort.ts";
import { reachesWithPrimerTtl } from "./_primer.ts";

/** Options for {@linkcode Transit.open}. */
export interface TransitOptions {
  /** The rendezvous, asked for P's public address. */
  server: string;
  /** This side of the transfer; it shapes how connections read. */
  side: Side;
  /**
   * The local port P; 0 picks one.
   * @default {0}
   */
  port?: number;
  /**
   * Ask the router to forward a public port to P (NAT-PMP, PCP and UPnP
   * IGD at once, see lib/net/portmap.ts). False where the host is reachable
   * already, or in tests that run no router: then nothing is sent to the
   * gateway or the LAN. Options instead of true ask where they say (tests:
   * a fake gateway on loopback).
   * @default {true}
   */
  portMapping?: boolean | PortMapperOptions;
  /**
   * Called with the public `ip:port` of each port mapping granted after
   * `open()` resolved (UPnP may take over a second), until the transit
   * closes. The address is added to this side's `candidates` (and is its
   * `forwarded` if none was) before the call; send it to the other side,
   * whose `addPeerCandidate()` dials it.
   */
  onLateCandidate?: (address: string) => void;
  signal?: AbortSignal;
}

/** What {@linkcode Transit.punch} found: the nominated, proven connection, or why there is none. */
export type PunchResult =
  | { connection: ProvenConnection; address: string }
  | { connection: null; reason: string };

/** Options for {@linkcode Transit.punch}. */
export interface PunchOptions {
  keys: SessionKeys;
  /** @default {PUNCH_WINDOW_MS} */
  windowMs?: number;
  /**
   * The first dial waits for this moment (`performance.now()`'s clock;
   * connections are accepted from the start): both sides' first SYNs leave
   * together when each waits the time the other side's news takes to come.
   * @default {at once}
   */
  dialAt?: number;
  signal?: AbortSignal;
}

/** The rendezvous as an http(s) URL, for reflection. */
function httpUrl(server: string): string {
  const url = new URL(server.includes("://") ? server : `http://${server}`);
  if (url.protocol === "ws:") url.protocol = "http:";
  if (url.protocol === "wss:") url.protocol = "https:";
  url.pathname = "/";
  return url.href;
}

/** Bytes read ahead from a direct connection, so the socket keeps flowing while a record is processed. */
const SOCKET_READ_AHEAD_BYTES = 4 * 1024 * 1024;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What this side's dials met during one punch: counts of each outcome. */
export interface DialsSeen {
  /** Answered with a reset (ECONNREFUSED): a NAT or host that refuses the connection. */
  refused: number;
  /** No answer within the attempt's time: dropped somewhere, or no route. */
  timedOut: number;
  /** Anything else: the connection existed already, unreachable networks. */
  other: number;
}

/** What would let a direct connection through where punching cannot. */
const WHAT_HELPS = "a port forward on either side's router (UPnP IGD, NAT-PMP or PCP, if it " +
  "offers one; punch asks for it unless --no-port-mapping), or IPv6 on both sides";

/**
 * Why punching found nothing, from what both sides told each other and what
 * this side's dials met (`seen`); `stoppedEarly` when the transfer ended
 * before the punch window did.
 */
export function explainNoDirect(
  own: Candidates,
  peer: Candidates,
  stoppedEarly = false,
  seen: DialsSeen = { refused: 0, timedOut: 0, other: 0 },
): string {
  if (peer.candidates.length === 0) {
    return "the other side takes no direct connection (--relay-only)";
  }
  if (own.candidates.length === 0) return "this side could not listen for direct connections";
  for (const [who, c] of [["the other side's", peer], ["this side's", own]] as const) {
    const mapped = c.public === null ? c.port : parseHostPort(c.public).port;
    if (mapped !== c.port) {
      const forwarded = [["the other side", peer], ["this side", own]] as const;
      const through = forwarded.find(([, side]) => side.forwarded);
      return `${who} NAT changed its port (${c.port} → ${mapped}); it likely gives every ` +
        "destination a new port (a symmetric NAT), so punching cannot work" + (through
          ? `, and the port ${through[0]}'s router forwards (${through[1].forwarded}) could ` +
            "not be reached either"
          : ", and neither side's router granted a port forward (UPnP IGD, NAT-PMP or PCP), " +
            "which would let the other side connect");
    }
  }
  if (stoppedEarly) return "the transfer finished before a direct connection was found";
  for (const [who, c] of [["the other side", peer], ["this side", own]] as const) {
    if (c.public === null) {
      return `no direct connection within the punch window; ${who} did not learn its public ` +
        "address from the rendezvous in time, so only its local addresses were tried, which " +
        "work within one network only";
    }
  }
  const { refused, timedOut } = seen;
  if (refused > 0 && timedOut === 0) {
    return `no direct connection within the punch window: all ${refused} dials were answered ` +
      "with a reset (a NAT or firewall that refuses connections it did not see go out, and " +
      `whose reset ends the other NAT's mapping); what would help: ${WHAT_HELPS}`;
  }
  if (refused > 0) {
    return `no direct connection within the punch window: ${refused} dials were answered with ` +
      `a reset and ${timedOut} not at all; what would help: ${WHAT_HELPS}`;
  }
  if (timedOut > 0) {
    return `no direct connection within the punch window: none of ${timedOut} dials was ` +
      "answered (a firewall dropping incoming connections, or no route between the " +
      `networks); what would help: ${WHAT_HELPS}`;
  }
  return "no direct connection within the punch window (a firewall dropping incoming connections, " +
    "or no route between the networks)";
}

/** Why this side could not punch through a NAT, added to the reason where it applies. */
const NO_SHARED_PORT = "this side dialed from other ports than the one it listens on, which " +
  "punches no NAT (FFI is needed to share the port: run with --allow-ffi or -A, on Linux or macOS)";

/**
 * Listens on `port` on `"::"`, which takes IPv4 connections too, so that
 * IPv6 candidates work: two hosts with global IPv6 addresses connect
 * directly through stateful firewalls as through home NATs, with no port
 * translation in the way (and where IPv4 has a symmetric NAT). On a host
 * without IPv6 (the kernel's IPv6 off, or no such socket family), on
 * `"0.0.0.0"`. A port in use or not allowed is an error either way.
 */
async function listenDualStack(port: number, frames: FrameReads): Promise<ReusableListener> {
  try {
    return await listenReusable({ port, hostname: "::", frames });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE" || code === "EACCES") throw error;
  }
  return await listenReusable({ port, hostname: "0.0.0.0", frames });
}

/** One side's direct-connection machinery for one session. */
export class Transit {
  readonly candidates: Candidates;
  readonly #side: Side;
  readonly #listener: ReusableListener;
  readonly #mapping: PortMapper | null;
  readonly #sockets = new Set<Socket>();
  /** Candidates of the other side added after it sent its list (trickled), in order. */
  readonly #added: string[] = [];
  /** While `punch()` runs: dials one more candidate of the other side. */
  #dialMore: ((candidate: string) => void) | null = null;
  /** Punching is over (or the transit closed): nothing more is dialed or handed on. */
  #over = false;

  private constructor(
    side: Side,
    listener: ReusableListener,
    mapping: PortMapper | null,
    candidates: Candidates,
  ) {
    this.#side = side;
    this.#listener = listener;
    this.#mapping = mapping;
    this.candidates = candidates;
  }

  /**
   * Listens on P, on IPv6 and IPv4 where the host has IPv6 (else on IPv4),
   * and gathers this side's candidates: its own addresses, P's public
   * address as the rendezvous sees it, and the ports the router forwards to
   * P where it grants one through NAT-PMP, PCP or UPnP (all asked at the
   * same time; a grant that comes after the public address goes to
   * `onLateCandidate`).
   */
  static async open(options: TransitOptions): Promise<Transit> {
    const listener = await listenDualStack(options.port ?? 0, transitReads(options.side));
    const port = listener.port;
    const signal = options.signal ? { signal: options.signal } : {};
    const asking = typeof options.portMapping === "object" ? options.portMapping : {};
    const mapper = options.portMapping === false
      ? null
      : new PortMapper(port, { ...asking, ...signal });
    // The candidates wait for the public address only: every port mapping,
    // NAT-PMP's and PCP's too, trickles in after them (onLateCandidate), so
    // a router that answers late, or never, costs the move nothing.
    const reflected = await reflectFrom(httpUrl(options.server), port, {
      timeoutMs: REFLECT_WAIT_MS,
      ...signal,
    }).catch(() => null); // no public address: the other candidates only
    const local = localCandidates(port, { ipv6: listener.hostname === "::" });
    const granted = mapper?.mappings.map((mapping) => mapping.address) ?? [];
    // Within what the peer accepts (a host may have many IPv6 addresses),
    // the public address and the mappings kept.
    const extra = [...new Set([reflected, ...granted])].filter(
      (address): address is string => typeof address === "string" && !local.includes(address),
    ).slice(0, MAX_CANDIDATES);
    const list = [...local.slice(0, MAX_CANDIDATES - extra.length), ...extra];
    const transit = new Transit(options.side, listener, mapper, {
      port,
      public: reflected,
      candidates: list,
      forwarded: granted[0] ?? null,
    });
    if (mapper !== null) {
      // Set in the same turn as the mappings were read: none slips between.
      mapper.onMapping = (mapping) =>
        transit.#lateMapping(mapping.address, options.onLateCandidate);
    }
    return transit;
  }

  /** A mapping granted after `open()`: a candidate of this side, handed to the caller. */
  #lateMapping(address: string, onLateCandidate: ((address: string) => void) | undefined): void {
    const own = this.candidates;
    if (own.candidates.includes(address)) return;
    if (own.candidates.length >= MAX_CANDIDATES) own.candidates.pop();
    own.candidates.push(address);
    own.forwarded ??= address;
    onLateCandidate?.(address);
  }

  /**
   * What asking the router for a port forward gave so far, per protocol
   * (none where `portMapping` is false): for saying why there is no direct
   * path. A protocol still asking (UPnP, up to a few seconds) is absent.
   */
  get portMappings(): readonly MappingResult[] {
    return this.#mapping?.results ?? [];
  }

  /**
   * Adds a candidate of the other side that came after its list (a port
   * mapping its router granted late): a running `punch()` dials it at once,
   * a later one from its start. Returns false where it is not taken: known
   * already, past MAX_CANDIDATES added, or the punching is over. Throws
   * `TypeError` if `address` is no `ip:port` (IPv6 in brackets).
   */
  addPeerCandidate(address: string): boolean {
    if (!CANDIDATE_RE.test(address)) {
      throw new TypeError(
        `Cannot add a candidate: ${JSON.stringify(address.slice(0, 60))} is no ip:port`,
      );
    }
    if (this.#added.includes(address) || this.#added.length >= MAX_CANDIDATES || this.#over) {
      return false;
    }
    this.#added.push(address);
    this.#dialMore?.(address);
    return true;
  }

  /** Dials and accepts until a connection is nominated or the window closes. */
  async punch(peer: Candidates, options: PunchOptions): Promise<PunchResult> {
    if (peer.candidates.length === 0 || this.candidates.candidates.length === 0) {
      return { connection: null, reason: explainNoDirect(this.candidates, peer) };
    }
    const done = new AbortController();
    const winner = Promise.withResolvers<
      { connection: ProvenConnection; address: string; socket: Socket } | null
    >();
    done.signal.addEventListener("abort", () => winner.resolve(null), { once: true });
    const unlisten = whenAborted(options.signal, () => done.abort());
    const transitKey = await options.keys.deriveBytes(TRANSIT_PURPOSE);
    let chosen = false;

    /** Proves a connection; resolves true if it is the one nominated. */
    const handle = async (socket: Socket, address: string): Promise<boolean> => {
      if (done.signal.aborted) {
        socket.destroy();
        return false;
      }
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
      try {
        const connection = await withTimeout(
          proveConnection(
            socketPipe(socket, { readableHighWaterMark: SOCKET_READ_AHEAD_BYTES }),
            this.#side,
            transitKey,
          ),
          HANDSHAKE_TIMEOUT_MS,
          "transit handshake",
        );
        // The handshake went with Nagle's algorithm off; the records go
        // with it on. Off for them, a 32 MiB transfer over the NAT lab's
        // lossy 80 ms link took 69 s instead of 5.
        if (this.#side === "sender") {
          const take = !chosen;
          chosen = true;
          await nominate(connection, take);
          if (take) {
            setNagle(socket, true);
            winner.resolve({ connection, address, socket });
            return true;
          }
        } else if (await withTimeout(awaitNomination(connection), PUNCH_WINDOW_MS, "nomination")) {
          setNagle(socket, true);
          winner.resolve({ connection, address, socket });
          return true;
        }
      } catch { /* not a proven peer: drop it */ }
      // With a reset, so that the 4-tuple is free at once for the next dial
      // rather than held for a minute in TIME_WAIT.
      socket.resetAndDestroy();
      return false;
    };

    const accepting = (async () => {
      for await (const socket of this.#listener.connections) {
        if (done.signal.aborted) return void socket.destroy();
        handle(socket, formatPeerAddress(socket.remoteAddress ?? "?", socket.remotePort ?? 0));
      }
    })().catch(() => {});

    // Dials leave from P, so that a NAT maps them as it mapped P. Where no
    // dial can share P with the listener (no FFI), they leave from any port:
    // they still reach a peer that listens where it can be reached (the same
    // LAN, a public or forwarded port), though they punch no NAT.
    const shared = dialFromAvailable();
    const frames = transitReads(this.#side);
    const fromPort = shared ? this.candidates.port : 0;
    const seen: DialsSeen = { refused: 0, timedOut: 0, other: 0 };
    const dialOne = async (candidate: string) => {
      const { hostname: host, port } = parseHostPort(candidate);
      let timeoutMs = DIAL_ATTEMPT_TIMEOUT_MS;
      // After a reset, the receiver's SYNs expire between the NATs (IPv4, FFI dials).
      let prime = false;
      let mayPrime = this.#side === "receiver" && shared && !host.includes(":");
      await sleep(Math.max(0, (options.dialAt ?? 0) - performance.now()), done.signal);
      // Whether a primed SYN expires short of `host`, asked beside the first
      // dial so that the answer is in when a quick reset asks for priming.
      const primeable = mayPrime
        ? reachesWithPrimerTtl(host, done.signal).then((reached) => !reached)
        : Promise.resolve(false);
      /** Quick resets that the sender answers with a short pause (see below). */
      let quickRetries = this.#side === "sender" ? SENDER_QUICK_RETRIES : 0;
      while (!done.signal.aborted) {
        const started = performance.now();
        try {
          const socket = await dialFrom({
            localPort: fromPort,
            host,
            port,
            timeoutMs,
            signal: done.signal,
            frames,
            ...(prime ? { synTtl: PRIMER_TTL, outlastExpiry: true } : {}),
          });
          // A connection that fails its handshake (a reset in the middle
          // of a simultaneous open, a stranger) does not end the dialing.
          if (await handle(socket, candidate)) return;
        } catch (error) {
          if (done.signal.aborted) return;
          const code = error instanceof DialError ? error.code : "";
          // ConnectionExistsError is retried too. Usually the listener has
          // just accepted that connection, and it is being proven. But it may be a
          // half-open one the listener never completes (its SYN-ACK lost),
          // so keep dialing: giving up here once left the one candidate
          // that mattered undialed for the rest of the window.
          if (code === "ETIMEDOUT") {
            seen.timedOut++;
            timeoutMs = Math.min(timeoutMs * 2, DIAL_ATTEMPT_MAX_TIMEOUT_MS);
            // Again at once, no pause: our NAT still holds the mapping that
            // the unanswered SYN made, so the other side's SYN, once it
            // comes, passes it. Met by a dial, it is a simultaneous open;
            // met by the listener alone, it is answered with a SYN-ACK of a
            // new sequence number, which a Linux NAT's connection tracking
            // finds out of window and drops, again and again, while that
            // half-open connection holds the 4-tuple against every later dial
            // (seen in the lab whenever one side began punching over a
            // second after the other, and its SYN came in such a pause).
            continue;
          }
          if (code === "ECONNREFUSED") {
            seen.refused++;
            // The other NAT answers SYNs it has no mapping for with a reset,
            // which also ends our NAT's mapping: a SYN of the other side can
            // then only pass where one of ours waits at its NAT. The receiver
            // keeps one there, its SYN expiring before it reaches that NAT
            // (at once after the reset, and again each time an attempt
            // times out); the sender dials as before, and its SYN meets the
            // receiver's as a simultaneous open. On Linux the primed dial
            // ignores the ICMP time exceeded from where its SYN expired
            // (dial.ts), so it waits for that SYN for the attempt's whole
            // time; elsewhere that ICMP ends it within a round trip to the
            // expiring router, and the next one follows after the usual
            // pause. Only where the reset came too soon for two SYNs to be
            // timed to cross: they pass each other's NAT when they leave
            // within the one-way time between the NATs of each other, about
            // half the time a reset takes. A primed SYN that is refused
            // too met a reset short of where it expires (the other NAT is
            // the next hop, a LAN, loopback): this candidate is dialed as
            // before from then on, since a primed SYN cannot reach it.
            // (A reset that comes later answers the SYN's retransmission,
            // which leaves with the usual TTL: it tells nothing of the
            // primed one, which keeps being sent.)
            const quick = performance.now() - started < PRIMER_MAX_RESET_MS;
            if (prime && quick) {
              prime = false;
              mayPrime = false;
            } else if (mayPrime && quick && !prime) {
              if (await primeable) {
                prime = true;
                continue;
              }
              mayPrime = false;
            } else if (quick && quickRetries > 0) {
              // The receiver, refused as quickly, primes at once and holds
              // its primed SYN for a dial attempt's time: the sender's next
              // SYN need not wait the usual pause to meet it.
              quickRetries--;
              await sleep(
                PRIMER_MAX_RESET_MS + Math.random() * 2 * PRIMER_PROBE_TIMEOUT_MS,
                done.signal,
              );
              continue;
            }
          } else seen.other++;
        }
        await sleep(Math.random() * 2 * DIAL_INTERVAL_MS, done.signal);
      }
    };
    // The other side's candidates, and those it trickles (addPeerCandidate).
    const dialed = new Set([...peer.candidates, ...this.#added]);
    const dialing = [...dialed].map(dialOne);
    this.#dialMore = (candidate) => {
      if (done.signal.aborted || dialed.has(candidate)) return;
      dialed.add(candidate);
      dialing.push(dialOne(candidate));
    };

    const timer = setTimeout(() => winner.resolve(null), options.windowMs ?? PUNCH_WINDOW_MS);
    const found = await winner.promise;
    clearTimeout(timer);
    done.abort();
    this.#over = true;
    this.#dialMore = null;
    unlisten();
    await Promise.allSettled(dialing);
    await this.#listener.close();
    await this.#mapping?.close();
    await accepting;
    for (const socket of this.#sockets) if (socket !== found?.socket) socket.destroy();
    if (!found) {
      const early = options.signal?.aborted ?? false;
      let reason = explainNoDirect(this.candidates, peer, early, seen);
      if (!shared && !early) reason += `; ${NO_SHARED_PORT}`;
      return { connection: null, reason };
    }
    return { connection: found.connection, address: found.address };
  }

  /**
   * Stops listening, stops asking for port mappings and deletes every one
   * granted (resolving once the router was told, or its wait ran out), and
   * drops every connection not handed out.
   */
  async close(): Promise<void> {
    this.#over = true;
    await this.#listener.close();
    await this.#mapping?.close();
  }
}
