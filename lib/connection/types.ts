/**
 * The types of a connection: what docs/api.md calls `Connection` and
 * `ConnectionEvent`, and how one is set up.
 *
 * @module
 */

import type { Side } from "../crypto/keys.ts";
import type { PunchError } from "../errors.ts";
import {
  CARRIER_STALL_MS,
  CLOSE_WAIT_MS,
  FLOW_STALL_MS,
  KEEPALIVE_MS,
  SEARCH_RETRY_AFTER_MISS_MS,
  SEARCH_RETRY_MAX_MS,
  SEARCH_RETRY_MIN_MS,
} from "./defaults.ts";
import type { Path } from "./path.ts";
import type { RoundOptions, RoundResult } from "./_search.ts";

/** What {@linkcode Connection.events} yields: docs/api.md, "Events". */
export type ConnectionEvent =
  | { type: "paired" }
  | { type: "unpaired" }
  | { type: "path"; path: "relay" | "direct"; address?: string; reason?: string }
  | { type: "fallback"; reason: string }
  | { type: "closed" }
  | { type: "error"; error: PunchError };

/** A connection to the other side: docs/api.md, "Connection". */
export interface Connection extends AsyncDisposable {
  readonly code: string;
  readonly side: Side;
  readonly path: Path;
  readonly ready: Promise<void>;
  events(): AsyncIterableIterator<ConnectionEvent>;
  send(message: Uint8Array): Promise<void>;
  receive(options?: { signal?: AbortSignal }): Promise<Uint8Array | null>;
  close(): Promise<void>;
  abort(reason?: unknown): void;
  readonly sentTag: Uint8Array;
  readonly receivedTag: Uint8Array;
  /** Message bytes this side sent over the relay and over direct paths, and how many of them again. */
  readonly traffic: Readonly<Traffic>;
}

/** What {@linkcode Connection.traffic} counts. */
export interface Traffic {
  /** Message bytes sent over the relay, those sent again included. */
  relay: number;
  /** Message bytes sent over direct connections. */
  direct: number;
  /** Message bytes sent again because the carrier they went on first died. */
  resent: number;
}

/** The timings of a connection (defaults.ts); tests shorten them. */
export interface ConnectionTimings {
  keepaliveMs: number;
  carrierStallMs: number;
  flowStallMs: number;
  closeWaitMs: number;
  retryMinMs: number;
  retryAfterMissMs: number;
  retryMaxMs: number;
}

/** The timings of defaults.ts. */
export const DEFAULT_TIMINGS: Readonly<ConnectionTimings> = Object.freeze({
  keepaliveMs: KEEPALIVE_MS,
  carrierStallMs: CARRIER_STALL_MS,
  flowStallMs: FLOW_STALL_MS,
  closeWaitMs: CLOSE_WAIT_MS,
  retryMinMs: SEARCH_RETRY_MIN_MS,
  retryAfterMissMs: SEARCH_RETRY_AFTER_MISS_MS,
  retryMaxMs: SEARCH_RETRY_MAX_MS,
});

/** How a connection looks for direct paths. */
export interface DirectPolicy {
  direct: "auto" | "only" | "never";
  server: string;
  port: number;
  portMapping: boolean;
  /** Runs one search round; tests give a fake network. @default {runRound} */
  search?: (options: RoundOptions) => Promise<RoundResult>;
  /** @default {DEFAULT_TIMINGS} */
  timings?: ConnectionTimings;
}
