/**
 * How a command tells the user what happens: human lines on stderr (with a
 * progress bar on a terminal), or with `--json` one JSON object per line on
 * stdout.
 *
 * @module
 */

import { printable } from "../lib/_printable.ts";
import { formatBytes, ProgressBar } from "./progress.ts";
import { qrLines } from "./qr.ts";

/** Everything a command reports. */
export type Event =
  | {
    type: "code";
    code: string;
    /** The browser page's URL with the code in it, where another device can reach it (or `--qr`). */
    url?: string;
  }
  | { type: "listening"; url: string }
  | { type: "waiting"; message: string }
  | { type: "connected"; path: "relay" | "direct" }
  | {
    type: "path";
    path: "relay" | "direct";
    address?: string;
    reason?: string;
    /** Set when a transfer left a broken direct connection for the relay. */
    from?: "direct";
  }
  | {
    type: "offer";
    files: number;
    dirs: number;
    bytes: number;
    /** The first few names at the top of the offer (directories end in `/`). */
    names: string[];
    /** Top-level names left out of `names`. */
    more: number;
    /** Set for a stream (of unknown length) or text, the offer's only entry. */
    kind?: "stream" | "text";
  }
  /** Short text the sender typed, with `--json` (else it is shown on stdout). */
  | { type: "text"; text: string }
  /** `total` is left out for a stream, whose length is known only at its end. */
  | { type: "progress"; bytes: number; total: number | undefined }
  /** Hashing what the receiver holds, before a resume (each side hashes its own files). */
  | { type: "checking"; bytes: number; total: number | undefined }
  | { type: "resume"; files: number; bytes: number }
  | { type: "kept"; files: number; bytes: number }
  | {
    type: "done";
    path: "relay" | "direct";
    files: number;
    bytes: number;
    resumed?: number;
    seconds: number;
    /** Bytes this side sent over the relay (sent again after a break included), where any were. */
    relayed?: number;
    /** Bytes this side sent again after the path they went on first broke. */
    resent?: number;
  }
  | { type: "warning"; message: string }
  | { type: "error"; error: string; message: string };

/** Receives a command's events. */
export interface Reporter {
  report(event: Event): void;
  /**
   * Shows a question the user answers on stdin, on stderr. Events that come
   * before the returned function is called (the direct-path search goes on
   * meanwhile) print below it, and the question again after them.
   */
  ask(question: string): () => void;
}

const encoder = new TextEncoder();

/**
 * The event with every string in it made {@linkcode printable}: messages,
 * reasons, addresses and names may come from the other side or the server,
 * and neither may move the cursor, rewrite a line or set the clipboard.
 */
export function printableEvent(event: Event): Event {
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    clean[key] = typeof value === "string"
      ? printable(value)
      : Array.isArray(value)
      ? value.map((item) => typeof item === "string" ? printable(item) : item)
      : value;
  }
  return clean as Event;
}

/** Options for the reporters. */
export interface ReporterOptions {
  /** @default {writes to Deno.stdout} */
  stdout?: (text: string) => void;
  /** @default {writes to Deno.stderr} */
  stderr?: (text: string) => void;
  /** Draw a progress bar. @default {Deno.stderr.isTerminal()} */
  terminal?: boolean;
  /** @default {() => performance.now()} */
  now?: () => number;
  /**
   * Draw the QR code of a code event's URL (human output only).
   *
   * @default {the terminal option}
   */
  qr?: boolean;
}

function writer(file: { writeSync(p: Uint8Array): number }): (text: string) => void {
  return (text) => {
    const bytes = encoder.encode(text);
    for (let n = 0; n < bytes.length;) n += file.writeSync(bytes.subarray(n));
  };
}

/** `--json`: one object per line on stdout; progress and checking at most five times a second. */
export function jsonReporter(options: ReporterOptions = {}): Reporter {
  const out = options.stdout ?? writer(Deno.stdout);
  const err = options.stderr ?? writer(Deno.stderr);
  const now = options.now ?? (() => performance.now());
  let last = -Infinity;
  return {
    // Events go to stdout, so they never land on the question's line.
    ask(question) {
      err(question);
      return () => {};
    },
    report(event) {
      if (
        (event.type === "progress" || event.type === "checking") &&
        !(event.bytes >= (event.total ?? Infinity))
      ) {
        if (now() - last < 200) return;
        last = now();
      }
      // Text goes exactly; \u escapes keep the line safe for a terminal.
      const line = event.type === "text"
        ? escapeJson(event)
        : JSON.stringify(printableEvent(event));
      out(line + "\n");
    },
  };
}

/**
 * An event as JSON with DEL, C1 and bidirectional controls written as `\u`
 * escapes too (JSON.stringify escapes the C0 ones): the same value for a
 * JSON reader, nothing a terminal acts on.
 */
function escapeJson(event: Event): string {
  return JSON.stringify(event).replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `1 file`, `2 files`. */
function files(count: number): string {
  return `${count} file${count === 1 ? "" : "s"}`;
}

/** The lines after the code that give the page's URL, and its QR code if `qr`. */
function codeUrlLines(url: string, qr: boolean): string {
  let lines: string[] = [];
  try {
    if (qr) lines = qrLines(url);
  } catch (error) {
    // Longer than the largest code drawn (a very long host name): the URL alone.
    if (!(error instanceof RangeError)) throw error;
  }
  return lines.length === 0
    ? `\nOr open in a browser: ${url}`
    : `\nOr scan this, or open in a browser: ${url}\n${lines.join("\n")}`;
}

/** Human output on stderr; the progress bar only on a terminal. */
export function humanReporter(options: ReporterOptions = {}): Reporter {
  const err = options.stderr ?? writer(Deno.stderr);
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  const qr = options.qr ?? terminal;
  const barOptions = options.now ? { write: err, now: options.now } : { write: err };
  let bar: ProgressBar | undefined;
  /** What the bar shows: hashing held bytes, or the transfer; a change starts a new bar. */
  let barFor: "checking" | "progress" | undefined;
  const draw = (kind: "checking" | "progress", bytes: number, total: number | undefined) => {
    if (!terminal) return;
    if (barFor !== kind) {
      bar?.finish();
      bar = new ProgressBar(barOptions);
      barFor = kind;
    }
    bar!.update(bytes, total);
  };
  /** The question the user is answering, if any. */
  let asking: string | undefined;
  const line = (text: string) => {
    bar?.finish();
    err(asking === undefined ? text + "\n" : `\n${text}\n${asking}`);
  };
  return {
    ask(question) {
      asking = question;
      err(question);
      return () => asking = undefined;
    },
    report(raw) {
      const event = printableEvent(raw);
      switch (event.type) {
        case "code":
          return line(
            `Code: ${event.code}\nOn the other machine run:\n  punch receive ${event.code}` +
              (event.url === undefined ? "" : codeUrlLines(event.url, qr)),
          );
        case "listening":
          return line(`Rendezvous listening on ${event.url}`);
        case "waiting":
          return line(event.message);
        case "connected":
          return line(`Connected (${event.path}); encrypted end to end`);
        case "path":
          // After a fallback the transfer starts again: a fresh bar, rate and ETA.
          if (event.from === "direct") {
            bar?.finish();
            bar = barFor = undefined;
          }
          return line(
            event.path === "direct"
              ? `Moved to a direct connection (${event.address})`
              : event.from === "direct"
              ? `Back on the relay, resuming there: ${event.reason}`
              : `Staying on the relay: ${event.reason}`,
          );
        case "offer":
          if (event.kind === "stream") {
            return line(`Offer: a stream of unknown length, as ${event.names[0]}`);
          }
          return line(
            `Offer: ${event.kind === "text" ? "text" : files(event.files)}` +
              (event.dirs ? ` and ${event.dirs} director${event.dirs === 1 ? "y" : "ies"}` : "") +
              `, ${formatBytes(event.bytes)}` +
              (event.names.length ? `: ${event.names.join(", ")}` : "") +
              (event.more ? ` and ${event.more} more` : ""),
          );
        case "resume":
          return line(
            `Resuming: ${formatBytes(event.bytes)} of ${files(event.files)} already received; ` +
              `moving the rest`,
          );
        case "kept":
          return line(
            `Kept ${formatBytes(event.bytes)} of ${event.files} unfinished ` +
              `file${event.files === 1 ? "" : "s"} (hidden beside ${
                event.files === 1 ? "it" : "each"
              } as .punch-….partial); receive the same files into the same directory again ` +
              `to resume`,
          );
        case "progress":
        case "checking":
          return draw(event.type, event.bytes, event.total);
        case "done": {
          const rate = event.seconds > 0 ? event.bytes / event.seconds : 0;
          const relayed = event.path === "direct" && event.relayed
            ? `; ${formatBytes(event.relayed)} of it went through the relay`
            : "";
          return line(
            `Done: ${files(event.files)}, ${formatBytes(event.bytes)} ` +
              `in ${event.seconds.toFixed(1)} s (${formatBytes(rate)}/s, ${event.path}${relayed})`,
          );
        }
        case "text":
          return line(event.text);
        case "warning":
          return line(`warning: ${event.message}`);
        case "error":
          return line(`error: ${event.message}`);
      }
    },
  };
}
