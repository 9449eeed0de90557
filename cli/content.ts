/**
 * Text and pipes in the CLI: what `punch send --text` and `punch send -`
 * offer, and where `punch receive` puts a stream or text: standard output
 * for `--out -`, and short text shown as it arrives.
 *
 * Standard output gets the data and nothing else; the reporter writes to
 * stderr. Bytes to a pipe or a file pass exactly; to a terminal, control
 * characters are shown as escapes (a peer's bytes must not move the cursor,
 * retitle the window or set the clipboard).
 *
 * @module
 */

import { printableText } from "../lib/_printable.ts";
import { offerStream, offerText } from "../lib/transfer/content.ts";
import { MAX_SHOWN_TEXT_BYTES } from "../lib/transfer/defaults.ts";
import { type Manifest, scanPaths, type ScanResult } from "../lib/transfer/manifest.ts";
import { TransferError } from "../lib/transfer/messages.ts";
import { UsageError } from "./errors.ts";
import type { Reporter } from "./report.ts";

/** The path that names standard input to `punch send` and standard output to `--out`. */
export const STDIO = "-";

/** Checks what `punch send` was given: paths, `-` alone, or `--text` alone. */
export function checkSendContent(paths: string[], text: string | undefined): void {
  if (text !== undefined) {
    if (paths.length > 0) {
      throw new UsageError(
        "Cannot send: --text sends the text alone; send files in another transfer",
      );
    }
    if (text === "") throw new UsageError("Cannot send: the text is empty");
    return;
  }
  if (paths.length === 0) {
    throw new UsageError(
      "Cannot send: name at least one file or directory, - for stdin, or --text",
    );
  }
  if (paths.includes(STDIO) && paths.length > 1) {
    throw new UsageError(
      "Cannot send: - (stdin) goes alone; send files in another transfer, or name a file called - as ./-",
    );
  }
}

/** The offer of `punch send`: the text, stdin as a stream, or the scanned paths. */
export async function sendOffer(
  paths: string[],
  text: string | undefined,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<ScanResult> {
  if (text !== undefined) return offerText(text);
  if (paths.length === 1 && paths[0] === STDIO) {
    if (Deno.stdin.isTerminal()) {
      reporter.report({
        type: "waiting",
        message: "Sending what is typed on stdin, once accepted, until end of file (Ctrl-D)",
      });
    }
    return offerStream(Deno.stdin.readable);
  }
  return await scanPaths(paths, { signal });
}

/** Whether an offer is text short enough to show without asking. */
export function isShortText(manifest: Manifest): boolean {
  const [entry, ...more] = manifest.entries;
  return more.length === 0 && entry?.kind === "text" && entry.size <= MAX_SHOWN_TEXT_BYTES;
}

/** Options for {@linkcode stdoutStream}. */
export interface StdoutOptions {
  /**
   * Whether standard output is a terminal: then control characters are
   * escaped and a missing last line feed is added.
   * @default {Deno.stdout.isTerminal()}
   */
  terminal?: boolean;
  /** @default {the bytes written to Deno.stdout} */
  write?: (bytes: Uint8Array) => Promise<void>;
}

async function writeStdout(bytes: Uint8Array): Promise<void> {
  try {
    for (let n = 0; n < bytes.length;) n += await Deno.stdout.write(bytes.subarray(n));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    throw new TransferError(
      "io",
      "Cannot write to stdout: the program reading it stopped (broken pipe)",
      { cause: error },
    );
  }
}

/**
 * A stream to standard output that never closes it: bytes exactly to a pipe
 * or a file, made printable to a terminal (a UTF-8 sequence cut between two
 * chunks is decoded whole).
 */
export function stdoutStream(options: StdoutOptions = {}): WritableStream<Uint8Array> {
  const write = options.write ?? writeStdout;
  if (!(options.terminal ?? Deno.stdout.isTerminal())) {
    return new WritableStream({ write: (chunk) => write(chunk) });
  }
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let last = "\n";
  const put = async (text: string) => {
    if (text === "") return;
    last = text.at(-1)!;
    await write(encoder.encode(printableText(text)));
  };
  return new WritableStream({
    write: (chunk) => put(decoder.decode(chunk, { stream: true })),
    close: async () => {
      await put(decoder.decode());
      if (last !== "\n") await write(encoder.encode("\n"));
    },
  });
}

/** A stream that keeps short text in memory until it is verified, then shows it. */
export class ShownText {
  readonly #chunks: Uint8Array[] = [];
  readonly stream: WritableStream<Uint8Array> = new WritableStream({
    write: (chunk) => void this.#chunks.push(chunk.slice()),
  });

  /** Writes what arrived to `out` (standard output by default) and closes it. */
  async show(out: WritableStream<Uint8Array> = stdoutStream()): Promise<void> {
    const writer = out.getWriter();
    for (const chunk of this.#chunks) await writer.write(chunk);
    await writer.close();
  }

  /** The text as received, for `--json`. */
  text(): string {
    const decoder = new TextDecoder();
    return this.#chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("") +
      decoder.decode();
  }
}

/**
 * The refusal of an offer that cannot go to standard output: several
 * entries, or a directory.
 */
export function checkStdoutOffer(manifest: Manifest): void {
  const [entry, ...more] = manifest.entries;
  if (more.length === 0 && entry?.kind !== "dir") return;
  throw new TransferError(
    "refused",
    `Cannot write ${manifest.files} file(s)${
      manifest.files === manifest.entries.length ? "" : " and directories"
    } to stdout: --out - takes a single file, stream or text; give --out a directory`,
  );
}
