/**
 * The interfaces every bus implements.
 *
 * @module
 */

/** A BroadcastChannel-shaped endpoint (the shape `edge/hub.ts` uses). */
export interface Bus {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
  close(): void;
}

/** A channel opened by a {@linkcode BusFactory}. */
export interface BusChannel extends Bus {
  /** The name given to {@linkcode BusFactory.open}. */
  readonly name: string;
  /**
   * Settles once every message posted elsewhere from now on reaches this
   * channel (a Redis SUBSCRIBE or the first KV watch round trip); messages
   * posted before may or may not arrive. Posting does not need to wait.
   */
  readonly ready: Promise<void>;
}

/** What carries a factory's messages. */
export type BusKind = "local" | "broadcast" | "kv" | "redis";

/** Opens channels and registries on one backend; owns its connections. */
export interface BusFactory extends AsyncDisposable {
  readonly kind: BusKind;
  /**
   * Opens a channel; throws `InvalidStateError` once the factory is closed.
   * With `{ listen: false }` the channel only posts: it receives nothing, and
   * the backend need not subscribe (a Redis SUBSCRIBE, a KV watch), so an
   * instance can address another instance's channel without hearing its
   * traffic.
   */
  open(name: string, options?: OpenOptions): BusChannel;
  /** A nameplate registry on the same backend. */
  registry(options?: RegistryOptions): NameplateRegistry;
  /** Closes every channel, waits for posted messages to leave, disconnects. */
  close(): Promise<void>;
}

/**
 * Atomic nameplate claims across instances. Entries expire `ttlMs` after the
 * last successful {@linkcode NameplateRegistry.reserve} by their owner.
 */
export interface NameplateRegistry {
  /**
   * Claims `nameplate` for `owner`: true if it was free (or expired) or is
   * already `owner`'s, whose entry is then refreshed; false if another owns it.
   */
  reserve(nameplate: string, owner: string): Promise<boolean>;
  /** Frees `nameplate` if `owner` holds it; true if it did. */
  release(nameplate: string, owner: string): Promise<boolean>;
  /** The current owner, or undefined if the nameplate is free. */
  owner(nameplate: string): Promise<string | undefined>;
}

/** Options for {@linkcode BusFactory.open}. */
export interface OpenOptions {
  /**
   * Whether the channel receives messages; a post-only channel is `ready` at once.
   * @default {true}
   */
  listen?: boolean;
}

/** Options for {@linkcode BusFactory.registry}. */
export interface RegistryOptions {
  /**
   * Separates registries on one backend.
   * @default {"nameplates"}
   */
  namespace?: string;
  /**
   * Milliseconds an entry lives unless reserved again.
   * @default {REGISTRY_TTL_MS}
   */
  ttlMs?: number;
}

/** Options every factory takes. */
export interface BusOptions {
  /**
   * Receives errors no caller can catch: a failed Redis publish or KV commit,
   * an undecodable message, an exception thrown by an `onmessage` handler.
   * @default {(error) => console.error("bus:", error)}
   */
  onError?: (error: unknown) => void;
}
