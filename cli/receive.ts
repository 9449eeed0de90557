/**
 * `punch receive`: take the files offered under a code.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseCode } from "../lib/code/phrase.ts";
import { openReceiver } from "../lib/connection/open.ts";
import type { Connection } from "../lib/connection/types.ts";
import { PunchError } from "../lib/errors.ts";
import type { Manifest } from "../lib/transfer/manifest.ts";
import { TransferError } from "../lib/transfer/messages.ts";
import { receiveFiles } from "../lib/transfer/receive.ts";
import {
  parsePathArgs,
  PATH_HELP,
  PATH_OPTIONS,
  type PathArgs,
  reportEvents,
  traffic,
} from "./connection.ts";
import { promptCode } from "./code_prompt.ts";
import { UsageError } from "./errors.ts";
import { formatBytes } from "./progress.ts";
import { checkStdoutOffer, isShortText, ShownText, STDIO, stdoutStream } from "./content.ts";
import type { Reporter } from "./report.ts";
import { configuredServer, findEmbedded, SERVER_ENV } from "./server.ts";

export const RECEIVE_HELP = `Usage: punch receive [--server URL] [--out DIR] [--yes] [--overwrite]
                     [--direct-only | --relay-only] [--port N] [--json] [CODE]

Receive what the sender offers under CODE (like 4812-velvet-harbor).
Without CODE, on a terminal, asks for it; Tab completes the words.
Shows the number of files and their size and asks before writing anything.
Text the sender typed (punch send --text) is shown at once, without asking,
if short; longer text is offered as a file. With --out -, a single file,
stream or text goes to stdout (punch receive --out - CODE | command).

Options:
  --server URL   rendezvous server (default: $${SERVER_ENV}, else the sender's
                 own, found on this machine or the local network)
  --out DIR      write into DIR (default: the current directory; - writes a
                 single file or text to stdout without asking, all else goes
                 to stderr)
  --yes          accept without asking (needed when stdin is not a terminal)
  --overwrite    replace existing files (default: refuse before writing anything;
                 a file with the sender's bytes is kept as it is)
${PATH_HELP}
  --json         one JSON object per line on stdout
  --verbose      print the cause of an error
  -h, --help     this help
`;

/** Parsed `punch receive` arguments. */
export interface ReceiveArgs extends PathArgs {
  code: string;
  server?: string;
  out: string;
  yes: boolean;
  overwrite: boolean;
  json: boolean;
  verbose: boolean;
  help: boolean;
}

/** The usage error when no code is given and none can be asked for. */
const NO_CODE = "Cannot receive: give the code the sender shows, like 4812-velvet-harbor";

/** Options for {@linkcode parseReceiveArgs}. */
export interface ParseReceiveOptions {
  /**
   * Whether the code may be left out, to be asked for on the terminal.
   *
   * @default {Deno.stdin.isTerminal()}
   */
  terminal?: boolean;
}

/**
 * Parses `punch receive` arguments; throws {@linkcode UsageError}. Without a
 * code, on a terminal, `code` is `""`: {@linkcode receive} asks for it.
 */
export function parseReceiveArgs(args: string[], options: ParseReceiveOptions = {}): ReceiveArgs {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      server: { type: "string" },
      out: { type: "string", default: "." },
      yes: { type: "boolean", short: "y", default: false },
      overwrite: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      ...PATH_OPTIONS,
    },
  });
  if (values.out === STDIO && values.json) {
    throw new UsageError(
      "Cannot receive: --json writes its events to stdout, which --out - takes for the data",
    );
  }
  const ask = positionals.length === 0 && (options.terminal ?? Deno.stdin.isTerminal());
  if (!values.help && positionals.length !== 1 && !ask) {
    throw new UsageError(
      positionals.length === 0
        ? NO_CODE
        : `Cannot receive: expected one code, got ${positionals.length} arguments (quote a code with spaces)`,
    );
  }
  return {
    code: positionals[0] ?? "",
    ...parsePathArgs(values),
    ...(values.server !== undefined ? { server: values.server } : {}),
    out: values.out,
    yes: values.yes,
    overwrite: values.overwrite,
    json: values.json,
    verbose: values.verbose,
    help: values.help,
  };
}

async function readLine(): Promise<string> {
  const buffer = new Uint8Array(1024);
  const n = await Deno.stdin.read(buffer);
  return n === null ? "" : new TextDecoder().decode(buffer.subarray(0, n));
}

/** Top-level names the prompt shows at most. */
const SHOWN_NAMES = 5;

/**
 * The first {@linkcode SHOWN_NAMES} names at the top of an offer (what the
 * sender named: `photos/`, `notes.txt`), and how many more there are. The
 * reporter makes them printable, so a control or bidirectional character in
 * a name shows as an escape.
 */
export function offerNames(manifest: Manifest): { names: string[]; more: number } {
  const names: string[] = [];
  let more = 0;
  for (const entry of manifest.entries) {
    if (entry.path.includes("/")) continue;
    if (names.length < SHOWN_NAMES) {
      names.push(entry.kind === "dir" ? `${entry.path}/` : entry.path);
    } else more++;
  }
  return { names, more };
}

function asker(args: ReceiveArgs, reporter: Reporter) {
  return async (manifest: Manifest): Promise<boolean> => {
    const dirs = manifest.entries.filter((e) => e.kind === "dir").length;
    const kind = manifest.entries[0]!.kind;
    if (isShortText(manifest)) return true;
    reporter.report({
      type: "offer",
      files: manifest.files,
      dirs,
      bytes: manifest.bytes,
      ...(kind === "stream" || kind === "text" ? { kind } : {}),
      ...offerNames(manifest),
    });
    // With --out - the user chose where the one entry goes, and nothing is written to disk.
    if (args.yes || args.out === STDIO) return true;
    if (!Deno.stdin.isTerminal()) {
      throw new TransferError(
        "refused",
        "Cannot ask whether to accept: stdin is not a terminal; pass --yes to accept without asking",
      );
    }
    const what = kind === "stream"
      ? "a stream of unknown length"
      : `${manifest.files} file(s), ${formatBytes(manifest.bytes)},`;
    const answered = reporter.ask(`Write ${what} into ${args.out}? [y/N] `);
    try {
      return /^\s*y(es)?\s*$/i.test(await readLine());
    } finally {
      answered();
    }
  };
}

/** Opens the connection: through the configured server, or the sender's embedded one. */
async function connect(args: ReceiveArgs, signal: AbortSignal): Promise<Connection> {
  const options = { direct: args.direct, port: args.port, portMapping: args.portMapping, signal };
  const server = configuredServer(args.server);
  if (server !== undefined) return await openReceiver(server, args.code, options);
  const candidates = await findEmbedded(parseCode(args.code).nameplate, signal);
  for (const [i, url] of candidates.entries()) {
    try {
      return await openReceiver(url, args.code, options);
    } catch (error) {
      const last = i === candidates.length - 1;
      if (last || !(error instanceof PunchError) || error.kind === "peer_gone") throw error;
    }
  }
  throw new TypeError("unreachable");
}

/** Runs `punch receive`. */
export async function receive(
  args: ReceiveArgs,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<void> {
  if (args.code === "") {
    const code = await promptCode({ signal });
    if (code === undefined) throw new UsageError(NO_CODE);
    args = { ...args, code };
  }
  parseCode(args.code);
  const connection = await connect(args, signal);
  const last = reportEvents(connection, reporter, args);
  const ask = asker(args, reporter);
  let start = performance.now();
  let result;
  let seconds = 0;
  let shown: ShownText | undefined;
  try {
    result = await receiveFiles(connection, {
      out: args.out,
      overwrite: args.overwrite,
      output: (manifest) => {
        if (args.out === STDIO) return checkStdoutOffer(manifest), stdoutStream();
        if (isShortText(manifest)) return (shown = new ShownText()).stream;
        return undefined;
      },
      confirm: async (manifest) => {
        const yes = await ask(manifest);
        start = performance.now();
        return yes;
      },
      onCheck: ({ files, bytes }) =>
        reporter.report({
          type: "waiting",
          message: `Checking ${formatBytes(bytes)} of ${files} file(s) already here ` +
            `against the sender's`,
        }),
      onCheckProgress: (p) => reporter.report({ type: "checking", ...p }),
      onResume: (r) => reporter.report({ type: "resume", ...r }),
      onKept: (k) => reporter.report({ type: "kept", ...k }),
      onProgress: (p) => reporter.report({ type: "progress", ...p }),
      signal,
    });
    seconds = (performance.now() - start) / 1000;
  } finally {
    // After a failure too: the other side reads what this side said last.
    await connection.close();
  }
  if (shown && args.json) reporter.report({ type: "text", text: shown.text() });
  else await shown?.show();
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
