// SSDP, UPnP's discovery (UPnP Device Architecture 1.1, §1.3): an
// M-SEARCH for Internet Gateway Devices sent to the LAN's multicast group,
// and the LOCATION of each device that answers. Part of lib/net/upnp.ts.

import type { Socket } from "node:dgram";
import { bindUdp } from "../discovery/_udp.ts";
import { whenAborted } from "../_abort.ts";

/** SSDP's multicast group and port. */
export const SSDP_ADDRESS = "239.255.255.250";
export const SSDP_PORT = 1900;
/** What the search asks for: every IGD (v2 devices answer a v1 search too). */
export const SSDP_SEARCH_TARGET = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
/** MX, the seconds a device may wait at random before it answers: the least the spec allows. */
export const SSDP_MX_S = 1;
/** How long answers are taken: MX, and a round trip to spare. */
export const SSDP_WAIT_MS = SSDP_MX_S * 1000 + 250;
/** When the M-SEARCH is sent again (UDP may drop it), after the first. */
const SSDP_RESEND_MS = 150;
/** An SSDP answer is a few hundred bytes; a larger datagram is not read. */
const SSDP_MAX_ANSWER_BYTES = 2048;
/** Devices tried, one after another, at most (a LAN with many answering hosts). */
export const MAX_DEVICES = 4;

const ENCODER = new TextEncoder();

/** The M-SEARCH datagram. */
export function encodeSearch(): Uint8Array {
  return ENCODER.encode(
    [
      "M-SEARCH * HTTP/1.1",
      `HOST: ${SSDP_ADDRESS}:${SSDP_PORT}`,
      'MAN: "ssdp:discover"',
      `MX: ${SSDP_MX_S}`,
      `ST: ${SSDP_SEARCH_TARGET}`,
      "",
      "",
    ].join("\r\n"),
  );
}

/**
 * The LOCATION of an SSDP answer that came from `from`, or null if the
 * datagram is no `200 OK` answer with an http LOCATION on that address.
 */
export function parseSearchAnswer(bytes: Uint8Array, from: string): URL | null {
  if (bytes.length > SSDP_MAX_ANSWER_BYTES) return null;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
  const [status, ...lines] = text.split("\r\n");
  if (!/^HTTP\/1\.[01] 200(?: |$)/.test(status ?? "")) return null;
  const location = lines.map((line) => line.match(/^location:[ \t]*(\S+)[ \t]*$/i)).find((m) => m);
  if (!location) return null;
  try {
    const url = new URL(location[1]!);
    if (url.protocol !== "http:" || url.hostname !== from || url.username || url.password) {
      return null;
    }
    return url;
  } catch {
    return null;
  }
}

/** Where {@linkcode Search} sends its M-SEARCH. */
export interface SearchOptions {
  /** SSDP's multicast group, or (tests) a unicast responder. */
  ssdpAddress?: string;
  /** @default {1900} */
  ssdpPort?: number;
  /** Called once, when the first device answers. */
  onDiscovered?: () => void;
}

/**
 * An SSDP search: the M-SEARCH sent twice, then the LOCATIONs of the
 * devices that answer, in order, until {@linkcode SSDP_WAIT_MS} or the
 * signal; the first is taken as soon as it comes.
 */
export class Search {
  readonly #socket: Socket | null;
  readonly #found: URL[] = [];
  readonly #waiting = new Set<() => void>();
  readonly #timers: ReturnType<typeof setTimeout>[] = [];
  #over = false;
  #unlisten = () => {};

  private constructor(socket: Socket | null) {
    this.#socket = socket;
    this.#over = socket === null;
  }

  static async start(options: SearchOptions, signal: AbortSignal): Promise<Search> {
    let socket: Socket | null = null;
    try {
      socket = await bindUdp(0, false);
      socket.setMulticastTTL(1);
    } catch {
      // No socket: a search that finds nothing. (Or no TTL set: IPv4's default is 1.)
    }
    if (socket === null) return new Search(null);
    const search = new Search(socket);
    const target = options.ssdpAddress ?? SSDP_ADDRESS;
    const port = options.ssdpPort ?? SSDP_PORT;
    const message = encodeSearch();
    const send = () => socket.send(message, port, target, () => {});
    socket.on("message", (bytes: Uint8Array, from: { address: string }) => {
      const url = parseSearchAnswer(bytes, from.address);
      if (url === null || search.#found.some((known) => known.href === url.href)) return;
      if (search.#found.length < MAX_DEVICES) search.#found.push(url);
      if (search.#found.length === 1) options.onDiscovered?.();
      search.#wake();
    });
    const end = () => search.close();
    search.#unlisten = whenAborted(signal, end);
    if (search.#over) return search;
    search.#timers.push(setTimeout(send, SSDP_RESEND_MS), setTimeout(end, SSDP_WAIT_MS));
    send();
    return search;
  }

  /** The `i`-th device's LOCATION, once it answered; null if none does within the wait. */
  async answer(i: number): Promise<URL | null> {
    while (this.#found.length <= i && !this.#over) {
      await new Promise<void>((resolve) => this.#waiting.add(resolve));
    }
    return this.#found[i] ?? null;
  }

  #wake(): void {
    for (const resolve of this.#waiting) resolve();
    this.#waiting.clear();
  }

  /** Stops listening for answers. */
  close(): void {
    if (this.#over && this.#timers.length === 0) return this.#wake();
    this.#over = true;
    this.#unlisten();
    this.#timers.forEach(clearTimeout);
    this.#timers.length = 0;
    try {
      this.#socket?.close();
    } catch {
      // Closed already.
    }
    this.#wake();
  }
}
