/**
 * `punch send`: offer files and directories under a fresh code.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openSender } from "../lib/connection/open.ts";
import { sendFiles } from "../lib/transfer/send.ts";
import {
  parsePathArgs,
  PATH_HELP,
  PATH_OPTIONS,
  type PathArgs,
  reportEvents,
  traffic,
} from "./connection.ts";
import { checkSendContent, sendOffer } from "./content.ts";
import { UsageError } from "./errors.ts";
import { formatBytes } from "./progress.ts";
import type { Reporter } from "./report.ts";
import { pageUrlToShow } from "./page_url.ts";
import { configuredServer, SERVER_ENV, startEmbedded } from "./server.ts";

export const SEND_HELP =
  `Usage: punch send [--server URL] [--code CODE] [--direct-only | --relay-only] [--port N] [--json]
                  [--qr | --no-qr] PATH... | - | --text TEXT

Offer files and directories to one receiver. Prints a code like
4812-velvet-harbor; the other side runs: punch receive 4812-velvet-harbor
With -, sends stdin as it is read (command | punch send -); with --text,
a message the receiver sees at once.

Options:
  --server URL   rendezvous server (default: $${SERVER_ENV}, else one runs inside
                 this process and is announced on the local network)
  --code CODE    use this code instead of a fresh one (NUMBER-word-word)
  --text TEXT    send TEXT instead of files; short text is shown as it arrives
${PATH_HELP}
  --json         one JSON object per line on stdout (the code event holds
                 the browser page's URL as url, where it is shown)
  --no-qr        do not draw the QR code of the browser page's URL (drawn on
                 a terminal when another device can reach the rendezvous)
  --qr           draw it even when stderr is not a terminal, or only this
                 machine reaches the rendezvous (loopback)
  --verbose      print the cause of an error
  -h, --help     this help
`;

/** Parsed `punch send` arguments. */
export interface SendArgs extends PathArgs {
  paths: string[];
  /** `--text`: send this instead of files. */
  text?: string;
  server?: string;
  code?: string;
  json: boolean;
  /** `--qr`: true, `--no-qr`: false; unset, a terminal decides. */
  qr?: boolean;
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
      text: { type: "string" },
      json: { type: "boolean", default: false },
      qr: { type: "boolean", default: false },
      "no-qr": { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      ...PATH_OPTIONS,
    },
  });
  if (!values.help) checkSendContent(positionals, values.text);
  if (values.qr && values["no-qr"]) throw new UsageError("Cannot use --qr with --no-qr");
  return {
    paths: positionals,
    ...(values.text !== undefined ? { text: values.text } : {}),
    ...parsePathArgs(values),
    ...(values.server !== undefined ? { server: values.server } : {}),
    ...(values.code !== undefined ? { code: values.code } : {}),
    json: values.json,
    ...(values.qr || values["no-qr"] ? { qr: values.qr } : {}),
    verbose: values.verbose,
    help: values.help,
  };
}

/** Runs `punch send`. */
export async function send(args: SendArgs, reporter: Reporter, signal: AbortSignal): Promise<void> {
  const scan = await sendOffer(args.paths, args.text, reporter, signal);
  for (const message of scan.warnings) reporter.report({ type: "warning", message });

  let server = configuredServer(args.server);
  await using embedded = server === undefined ? await startEmbedded(reporter) : undefined;
  server ??= embedded!.url;

  const connection = await openSender(server, {
    ...(args.code !== undefined ? { code: args.code } : {}),
    direct: args.direct,
    port: args.port,
    portMapping: args.portMapping,
    signal,
  });
  const last = reportEvents(connection, reporter, args);
  const url = pageUrlToShow(server, connection.code, {
    embedded: embedded !== undefined,
    force: args.qr === true,
  });
  reporter.report({ type: "code", code: connection.code, ...(url ? { url } : {}) });
  let start = performance.now();
  let result;
  let seconds = 0;
  try {
    result = await sendFiles(connection, scan, {
      onAccepted: () => {
        start = performance.now();
        reporter.report({ type: "waiting", message: "Accepted; sending" });
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
    });
    seconds = (performance.now() - start) / 1000;
  } finally {
    // After a failure too: the other side reads what this side said last.
    await connection.close();
  }
  reporter.report({
    type: "done",
    path: last.path,
    files: result.files,
    bytes: result.bytes,
    ...(result.resumed > 0 ? { resumed: result.resumed } : {}),
    seconds,
    ...traffic(connection),
  });
}
