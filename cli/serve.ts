/**
 * `punch serve`: run a rendezvous server.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { busFromPlatform } from "../edge/bus.ts";
import { createRendezvous } from "../edge/handler.ts";
import { UsageError } from "./errors.ts";
import type { Reporter } from "./report.ts";

export const SERVE_HELP = `Usage: punch serve [--hostname H] [--port N]

Run a rendezvous server: it pairs senders and receivers by nameplate, passes
their key exchange and relays their encrypted bytes. It never sees the code's
words or the files' contents.

Options:
  --hostname H   address to listen on (default: 0.0.0.0)
  --port N       port to listen on; 0 picks a free one (default: 8000)
  --json         one JSON object per line on stdout
  -h, --help     this help

Environment:
  PUNCH_BUS      how the instances of a cluster reach each other, so that a
                 sender and a receiver pair whichever instance each lands on:
                 redis://HOST:PORT (self-hosted), kv or kv:PATH (Deno KV),
                 broadcast (Workers of one process); unset: this process alone
`;

/** Parsed `punch serve` arguments. */
export interface ServeArgs {
  hostname: string;
  port: number;
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
  return {
    hostname: values.hostname,
    port,
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
  const rendezvous = createRendezvous({ bus, log });
  if (bus.kind !== "local") {
    log(`rendezvous instance ${rendezvous.stats().instance} on the ${bus.kind} bus`);
  }
  const server = Deno.serve({
    hostname: args.hostname,
    port: args.port,
    signal,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      reporter.report({ type: "listening", url: `http://${host}:${port}` });
    },
  }, rendezvous.handler);
  await server.finished;
  await rendezvous.close();
}
