import type { Socket } from "node:dgram";
import {
  ANSWER_BURST,
  ANSWERS_PER_SECOND,
  DISCOVERY_GROUP,
  DISCOVERY_PORT,
  INTERFACE_RESCAN_MS,
  MAX_MESSAGE_BYTES,
} from "./constants.ts";
import { decodeMessage, encodeAnswer, SERVER_ID_BYTES } from "./_message.ts";
import { type DiscoveryScope, hostForAsker, type LocalAddress, localAddresses } from "./_ipv4.ts";
import { TokenBucket } from "./_token_bucket.ts";
import { bindUdp, closeUdp, sendUdp } from "./_udp.ts";

/** Options for {@linkcode announce}. */
export interface AnnounceOptions {
  /** The HTTP port of the rendezvous server embedded in this process. */
  port: number;
  /**
   * The nameplates this process holds. A function is called, and an
   * iterable (such as a `Set` that the caller keeps up to date) is read
   * afresh, on every query.
   */
  nameplates: Iterable<string> | (() => Iterable<string>);
  /**
   * Which interfaces join the discovery group.
   * @default {"network"}
   */
  scope?: DiscoveryScope;
  /** Closes the announcer when aborted. */
  signal?: AbortSignal;
}

/** Answers discovery queries on the local network until closed. */
export interface Announcer extends AsyncDisposable {
  /**
   * Resolves once the announcer listens; rejects if it cannot bind the
   * discovery port (the sender then works only with an explicit server URL).
   */
  readonly ready: Promise<void>;
  /** Stops answering and releases the socket; safe to call more than once. */
  close(): Promise<void>;
}

/** Queries from these ports are ignored: an asker always sends from an ephemeral port. */
const MIN_ASKER_PORT = 1024;

/**
 * Answers queries for the nameplates this process holds, so that
 * {@linkcode discover} on this machine or the local network finds its
 * embedded rendezvous server.
 *
 * It listens on UDP {@linkcode DISCOVERY_PORT} with the port shared, so
 * several senders on one machine each answer for their own nameplates, and
 * joins {@linkcode DISCOVERY_GROUP} on every IPv4 interface, loopback
 * included. Malformed datagrams are ignored and answers are rate-limited.
 *
 * @example Announce the server of `punch send`
 * ```ts ignore
 * import { announce } from "./announce.ts";
 *
 * const nameplates = new Set(["4812"]);
 * await using announcer = announce({ port: 41234, nameplates });
 * await announcer.ready;
 * ```
 *
 * @param options Port, nameplates and signal.
 * @returns The announcer; await its `ready` to know it listens.
 */
export function announce(options: AnnounceOptions): Announcer {
  const { port } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Cannot announce: port ${port} is not in 1..65535`);
  }
  return new DiscoveryAnnouncer(options);
}

class DiscoveryAnnouncer implements Announcer {
  readonly ready: Promise<void>;
  #options: AnnounceOptions;
  #serverId = crypto.getRandomValues(new Uint8Array(SERVER_ID_BYTES));
  #bucket = new TokenBucket(ANSWER_BURST, ANSWERS_PER_SECOND);
  #locals: LocalAddress[] = [];
  #joined = new Set<string>();
  #socket: Socket | undefined;
  #rescan: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | undefined;
  #onAbort = () => void this.close();

  constructor(options: AnnounceOptions) {
    this.#options = options;
    this.ready = this.#start();
    this.ready.catch(() => {});
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (options.signal?.aborted) void this.close();
  }

  async #start(): Promise<void> {
    let socket: Socket;
    try {
      socket = await bindUdp(DISCOVERY_PORT, true);
    } catch (error) {
      throw new Error(
        `Cannot listen for discovery queries on UDP port ${DISCOVERY_PORT}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    if (this.#closing !== undefined) {
      await closeUdp(socket);
      return;
    }
    this.#socket = socket;
    try {
      // On Windows this decides whether multicast sent from this host is received.
      socket.setMulticastLoopback(true);
    } catch {
      // Loopback delivery is the default everywhere.
    }
    socket.on("message", (bytes: Uint8Array, from: { address: string; port: number }) => {
      this.#answer(socket, bytes, from.address, from.port);
    });
    this.#join(socket);
    this.#rescan = setInterval(() => this.#join(socket), INTERFACE_RESCAN_MS);
  }

  /** Joins the group on every interface not joined yet. */
  #join(socket: Socket): void {
    this.#locals = localAddresses(this.#options.scope);
    const present = new Set(this.#locals.map((local) => local.address));
    for (const address of this.#joined) {
      // The system dropped the membership with the address; join again if it returns.
      if (!present.has(address)) this.#joined.delete(address);
    }
    for (const address of present) {
      if (this.#joined.has(address)) continue;
      try {
        socket.addMembership(DISCOVERY_GROUP, address);
      } catch {
        // Already joined through another address of the same interface, or
        // an interface without multicast: nothing to do either way.
      }
      this.#joined.add(address);
    }
  }

  #answer(socket: Socket, bytes: Uint8Array, asker: string, askerPort: number): void {
    if (this.#closing !== undefined || bytes.length > MAX_MESSAGE_BYTES) return;
    if (askerPort < MIN_ASKER_PORT) return;
    const query = decodeMessage(bytes);
    if (query?.kind !== "query" || !this.#holds(query.nameplate)) return;
    if (!this.#bucket.take()) return;
    const answer = encodeAnswer({
      queryId: query.queryId,
      nameplate: query.nameplate,
      port: this.#options.port,
      serverId: this.#serverId,
      host: hostForAsker(asker, this.#locals),
    });
    sendUdp(socket, answer, askerPort, asker).catch(() => {
      // The asker is gone or unreachable; it will ask again or time out.
    });
  }

  #holds(nameplate: string): boolean {
    try {
      const { nameplates } = this.#options;
      const held = typeof nameplates === "function" ? nameplates() : nameplates;
      for (const candidate of held) if (candidate === nameplate) return true;
    } catch {
      // A failing nameplate source holds nothing.
    }
    return false;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#options.signal?.removeEventListener("abort", this.#onAbort);
      await this.ready.catch(() => {});
      clearInterval(this.#rescan);
      if (this.#socket !== undefined) await closeUdp(this.#socket);
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
