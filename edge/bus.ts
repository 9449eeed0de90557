/**
 * The pairing bus: how rendezvous instances tell each other about nameplates.
 *
 * It is shaped like `BroadcastChannel` (`postMessage`, `onmessage`, `close`):
 * a message posted on one channel reaches every other channel of the same
 * name, never the poster. The edge is written against this shape only, so the
 * platform chooses what carries it: native `BroadcastChannel` where it crosses
 * instances, or {@linkcode LocalChannel} inside one process.
 *
 * @module
 */

/** A BroadcastChannel-shaped endpoint. */
export interface Bus {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
  close(): void;
}

/** Opens a bus channel by name. */
export type BusFactory = (name: string) => Bus;

const registry = new Map<string, Set<LocalChannel>>();

/**
 * An in-process channel with BroadcastChannel semantics: delivery is
 * asynchronous, to every other open channel of the same name, as a
 * structured clone.
 */
export class LocalChannel implements Bus {
  onmessage: ((event: MessageEvent) => void) | null = null;
  readonly name: string;
  #closed = false;

  constructor(name: string) {
    this.name = name;
    let peers = registry.get(name);
    if (!peers) registry.set(name, peers = new Set());
    peers.add(this);
  }

  postMessage(message: unknown): void {
    if (this.#closed) {
      throw new DOMException("Cannot post on a closed channel", "InvalidStateError");
    }
    const peers = registry.get(this.name) ?? new Set();
    for (const peer of peers) {
      if (peer === this) continue;
      const data = structuredClone(message);
      queueMicrotask(() => {
        if (!peer.#closed) peer.onmessage?.(new MessageEvent("message", { data }));
      });
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const peers = registry.get(this.name);
    peers?.delete(this);
    if (peers?.size === 0) registry.delete(this.name);
  }
}

/** The default factory: in-process channels. */
export const localBus: BusFactory = (name) => new LocalChannel(name);
