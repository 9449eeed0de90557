/**
 * `punch serve`: run a rendezvous server.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { busFromPlatform } from "../edge/bus.ts";
import { type Limits, parseLimits } from "../edge/defaults.ts";
import { createRendezvous } from "../edge/handler.ts";
import { serveRendezvous } from "../edge/transport.ts";
import { UsageError } from "./errors.ts";
import type { Reporter } from "./report.ts";

export const SERVE_HELP = `Usage: punch serve [--hostname H] [--port N] [--limit NAME=VALUE]...
                   [--client-address-header NAME]

Run a rendezvous server: it pairs senders and receivers by nameplate, passes
their key exchange and relays their encrypted bytes. It never sees the code's
words or the files' contents.

Options:
  --hostname H   address to listen on (default: 0.0.0.0)
  --port N       port to listen on; 0 picks a free one (default: 8000)
  --limit NAME=VALUE
                 override one of the limits in edge/defaults.ts, e.g.
                 maxConnectionsPerAddress=256 (docs/deploy.md lists them)
  --client-address-header NAME
                 behind a reverse proxy: take the client's address from this
                 header (e.g. x-forwarded-for, its last element), which the
                 proxy must set; never trusted unless named here
  --json         one JSON object per line on stdout
  -h, --help     this help

Environment:
  PUNCH_BUS      how the instances of a cluster reach each other, so that a
                 sender and a receiver pair whichever instance each lands on:
                 redis://HOST:PORT (self-hosted), kv or kv:PATH (Deno KV),
                 broadcast (Workers of one process); unset: this process alone
  PUNCH_LIMITS   NAME=VALUE,… as --limit (which wins)
  PUNCH_CLIENT_ADDRESS_HEADER
                 as --client-address-header (which wins)
`;

/** The environment variable with overrides of the rendezvous' limits. */
export const LIMITS_ENV = "PUNCH_LIMITS";

/** The environment variable naming the trusted proxy's client address header. */
export const CLIENT_ADDRESS_HEADER_ENV = "PUNCH_CLIENT_ADDRESS_HEADER";

/** Parsed `punch serve` arguments. */
export interface ServeArgs {
  hostname: string;
  port: number;
  /** Overrides of the rendezvous' limits. */
  limits: Partial<Limits>;
  /** The trusted proxy's header naming the client, if any. */
  clientAddressHeader?: string;
  json: boolean;
  verbose: boolean;
  help: boolean;
}

/** Parses `punch serve` arguments; throws {@linkcode UsageError}. */
export function parseServeArgs(args: string[]): ServeArgs {
  const { values, positionals } = parseArgs({
    args,
    options: {
      hostname: { type: "string", default: "0.0.0.0" },
      port: { type: "string", default: "8000" },
      limit: { type: "string", multiple: true, default: [] },
      "client-address-header": { type: "string" },
      json: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`Cannot serve: unexpected "${positionals[0]}"`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`Cannot serve: --port ${values.port} is not a port number (0 to 65535)`);
  }
  let limits: Partial<Limits>;
  try {
    limits = parseLimits([Deno.env.get(LIMITS_ENV) ?? "", ...values.limit]);
  } catch (error) {
    throw new UsageError(`Cannot serve: ${(error as Error).message}`);
  }
  const header = values["client-address-header"] ?? Deno.env.get(CLIENT_ADDRESS_HEADER_ENV);
  if (header !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header.trim())) {
    throw new UsageError(`Cannot serve: "${header}" is not a header name`);
  }
  return {
    hostname: values.hostname,
    port,
    limits,
    ...(header?.trim() ? { clientAddressHeader: header.trim() } : {}),
    json: values.json,
    verbose: values.verbose,
    help: values.help,
  };
}

/** Runs `punch serve` until the signal aborts. */
export async function serve(
  args: ServeArgs,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<void> {
  const log = (line: string) => console.error(line);
  await using bus = await busFromPlatform({ onError: (error) => log(`bus: ${error}`) });
  const rendezvous = createRendezvous({
    bus,
    log,
    limits: args.limits,
    ...(args.clientAddressHeader ? { clientAddressHeader: args.clientAddressHeader } : {}),
  });
  if (args.clientAddressHeader) {
    log(`client addresses from the ${args.clientAddressHeader} header (trusted proxy)`);
  }
  if (bus.kind !== "local") {
    log(`rendezvous instance ${rendezvous.stats().instance} on the ${bus.kind} bus`);
  }
  // The hardened transport, not Deno.serve: it survives running out of
  // descriptors and refuses oversize messages as they arrive (edge/transport.ts).
  const server = serveRendezvous(rendezvous, {
    hostname: args.hostname,
    port: args.port,
    signal,
    log,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      reporter.report({ type: "listening", url: `http://${host}:${port}` });
    },
  });
  await server.finished;
  await rendezvous.close();
}
