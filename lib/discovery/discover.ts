import type { Socket } from "node:dgram";
import {
  ANSWER_GRACE_MS,
  DISCOVER_TIMEOUT_MS,
  DISCOVERY_GROUP,
  DISCOVERY_PORT,
  MAX_MESSAGE_BYTES,
  QUERY_SCHEDULE_MS,
  QUERY_TTL,
} from "./constants.ts";
import { decodeMessage, encodeQuery, NAMEPLATE_RE, QUERY_ID_BYTES } from "./_message.ts";
import { type Candidate, candidateFromAnswer, rankCandidates } from "./_answer.ts";
import { type DiscoveryScope, localAddresses, multicastInterfaces } from "./_ipv4.ts";
import { bindUdp, closeUdp, sendUdp } from "./_udp.ts";
import { sleep } from "../_sleep.ts";

/** A sender's embedded rendezvous server found by {@linkcode discover}. */
export interface DiscoveredServer {
  /** Base URL of the server, e.g. `http://192.168.1.5:41234`. */
  url: string;
  /** The IPv4 address the answer came from. */
  address: string;
}

/** Options for {@linkcode discover}. */
export interface DiscoverOptions {
  /**
   * How long to wait for a first answer, in milliseconds.
   *
   * @default {2000}
   */
  timeoutMs?: number;
  /**
   * Which interfaces the query goes out on.
   * @default {"network"}
   */
  scope?: DiscoveryScope;
  /** Aborts the search; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Finds the `punch send` processes on this machine or the local network
 * whose embedded rendezvous server holds `nameplate`.
 *
 * Sends a query to {@linkcode DISCOVERY_GROUP} on the loopback interface and
 * on every other IPv4 interface, repeats it while no answer comes, and
 * resolves {@linkcode ANSWER_GRACE_MS} after the first answer, or with `[]`
 * after `timeoutMs`. Answers are unauthenticated: try the servers in order
 * and let the PAKE decide.
 *
 * @example Find the sender of code 4812-velvet-harbor
 * ```ts ignore
 * import { discover } from "./discover.ts";
 *
 * const [server] = await discover("4812");
 * if (server === undefined) throw new Error("No punch sender with nameplate 4812 found");
 * console.log(server.url); // e.g. "http://127.0.0.1:41234"
 * ```
 *
 * @param nameplate The nameplate, 1 to 8 digits (the `4812` of `4812-velvet-harbor`).
 * @param options Timeout and signal.
 * @returns The servers found, best first: this host over loopback, then
 * this host's other addresses, then other hosts in the order they answered.
 */
export async function discover(
  nameplate: string,
  options: DiscoverOptions = {},
): Promise<DiscoveredServer[]> {
  const { timeoutMs = DISCOVER_TIMEOUT_MS, signal } = options;
  if (!NAMEPLATE_RE.test(nameplate)) {
    throw new TypeError(`Cannot discover nameplate "${nameplate}": expected 1 to 8 digits`);
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`Cannot discover: timeout ${timeoutMs} ms is not a positive number`);
  }
  signal?.throwIfAborted();
  const query = { queryId: crypto.getRandomValues(new Uint8Array(QUERY_ID_BYTES)), nameplate };
  const locals = localAddresses(options.scope);
  const socket = await bindUdp(0, false);
  const stopSending = new AbortController();
  let sending: Promise<void> = Promise.resolve();
  try {
    socket.setMulticastTTL(QUERY_TTL);
    socket.setMulticastLoopback(true);
    return await new Promise<DiscoveredServer[]>((resolve, reject) => {
      const arrived: Candidate[] = [];
      let timer = setTimeout(() => done(), timeoutMs);
      const done = (error?: unknown) => {
        clearTimeout(timer);
        stopSending.abort();
        signal?.removeEventListener("abort", onAbort);
        socket.removeAllListeners("message");
        if (error !== undefined) return reject(error);
        resolve(rankCandidates(arrived).map(({ url, address }) => ({ url, address })));
      };
      const onAbort = () => done(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) return onAbort();
      socket.on("message", (bytes: Uint8Array, from: { address: string }) => {
        if (bytes.length > MAX_MESSAGE_BYTES) return;
        const answer = decodeMessage(bytes);
        if (answer?.kind !== "answer") return;
        const candidate = candidateFromAnswer(answer, from.address, query, locals);
        if (candidate === undefined) return;
        arrived.push(candidate);
        if (arrived.length > 1) return;
        stopSending.abort();
        clearTimeout(timer);
        timer = setTimeout(() => done(), ANSWER_GRACE_MS);
      });
      const interfaces = multicastInterfaces(locals);
      sending = sendQueries(socket, encodeQuery(query), interfaces, stopSending.signal);
    });
  } finally {
    stopSending.abort();
    await sending;
    await closeUdp(socket);
  }
}

/**
 * Sends the query on every interface at each time of the schedule until
 * stopped. A round once begun is finished, so an answer over loopback does
 * not keep the LAN from being asked.
 */
async function sendQueries(
  socket: Socket,
  bytes: Uint8Array,
  interfaces: readonly string[],
  stop: AbortSignal,
): Promise<void> {
  const start = performance.now();
  for (const at of QUERY_SCHEDULE_MS) {
    await sleep(start + at - performance.now(), stop);
    if (stop.aborted) return;
    for (const address of interfaces) {
      try {
        // One send at a time: the interface option applies to the next send.
        socket.setMulticastInterface(address);
        await sendUdp(socket, bytes, DISCOVERY_PORT, DISCOVERY_GROUP);
      } catch {
        // No route on this interface (down, or no multicast): try the others.
      }
    }
  }
}
