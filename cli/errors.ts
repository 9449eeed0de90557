/**
 * One place that turns any failure into what the user sees: an error code
 * for `--json`, a process exit code, and a message. The library says what
 * happened with a `PunchError`'s kind; {@linkcode EXIT_OF} maps kinds to
 * exit codes.
 *
 * @module
 */

import { type ErrorKind, PunchError } from "../lib/errors.ts";
import { RecordError } from "../lib/crypto/records.ts";
import { connectionBroke } from "../lib/net/errors.ts";
import { RendezvousError } from "../lib/rendezvous/client.ts";
import { TransferError } from "../lib/transfer/messages.ts";

/** Process exit codes; each failure a script may act on has its own. */
export const EXIT = Object.freeze({
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  WRONG_CODE: 3,
  PEER_GONE: 4,
  NETWORK: 5,
  REFUSED: 6,
});

/** A command-line mistake: prints the message and the command's usage line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure as the CLI reports it. */
export interface Failure {
  /** Machine-readable code for `--json`, e.g. `wrong_code`. */
  error: string;
  exit: number;
  message: string;
}

/** The exit code of each kind of failure (kinds not listed exit with 1). */
export const EXIT_OF: Readonly<Partial<Record<ErrorKind, number>>> = Object.freeze({
  bad_code: EXIT.USAGE,
  wrong_code: EXIT.WRONG_CODE,
  unknown_nameplate: EXIT.WRONG_CODE,
  nameplate_claimed: EXIT.WRONG_CODE,
  peer_gone: EXIT.PEER_GONE,
  peer_error: EXIT.PEER_GONE,
  network: EXIT.NETWORK,
  server: EXIT.NETWORK,
  no_direct: EXIT.NETWORK,
  stalled: EXIT.NETWORK,
  refused: EXIT.REFUSED,
});

/** What the user should do, added to the library's message for some kinds. */
const ADVICE: Readonly<Partial<Record<ErrorKind, string>>> = Object.freeze({
  unknown_nameplate: "check the code, and that punch send is still running",
});

/** The kind of a failure from below the library's surface (errors not yet made PunchError). */
function kindOf(error: unknown): ErrorKind | "error" {
  if (error instanceof PunchError) return error.kind;
  if (error instanceof TransferError) return error.code;
  if (error instanceof RendezvousError) {
    const kinds: Record<string, ErrorKind> = {
      unknown_nameplate: "unknown_nameplate",
      nameplate_claimed: "nameplate_claimed",
      peer_gone: "peer_gone",
      network: "network",
      closed: "network",
      idle_timeout: "network",
    };
    return kinds[error.code] ?? "server";
  }
  if (error instanceof RecordError) return error.code === "truncated" ? "peer_gone" : "tampered";
  if (connectionBroke(error)) return "network";
  return "error";
}

/** Classifies an error. */
export function describeFailure(error: unknown): Failure {
  let message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError) return { error: "usage", exit: EXIT.USAGE, message };
  const kind = kindOf(error);
  if (kind === "error") return { error: "error", exit: EXIT.ERROR, message };
  const advice = ADVICE[kind];
  if (advice) message = `${message}: ${advice}`;
  if (kind === "network" && !(error instanceof PunchError) && connectionBroke(error)) {
    message = `The connection to the other side broke (${message})`;
  }
  if (error instanceof RecordError && kind === "peer_gone") {
    message = "The connection ended before the transfer finished";
  }
  return { error: kind, exit: EXIT_OF[kind] ?? EXIT.ERROR, message };
}
