/**
 * What `send` and `receive` share about the connection: the path flags, and
 * the connection's events as the reporter shows them.
 *
 * @module
 */

import type { OpenOptions } from "../lib/connection/open.ts";
import type { Connection } from "../lib/connection/types.ts";
import { UsageError } from "./errors.ts";
import type { Reporter } from "./report.ts";

/** Help lines for the path flags. */
export const PATH_HELP =
  `  --direct-only  fail unless a direct connection is found (no relayed data)
  --relay-only   never try a direct connection
  --port N       listen and dial from port N (for a port-forwarded host)
  --no-port-mapping
                 do not ask the router to forward a port (UPnP, NAT-PMP, PCP)`;

/** The parseArgs options of the path flags. */
export const PATH_OPTIONS = {
  "direct-only": { type: "boolean", default: false },
  "relay-only": { type: "boolean", default: false },
  port: { type: "string" },
  "no-port-mapping": { type: "boolean", default: false },
} as const;

/** Parsed path flags: the connection's options. */
export type PathArgs = Required<Pick<OpenOptions, "direct" | "port" | "portMapping">>;

/** Checks the path flags. */
export function parsePathArgs(
  values: {
    "direct-only": boolean;
    "relay-only": boolean;
    port?: string | undefined;
    "no-port-mapping": boolean;
  },
): PathArgs {
  if (values["direct-only"] && values["relay-only"]) {
    throw new UsageError("Cannot use --direct-only with --relay-only");
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 1 && values.port !== undefined || port > 65535) {
    throw new UsageError(`Cannot use --port ${values.port}: give a port from 1 to 65535`);
  }
  return {
    direct: values["direct-only"] ? "only" : values["relay-only"] ? "never" : "auto",
    port,
    portMapping: !values["no-port-mapping"],
  };
}

/**
 * Reports the connection's events until it ends: `paired` (on the sender,
 * that a receiver claimed the code), `connected` once the key is confirmed
 * (with `--direct-only`, once the direct path is found), and every move.
 * Returns the path of the last move, which carried the end of a transfer.
 */
export function reportEvents(
  connection: Connection,
  reporter: Reporter,
  args: PathArgs,
): { path: "relay" | "direct" } {
  let connected = false;
  const last = { path: "relay" as "relay" | "direct" };
  (async () => {
    for await (const event of connection.events()) {
      switch (event.type) {
        case "paired":
          if (connection.side === "sender") {
            reporter.report({ type: "waiting", message: "Receiver connected; checking the code" });
          }
          break;
        case "unpaired":
          reporter.report({
            type: "waiting",
            message: "That receiver left before checking the code; waiting for the receiver",
          });
          break;
        case "path":
          last.path = event.path;
          if (args.direct === "only" && !connected && event.path === "direct") {
            connected = true;
            reporter.report({ type: "connected", path: "direct" });
          } else if (event.address !== undefined) {
            reporter.report({ type: "path", path: "direct", address: event.address });
          } else if (event.reason !== undefined) {
            reporter.report({ type: "path", path: "relay", reason: event.reason });
          } else if (args.direct !== "only") {
            connected = true;
            reporter.report({ type: "connected", path: "relay" });
          }
          break;
        case "fallback":
          last.path = "relay";
          reporter.report({ type: "path", path: "relay", from: "direct", reason: event.reason });
          break;
      }
    }
  })();
  return last;
}

/** The `done` event's account of what this side sent where, when anything went over the relay. */
export function traffic(connection: Connection): { relayed?: number; resent?: number } {
  const { relay, resent } = connection.traffic;
  return { ...(relay > 0 ? { relayed: relay } : {}), ...(resent > 0 ? { resent } : {}) };
}
