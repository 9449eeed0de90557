// What an asker makes of an answer: whether to believe it, the URL it
// points to, and how good a path that is.

import { bytesToHex } from "@noble/hashes/utils.js";
import type { Answer } from "./_message.ts";
import { isLoopback, type LocalAddress, parseIpv4 } from "./_ipv4.ts";

/** A server found by discovery, before ranking. */
export interface Candidate {
  /** `http://host:port` of the server. */
  url: string;
  /** Source address of the answer. */
  address: string;
  /** 0 loopback, 1 another address of this host, 2 another host. */
  rank: number;
  /** The announcer's id, hex: one server reached by several paths is listed once. */
  serverId: string;
}

/**
 * The candidate an answer names, or `undefined` if it does not answer this
 * query or points somewhere it cannot: a loopback host from another machine,
 * 0.0.0.0, or a multicast or broadcast address.
 */
export function candidateFromAnswer(
  answer: Answer,
  from: string,
  query: { queryId: Uint8Array; nameplate: string },
  locals: readonly LocalAddress[],
): Candidate | undefined {
  if (answer.nameplate !== query.nameplate || !sameBytes(answer.queryId, query.queryId)) {
    return undefined;
  }
  const host = answer.host === "" ? from : answer.host;
  const value = parseIpv4(host);
  if (value === undefined || parseIpv4(from) === undefined) return undefined;
  if (value === 0 || value >= 0xe0000000) return undefined;
  const isLocal = (address: string) => locals.some((local) => local.address === address);
  const fromThisHost = isLoopback(from) || isLocal(from);
  if (isLoopback(host) && !fromThisHost) return undefined;
  return {
    url: `http://${host}:${answer.port}`,
    address: from,
    rank: isLoopback(host) ? 0 : isLocal(host) ? 1 : 2,
    serverId: bytesToHex(answer.serverId),
  };
}

/**
 * Candidates best first: one per server (its best path) and per URL, by
 * rank, then in the order they arrived.
 */
export function rankCandidates(arrived: readonly Candidate[]): Candidate[] {
  const best = new Map<string, Candidate>();
  for (const candidate of arrived) {
    const seen = best.get(candidate.serverId);
    if (seen === undefined || candidate.rank < seen.rank) best.set(candidate.serverId, candidate);
  }
  const order = (candidate: Candidate) => arrived.indexOf(candidate);
  const sorted = [...best.values()].sort((a, b) => a.rank - b.rank || order(a) - order(b));
  const urls = new Set<string>();
  return sorted.filter((candidate) => {
    if (urls.has(candidate.url)) return false;
    urls.add(candidate.url);
    return true;
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
