/**
 * The direct-path flags shared by `send` and `receive`, and running
 * {@linkcode goDirect} beside a transfer.
 *
 * @module
 */

import type { Channel } from "../lib/link/channel.ts";
import { MigratingChannel, type Path } from "../lib/link/migrating.ts";
import { Fallback } from "../lib/session/fallback.ts";
import { type DirectOutcome, goDirect } from "../lib/session/direct.ts";
import type { Session } from "../lib/session/session.ts";
import { UsageError } from "./errors.ts";
import type { Event, Reporter } from "./report.ts";

/** Help lines for the direct-path flags. */
export const DIRECT_HELP =
  `  --direct-only  fail unless a direct connection is found (no relayed data)
  --relay-only   never try a direct connection
  --port N       listen and dial from port N (for a port-forwarded host)
  --no-port-mapping
                 do not ask the router to forward a port (NAT-PMP)`;

/** The parseArgs options of the direct-path flags. */
export const DIRECT_OPTIONS = {
  "direct-only": { type: "boolean", default: false },
  "relay-only": { type: "boolean", default: false },
  port: { type: "string" },
  "no-port-mapping": { type: "boolean", default: false },
} as const;

/** Parsed direct-path flags. */
export interface DirectArgs {
  directOnly: boolean;
  relayOnly: boolean;
  port: number;
  /** Ask the router for a port mapping (NAT-PMP); off with `--no-port-mapping`. */
  portMapping: boolean;
}

/** Checks the direct-path flags. */
export function parseDirectArgs(
  values: {
    "direct-only": boolean;
    "relay-only": boolean;
    port?: string | undefined;
    "no-port-mapping": boolean;
  },
): DirectArgs {
  if (values["direct-only"] && values["relay-only"]) {
    throw new UsageError("Cannot use --direct-only with --relay-only");
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 1 && values.port !== undefined || port > 65535) {
    throw new UsageError(`Cannot use --port ${values.port}: give a port from 1 to 65535`);
  }
  return {
    directOnly: values["direct-only"],
    relayOnly: values["relay-only"],
    port,
    portMapping: !values["no-port-mapping"],
  };
}

/** `--direct-only` found no direct path. */
export class NoDirectPathError extends Error {
  constructor(reason: string) {
    super(`No direct connection (--direct-only): ${reason}`);
    this.name = "NoDirectPathError";
  }
}

/** A transfer's channel with the direct-path search running beside it. */
export interface DirectRun {
  channel: MigratingChannel;
  /** The relay in reserve, should the direct connection break. */
  fallback: Fallback | undefined;
  /** Stops the search and waits for it. */
  finish(): Promise<void>;
}

/**
 * Wraps the session's relay channel and starts looking for a direct path.
 * With `--direct-only`, waits for it and fails without one.
 */
export async function startDirect(
  session: Session,
  server: string,
  args: DirectArgs,
  reporter: Reporter,
): Promise<DirectRun> {
  const channel = new MigratingChannel(session.channel);
  const stop = new AbortController();
  const search: Promise<DirectOutcome | undefined> = goDirect(session, channel, {
    server,
    relayOnly: args.relayOnly,
    port: args.port,
    portMapping: args.portMapping,
    signal: stop.signal,
    onDirect: (address) => reporter.report({ type: "path", path: "direct", address }),
    onRelay: (reason) => {
      if (!args.directOnly) reporter.report({ type: "path", path: "relay", reason });
    },
  }).catch((error) => {
    if (!stop.signal.aborted) {
      reporter.report({ type: "warning", message: `Direct connection failed: ${error.message}` });
    }
    return undefined;
  });
  if (args.directOnly) {
    const outcome = await search;
    if (outcome?.path !== "direct") {
      throw new NoDirectPathError(outcome?.reason ?? "the search failed");
    }
  }
  // With --direct-only nothing may go over the relay, not even after a
  // broken direct connection: it is released once both directions moved.
  // Otherwise it stays open in reserve (fallback.ts).
  let fallback: Fallback | undefined;
  if (args.directOnly) {
    channel.moved.then(() => session.client.release("happy")).catch(() => {});
  } else if (!args.relayOnly) {
    fallback = await Fallback.create(session.channel, session.keys, session.side);
    fallback.watch(channel);
  }
  return {
    channel,
    fallback,
    async finish() {
      stop.abort();
      await search;
    },
  };
}

/** What one side's transfer reports when it ends. */
export interface TransferOutcome {
  files: number;
  bytes: number;
  /** Bytes the receiver held already and kept. */
  resumed: number;
}

/**
 * One side's transfer on a channel. `started()` starts the clock (on
 * acceptance); `again` is set when the transfer runs a second time, on the
 * relay after the direct connection broke; `reporter` takes the transfer's
 * events (`resume`, `progress`).
 */
export type Transfer = (
  channel: Channel,
  started: () => void,
  again: boolean,
  reporter: Reporter,
) => Promise<TransferOutcome>;

/** What the transfer's runs report, so that a second run can go on from the first. */
class Runs {
  /** Bytes this side held before the command: the first run's `resume`. */
  heldBefore = 0;
  /** Bytes the first run delivered and the second resumed. */
  carried = 0;

  constructor(readonly reporter: Reporter) {}

  /** The first run's reporter: notes what was held. */
  first(): Reporter {
    return this.#wrap((event) => {
      if (event.type === "resume") this.heldBefore = event.bytes;
      return event;
    });
  }

  /**
   * The second run's reporter, on the relay after a fallback: what the
   * first run delivered counts as moved, not as resumed, so that progress
   * goes on from where it was, towards the first run's total.
   */
  second(): Reporter {
    return this.#wrap((event) => {
      if (event.type === "resume") this.carried = Math.max(0, event.bytes - this.heldBefore);
      if (event.type !== "progress") return event;
      return { ...event, bytes: event.bytes + this.carried, total: event.total + this.carried };
    });
  }

  #wrap(map: (event: Event) => Event): Reporter {
    return {
      report: (event) => this.reporter.report(map(event)),
      ask: (question) => this.reporter.ask(question),
    };
  }
}

/**
 * Runs one side's transfer on a session: the direct-path search beside it,
 * the transfer again on the relay if the direct connection breaks,
 * `connected` and `done` events, and the rendezvous released either way.
 */
export async function runTransfer(
  session: Session,
  server: string,
  args: DirectArgs,
  reporter: Reporter,
  transfer: Transfer,
  signal?: AbortSignal,
): Promise<void> {
  const direct = await startDirect(session, server, args, reporter).catch(async (error) => {
    await session.client.release("errory");
    throw error;
  });
  const channel = direct.channel;
  try {
    reporter.report({ type: "connected", path: channel.path });
    let start = performance.now();
    let path: Path;
    let result: TransferOutcome;
    const runs = new Runs(reporter);
    try {
      result = await transfer(channel, () => start = performance.now(), false, runs.first());
      path = session.side === "sender" ? channel.path : channel.readPath;
    } catch (error) {
      if (!direct.fallback?.canTake(error) || signal?.aborted) throw error;
      const reason = direct.fallback.reason(error);
      reporter.report({ type: "path", path: "relay", from: "direct", reason });
      const relay = await direct.fallback.take(error, signal ? { signal } : {});
      const again = await transfer(relay, () => {}, true, runs.second());
      result = { ...again, bytes: again.bytes + runs.carried, resumed: runs.heldBefore };
      path = "relay";
    }
    await direct.finish();
    reporter.report({
      type: "done",
      path,
      files: result.files,
      bytes: result.bytes,
      ...(result.resumed > 0 ? { resumed: result.resumed } : {}),
      seconds: (performance.now() - start) / 1000,
    });
    await session.client.release("happy");
  } catch (error) {
    channel.abort(error);
    await direct.finish();
    await session.client.release("errory");
    throw error;
  }
}
