/**
 * Asking the router for a port forward with every protocol at once: NAT-PMP
 * (lib/net/natpmp.ts), PCP (lib/net/pcp.ts) and UPnP IGD (lib/net/upnp.ts).
 * Routers speak one, two or all three; whichever grants, its public
 * `ip:port` is a candidate where the other side can connect.
 *
 * Protocol flow (docs/protocol/transit.md, "Port mapping"):
 * - {@linkcode PortMapper} sends all three requests at once. NAT-PMP and
 *   PCP settle within 100 ms where no router speaks them, 250 ms where one
 *   does. UPnP's discovery may take up to a second and a quarter, so
 *   {@linkcode PortMapper.quick} does not wait for it, unless a device has
 *   answered the search by then: then the rest (a description and two SOAP
 *   calls to a LAN device, milliseconds) gets up to
 *   {@linkcode UPNP_QUICK_WAIT_MS} more. A grant that comes later is handed
 *   on when it comes (`onMapping`).
 * - {@linkcode PortMapper.close} stops what is still asking and deletes
 *   every mapping granted, and resolves once it is done; so does
 *   {@linkcode releasePortMappings} for every mapper in the process, which
 *   a program awaits before it exits.
 *
 * @module
 */

import {
  type MappingResult,
  type PortMapping,
  type PortMappingProtocol,
  refused,
  releasePortMappings,
} from "./_mapping.ts";
import { mapPortNatPmp } from "./natpmp.ts";
import { mapPortPcp } from "./pcp.ts";
import { mapPortUpnp } from "./upnp.ts";

export { type MappingResult, type PortMapping, type PortMappingProtocol, releasePortMappings };

/**
 * How much longer {@linkcode PortMapper.quick} waits for UPnP once NAT-PMP
 * and PCP have settled, where a device has answered the search: its grant
 * takes a description and two SOAP calls on the LAN (miniupnpd: under
 * 20 ms after its SSDP answer, which came in 50–100 ms), so most grants
 * are in the first candidates rather than trickled after them.
 */
export const UPNP_QUICK_WAIT_MS = 250;

/** Every protocol, in the order their results are listed. */
export const PORT_MAPPING_PROTOCOLS: readonly PortMappingProtocol[] = ["natpmp", "pcp", "upnp"];

/** Options of {@linkcode PortMapper}. */
export interface PortMapperOptions {
  /** Which protocols to ask. @default {PORT_MAPPING_PROTOCOLS} */
  protocols?: readonly PortMappingProtocol[];
  /** The NAT-PMP and PCP server; by default the default route's next hop (Linux), else none. */
  gateway?: string;
  /** NAT-PMP's port on the gateway (tests). @default {5351} */
  natpmpPort?: number;
  /** PCP's port on the gateway (tests). @default {5351} */
  pcpPort?: number;
  /** This host's address toward the gateway, for PCP; by default the interface's on its network. */
  clientAddress?: string;
  /** Where the SSDP search goes (tests: a unicast responder). @default {"239.255.255.250"} */
  ssdpAddress?: string;
  /** @default {1900} */
  ssdpPort?: number;
  /** Called with each mapping granted, as it comes, until the mapper closes. */
  onMapping?: (mapping: PortMapping) => void;
  /** Stops asking (grants already made stay until {@linkcode PortMapper.close}). */
  signal?: AbortSignal;
}

/** Every port mapping request for one internal port, and what they granted. */
export class PortMapper {
  readonly #granted: PortMapping[] = [];
  readonly #results: MappingResult[] = [];
  readonly #stop = new AbortController();
  readonly #asking: Promise<void>[];
  readonly #quick: Promise<void>;
  #onMapping: ((mapping: PortMapping) => void) | undefined;
  #closing: Promise<void> | undefined;

  /** Asks every protocol in `options.protocols` to forward TCP `internalPort` to this host. */
  constructor(internalPort: number, options: PortMapperOptions = {}) {
    this.#onMapping = options.onMapping;
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#stop.signal])
      : this.#stop.signal;
    const gateway = options.gateway === undefined ? {} : { gateway: options.gateway };
    const ask: Record<PortMappingProtocol, () => Promise<MappingResult>> = {
      natpmp: () =>
        mapPortNatPmp(internalPort, {
          ...gateway,
          ...(options.natpmpPort ? { port: options.natpmpPort } : {}),
          signal,
        }),
      pcp: () =>
        mapPortPcp(internalPort, {
          ...gateway,
          ...(options.pcpPort ? { port: options.pcpPort } : {}),
          ...(options.clientAddress ? { clientAddress: options.clientAddress } : {}),
          signal,
        }),
      upnp: () =>
        mapPortUpnp(internalPort, {
          ...(options.ssdpAddress ? { ssdpAddress: options.ssdpAddress } : {}),
          ...(options.ssdpPort ? { ssdpPort: options.ssdpPort } : {}),
          onDiscovered: () => discovered = true,
          signal,
        }),
    };
    let discovered = false;
    const protocols = options.protocols ?? PORT_MAPPING_PROTOCOLS;
    // A protocol's failure, even a bug, is its refusal: never the caller's crash.
    const settled = (protocol: PortMappingProtocol) =>
      ask[protocol]().catch((error) => refused(protocol, false, `failed: ${error}`));
    const asking = new Map(
      protocols.map((protocol) => [protocol, settled(protocol).then((r) => this.#settle(r))]),
    );
    this.#asking = [...asking.values()];
    const upnp = asking.get("upnp");
    this.#quick = Promise.all(
      [...asking].filter(([protocol]) => protocol !== "upnp").map(([, promise]) => promise),
    ).then(async () => {
      if (upnp === undefined || !discovered) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([upnp, new Promise((r) => timer = setTimeout(r, UPNP_QUICK_WAIT_MS))]);
      clearTimeout(timer);
    });
  }

  /** A request settled: keep its result; a grant after close is deleted at once. */
  #settle(result: MappingResult): void {
    this.#results.push(result);
    if (result.mapping === null) return;
    // Granted while closing: close() deletes it with the others.
    this.#granted.push(result.mapping);
    if (this.#closing !== undefined) return;
    try {
      this.#onMapping?.(result.mapping);
    } catch {
      // The caller's problem; the mapping stays listed.
    }
  }

  /**
   * Resolves once NAT-PMP and PCP have settled (at most 250 ms), and UPnP
   * too where a device answered the search by then (at most
   * {@linkcode UPNP_QUICK_WAIT_MS} more); otherwise UPnP may still be asking.
   */
  quick(): Promise<void> {
    return this.#quick;
  }

  /** Resolves once every protocol has settled. */
  settled(): Promise<void> {
    return Promise.all(this.#asking).then(() => {});
  }

  /** Every mapping granted so far, in the order granted. */
  get mappings(): readonly PortMapping[] {
    return this.#granted;
  }

  /** What each protocol that has settled gave, in the order they settled. */
  get results(): readonly MappingResult[] {
    return this.#results;
  }

  /** Replaces the callback for later grants (the mappings so far are in {@linkcode mappings}). */
  set onMapping(callback: ((mapping: PortMapping) => void) | undefined) {
    this.#onMapping = callback;
  }

  /**
   * Stops the requests still under way, deletes every mapping granted (and
   * any granted while stopping), and resolves once that is done. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#onMapping = undefined;
      this.#stop.abort();
      await Promise.allSettled(this.#asking);
      await Promise.allSettled(this.#granted.map((mapping) => mapping.close()));
    })();
    return this.#closing;
  }
}
