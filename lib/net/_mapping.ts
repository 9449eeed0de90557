// What the three port mapping protocols share: a granted mapping, the
// result of asking, and the process-wide registry of what was granted or is
// still being asked, so that a process deletes every mapping before it
// exits (releasePortMappings).

/** How a mapping was asked for: NAT-PMP (RFC 6886), PCP (RFC 6887) or UPnP IGD. */
export type PortMappingProtocol = "natpmp" | "pcp" | "upnp";

/** A public port the router forwards to this host. */
export interface PortMapping {
  readonly protocol: PortMappingProtocol;
  /** The public `ip:port` the router forwards to the internal port. */
  readonly address: string;
  /** Asks the router to delete the mapping: best effort, bounded in time; once. */
  close(): Promise<void>;
}

/**
 * What asking one protocol gave: a mapping, or why there is none, and
 * whether a device answered at all (false: no such device here, most
 * likely; true: one answered and refused, or answered something unusable).
 */
export type MappingResult =
  | { readonly protocol: PortMappingProtocol; readonly mapping: PortMapping }
  | {
    readonly protocol: PortMappingProtocol;
    readonly mapping: null;
    readonly answered: boolean;
    readonly reason: string;
  };

/** A refusal, as a {@linkcode MappingResult}. */
export function refused(
  protocol: PortMappingProtocol,
  answered: boolean,
  reason: string,
): MappingResult {
  return { protocol, mapping: null, answered, reason };
}

const live = new Set<PortMapping>();
const asking = new Map<Promise<unknown>, AbortController>();
const deleting = new Set<Promise<void>>();

/**
 * A mapping as the registry keeps it: `remove` is the protocol's deletion;
 * the mapping's `close()` runs it once and is awaited by
 * {@linkcode releasePortMappings} while it runs.
 */
export function grantedMapping(
  protocol: PortMappingProtocol,
  address: string,
  remove: () => Promise<void>,
): PortMapping {
  let closing: Promise<void> | undefined;
  const mapping: PortMapping = {
    protocol,
    address,
    close: () => closing ??= deletion(remove).finally(() => live.delete(mapping)),
  };
  live.add(mapping);
  return mapping;
}

/** Runs a deletion that is not a granted mapping's (one asked for and never answered). */
export function deletion(remove: () => Promise<void>): Promise<void> {
  const running = remove().catch(() => {});
  deleting.add(running);
  running.finally(() => deleting.delete(running));
  return running;
}

/**
 * Runs `ask` with a signal that {@linkcode releasePortMappings} aborts, and
 * keeps it in the registry until it settles.
 */
export function asked<T>(
  signal: AbortSignal | undefined,
  ask: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const stop = new AbortController();
  const running = ask(signal ? AbortSignal.any([signal, stop.signal]) : stop.signal);
  asking.set(running, stop);
  running.finally(() => asking.delete(running)).catch(() => {});
  return running;
}

/** Most passes of {@linkcode releasePortMappings}: a request aborted may still grant once. */
const RELEASE_PASSES = 3;

/**
 * Stops every request for a mapping under way in this process and deletes
 * every mapping granted and not deleted yet; resolves once all of that is
 * done (each deletion is bounded in time by its protocol). For a program's
 * way out: `punch` awaits it before it exits, on an interrupt too.
 */
export async function releasePortMappings(): Promise<void> {
  for (let pass = 0; pass < RELEASE_PASSES; pass++) {
    if (asking.size === 0 && live.size === 0 && deleting.size === 0) return;
    for (const stop of asking.values()) stop.abort();
    await Promise.allSettled(asking.keys());
    await Promise.allSettled([...live].map((mapping) => mapping.close()));
    await Promise.allSettled(deleting);
  }
}
