/**
 * `punch send`: offer files and directories under a fresh code.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openSender } from "../lib/session/session.ts";
import { scanPaths } from "../lib/transfer/manifest.ts";
import { sendFiles } from "../lib/transfer/send.ts";
import {
  DIRECT_HELP,
  DIRECT_OPTIONS,
  type DirectArgs,
  parseDirectArgs,
  runTransfer,
} from "./direct.ts";
import { UsageError } from "./errors.ts";
import { formatBytes } from "./progress.ts";
import type { Reporter } from "./report.ts";
import { configuredServer, SERVER_ENV, startEmbedded } from "./server.ts";

export const SEND_HELP =
  `Usage: punch send [--server URL] [--code CODE] [--direct-only | --relay-only] [--port N] [--json] PATH...

Offer files and directories to one receiver. Prints a code like
4812-velvet-harbor; the other side runs: punch receive 4812-velvet-harbor

Options:
  --server URL   rendezvous server (default: $${SERVER_ENV}, else one runs inside
                 this process and is announced on the local network)
  --code CODE    use this code instead of a fresh one (NUMBER-word-word)
${DIRECT_HELP}
  --json         one JSON object per line on stdout
  --verbose      print the cause of an error
  -h, --help     this help
`;

/** Parsed `punch send` arguments. */
export interface SendArgs extends DirectArgs {
  paths: string[];
  server?: string;
  code?: string;
  json: boolean;
  verbose: boolean;
  help: boolean;
}

/** Parses `punch send` arguments; throws {@linkcode UsageError}. */
export function parseSendArgs(args: string[]): SendArgs {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      server: { type: "string" },
      code: { type: "string" },
      json: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      ...DIRECT_OPTIONS,
    },
  });
  if (!values.help && positionals.length === 0) {
    throw new UsageError("Cannot send: name at least one file or directory");
  }
  return {
    paths: positionals,
    ...parseDirectArgs(values),
    ...(values.server !== undefined ? { server: values.server } : {}),
    ...(values.code !== undefined ? { code: values.code } : {}),
    json: values.json,
    verbose: values.verbose,
    help: values.help,
  };
}

/** Runs `punch send`. */
export async function send(args: SendArgs, reporter: Reporter, signal: AbortSignal): Promise<void> {
  const scan = await scanPaths(args.paths, { signal });
  for (const message of scan.warnings) reporter.report({ type: "warning", message });

  let server = configuredServer(args.server);
  await using embedded = server === undefined ? await startEmbedded(reporter) : undefined;
  server ??= embedded!.url;

  const session = await openSender(server, {
    ...(args.code !== undefined ? { code: args.code } : {}),
    onCode: (code) => reporter.report({ type: "code", code }),
    onPaired: () =>
      reporter.report({ type: "waiting", message: "Receiver connected; checking the code" }),
    onUnpaired: () =>
      reporter.report({
        type: "waiting",
        message: "That receiver left before checking the code; waiting for the receiver",
      }),
    signal,
  });
  await runTransfer(
    session,
    server,
    args,
    reporter,
    (channel, started, again, reporter) =>
      sendFiles(channel, scan, {
        onAccepted: () => {
          started();
          if (!again) reporter.report({ type: "waiting", message: "Accepted; sending" });
        },
        onCheck: ({ files, bytes }) =>
          reporter.report({
            type: "waiting",
            message: `The receiver holds ${formatBytes(bytes)} of ${files} file(s) already; ` +
              `checking them against these`,
          }),
        onCheckProgress: (p) => reporter.report({ type: "checking", ...p }),
        onResume: (r) => reporter.report({ type: "resume", ...r }),
        onProgress: (p) => reporter.report({ type: "progress", ...p }),
        signal,
      }),
    signal,
  );
}
