/**
 * The `punch` command: `send`, `receive`, `serve` and `completions`.
 *
 * `deno run -A jsr:@x/punch send photos/`, or a binary from `deno task compile`.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { tuneAllocator } from "../lib/memory.ts";
import { printable } from "../lib/_printable.ts";
import { releasePortMappings } from "../lib/net/portmap.ts";
import { completions, COMPLETIONS_HELP, parseCompletionsArgs } from "./completions.ts";
import { describeFailure, EXIT } from "./errors.ts";
import { parseReceiveArgs, receive, RECEIVE_HELP } from "./receive.ts";
import { humanReporter, jsonReporter, type Reporter } from "./report.ts";
import { parseSendArgs, send, SEND_HELP } from "./send.ts";
import { parseServeArgs, serve, SERVE_HELP } from "./serve.ts";

/** The version printed by `punch --version`. */
export const VERSION: string = denoJson.version;

const HELP = `punch ${VERSION}: send files peer to peer with a short code

Usage:
  punch send PATH...          offer files; prints a code like 4812-velvet-harbor
  punch send - | --text TEXT  offer stdin as a stream, or a short message
  punch receive CODE          receive them on the other machine (--out - to stdout)
  punch serve                 run a rendezvous server
  punch completions SHELL     print a completion script for bash, zsh or fish

Run punch COMMAND --help for a command's options.
Exit codes: 0 ok, 1 error, 2 usage, 3 wrong code, 4 peer gone, 5 network, 6 refused.
`;

/** The subcommands: their help, parser and runner. */
export const COMMANDS = {
  send: { help: SEND_HELP, parse: parseSendArgs, run: send },
  receive: { help: RECEIVE_HELP, parse: parseReceiveArgs, run: receive },
  serve: { help: SERVE_HELP, parse: parseServeArgs, run: serve },
  completions: { help: COMPLETIONS_HELP, parse: parseCompletionsArgs, run: completions },
} as const;

function printCause(error: unknown, write: (text: string) => void): void {
  let cause = error instanceof Error ? error.cause : undefined;
  while (cause !== undefined) {
    write(
      `  caused by: ${cause instanceof Error ? cause.stack ?? cause.message : String(cause)}\n`,
    );
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  if (error instanceof Error && error.stack) write(`${error.stack}\n`);
}

/** Runs the CLI with arguments; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-V") {
    console.log(`punch ${VERSION}`);
    return EXIT.OK;
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const topic = rest[0] as keyof typeof COMMANDS | undefined;
    console.log(topic && topic in COMMANDS ? COMMANDS[topic].help : HELP);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (!(name in COMMANDS)) {
    console.error(`error: unknown command "${name}"\n\n${HELP}`);
    return EXIT.USAGE;
  }
  const command = COMMANDS[name as keyof typeof COMMANDS];
  let json = rest.includes("--json");
  let verbose = rest.includes("--verbose");
  let reporter: Reporter = json ? jsonReporter() : humanReporter();
  const controller = new AbortController();
  const stop = () => controller.abort(new DOMException("Interrupted", "AbortError"));
  // SIGTERM (not on Windows) stops `punch serve` cleanly, so a cluster's
  // other instances hear of its pairs at once rather than after a heartbeat.
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const name of signals) Deno.addSignalListener(name, stop);
  try {
    // deno-lint-ignore no-explicit-any
    const args: any = command.parse(rest);
    if (args.help) {
      console.log(command.help);
      return EXIT.OK;
    }
    json = args.json;
    verbose = args.verbose;
    // --qr and --no-qr (send) decide whether the QR code is drawn, else a terminal does.
    reporter = json ? jsonReporter() : humanReporter(args.qr === undefined ? {} : { qr: args.qr });
    await command.run(args, reporter, controller.signal);
    return EXIT.OK;
  } catch (error) {
    const failure =
      error instanceof TypeError && (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
        ? { error: "usage", exit: EXIT.USAGE, message: error.message }
        : describeFailure(error);
    reporter.report({ type: "error", error: failure.error, message: failure.message });
    if (failure.exit === EXIT.USAGE && !json) console.error(`\n${command.help}`);
    // A cause's message may hold the other side's or the server's words.
    const show = (text: string) => text.trimEnd().split("\n").map((l) => printable(l)).join("\n");
    if (verbose) printCause(error, (text) => console.error(show(text)));
    return failure.exit;
  } finally {
    // Every port forward the router granted is deleted before the process
    // exits, on an interrupt too (each deletion is bounded in time).
    await releasePortMappings();
    for (const name of signals) Deno.removeSignalListener(name, stop);
  }
}

if (import.meta.main) {
  tuneAllocator();
  Deno.exit(await main(Deno.args));
}
