/**
 * Candidates: the addresses where one side can be reached directly, sent to
 * the other side for each search round in a `candidates` control record on
 * the relay (docs/protocol/connection.md), which seals it.
 *
 * ```
 * {"v":1,"port":41234,"public":"203.0.113.7:41234"|null,
 *  "candidates":["192.168.1.5:41234","203.0.113.7:41234"],
 *  "forwarded":"203.0.113.7:50000"|null}     (forwarded: optional)
 * ```
 *
 * An empty candidate list means: this side takes no direct connection
 * (`--relay-only`, or it could not listen).
 *
 * @module
 */

/** What one side tells the other about how to reach it. */
export interface Candidates {
  /** The local port P it listens and dials from, or 0. */
  port: number;
  /** Its address as the rendezvous saw a request from P, if it could ask. */
  public: string | null;
  /** Every `ip:port` worth dialing, best first. */
  candidates: string[];
  /**
   * The public `ip:port` its router forwards to P on request (NAT-PMP),
   * also among the candidates; null where none was granted (or the side
   * is older and does not say).
   */
  forwarded?: string | null;
}

/** Most candidates accepted from a peer: more is a peer trying to make us scan. */
export const MAX_CANDIDATES = 32;

/** A candidate address: IPv4 `a.b.c.d:port` or `[IPv6]:port`. */
export const ADDRESS_RE = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}$/;

/** What a side that takes no direct connection tells the other. */
export const NO_CANDIDATES: Readonly<Candidates> = Object.freeze({
  port: 0,
  public: null,
  candidates: [],
});

/** Candidates as their JSON, UTF-8. */
export function encodeCandidates(value: Candidates): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, ...value }));
}

/** Reads and checks the other side's candidates; throws `TypeError` on anything malformed. */
export function decodeCandidates(bytes: Uint8Array): Candidates {
  let value;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new TypeError("Cannot read candidates: not JSON");
  }
  const ok = value?.v === 1 && Number.isInteger(value.port) && value.port >= 0 &&
    value.port <= 65535 &&
    (value.public === null ||
      (typeof value.public === "string" && ADDRESS_RE.test(value.public))) &&
    Array.isArray(value.candidates) && value.candidates.length <= MAX_CANDIDATES &&
    value.candidates.every((c: unknown) => typeof c === "string" && ADDRESS_RE.test(c)) &&
    (value.forwarded === undefined || value.forwarded === null ||
      (typeof value.forwarded === "string" && ADDRESS_RE.test(value.forwarded)));
  if (!ok) throw new TypeError("Cannot read candidates: malformed");
  return {
    port: value.port,
    public: value.public,
    candidates: value.candidates,
    forwarded: value.forwarded ?? null,
  };
}
