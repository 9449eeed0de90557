/**
 * `punch receive`: take the files offered under a code.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseCode } from "../lib/code/phrase.ts";
import { timingSafeEqual } from "../lib/crypto/timing_safe_equal.ts";
import { RendezvousError } from "../lib/rendezvous/client.ts";
import { openReceiver, type Session } from "../lib/session/session.ts";
import { type Manifest, manifestDigest } from "../lib/transfer/manifest.ts";
import { TransferError } from "../lib/transfer/messages.ts";
import { receiveFiles } from "../lib/transfer/receive.ts";
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
import { configuredServer, findEmbedded, SERVER_ENV } from "./server.ts";

export const RECEIVE_HELP = `Usage: punch receive [--server URL] [--out DIR] [--yes] [--overwrite]
                     [--direct-only | --relay-only] [--port N] [--json] CODE

Receive what the sender offers under CODE (like 4812-velvet-harbor).
Shows the number of files and their size and asks before writing anything.

Options:
  --server URL   rendezvous server (default: $${SERVER_ENV}, else the sender's
                 own, found on this machine or the local network)
  --out DIR      write into DIR (default: the current directory)
  --yes          accept without asking (needed when stdin is not a terminal)
  --overwrite    replace existing files (default: refuse before writing anything;
                 a file with the sender's bytes is kept as it is)
${DIRECT_HELP}
  --json         one JSON object per line on stdout
  --verbose      print the cause of an error
  -h, --help     this help
`;

/** Parsed `punch receive` arguments. */
export interface ReceiveArgs extends DirectArgs {
  code: string;
  server?: string;
  out: string;
  yes: boolean;
  overwrite: boolean;
  json: boolean;
  verbose: boolean;
  help: boolean;
}

/** Parses `punch receive` arguments; throws {@linkcode UsageError}. */
export function parseReceiveArgs(args: string[]): ReceiveArgs {
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
      ...DIRECT_OPTIONS,
    },
  });
  if (!values.help && positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "Cannot receive: give the code the sender shows, like 4812-velvet-harbor"
        : `Cannot receive: expected one code, got ${positionals.length} arguments (quote a code with spaces)`,
    );
  }
  return {
    code: positionals[0] ?? "",
    ...parseDirectArgs(values),
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

function asker(args: ReceiveArgs, reporter: Reporter) {
  return async (manifest: Manifest): Promise<boolean> => {
    const dirs = manifest.entries.filter((e) => e.kind === "dir").length;
    reporter.report({ type: "offer", files: manifest.files, dirs, bytes: manifest.bytes });
    if (args.yes) return true;
    if (!Deno.stdin.isTerminal()) {
      throw new TransferError(
        "refused",
        "Cannot ask whether to accept: stdin is not a terminal; pass --yes to accept without asking",
      );
    }
    const answered = reporter.ask(
      `Write ${manifest.files} file(s), ${formatBytes(manifest.bytes)}, into ${args.out}? [y/N] `,
    );
    try {
      return /^\s*y(es)?\s*$/i.test(await readLine());
    } finally {
      answered();
    }
  };
}

/**
 * Asks about an offer once: when the transfer runs again on the relay after
 * a broken direct connection (`again`), the same offer is accepted without
 * asking, and a different one is refused (a sender cannot slip other files
 * past the question).
 */
export function confirmOnce(
  ask: (manifest: Manifest) => Promise<boolean>,
): (manifest: Manifest, again: boolean) => Promise<boolean> {
  let accepted: Uint8Array | undefined;
  return async (manifest, again) => {
    const offer = manifestDigest(manifest);
    if (again && accepted) {
      if (!timingSafeEqual(offer, accepted)) {
        throw new TransferError(
          "protocol",
          "The sender offered other files when the transfer carried on over the relay",
        );
      }
      return true;
    }
    const yes = await ask(manifest);
    if (yes) accepted = offer;
    return yes;
  };
}

async function connect(
  args: ReceiveArgs,
  signal: AbortSignal,
): Promise<{ session: Session; server: string }> {
  const server = configuredServer(args.server);
  if (server !== undefined) {
    return { session: await openReceiver(server, args.code, { signal }), server };
  }
  const candidates = await findEmbedded(parseCode(args.code).nameplate, signal);
  for (const [i, url] of candidates.entries()) {
    try {
      return { session: await openReceiver(url, args.code, { signal }), server: url };
    } catch (error) {
      const last = i === candidates.length - 1;
      if (last || !(error instanceof RendezvousError) || error.code === "peer_gone") throw error;
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
  parseCode(args.code);
  const { session, server } = await connect(args, signal);
  const ask = asker(args, reporter);
  const confirm = confirmOnce(ask);
  /** Reported only if the transfer fails for good: the run after a fallback resumes them. */
  let kept: { files: number; bytes: number } | undefined;
  await runTransfer(
    session,
    server,
    args,
    reporter,
    (channel, started, again, reporter) =>
      receiveFiles(channel, {
        out: args.out,
        overwrite: args.overwrite,
        confirm: async (manifest) => {
          const yes = await confirm(manifest, again);
          started();
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
        onKept: (k) => kept = k,
        onProgress: (p) => reporter.report({ type: "progress", ...p }),
        signal,
      }),
    signal,
  ).catch((error) => {
    if (kept) reporter.report({ type: "kept", ...kept });
    throw error;
  });
}
