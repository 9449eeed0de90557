/**
 * One place that turns any failure into what the user sees: an error code
 * for `--json`, a process exit code, and a message.
 *
 * @module
 */

import { RendezvousError } from "../lib/rendezvous/client.ts";
import { WrongCodeError } from "../lib/session/session.ts";
import { TransferError } from "../lib/transfer/messages.ts";
import { RecordError } from "../lib/crypto/records.ts";
import { connectionBroke } from "../lib/net/errors.ts";
import { NoDirectPathError } from "./direct.ts";

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

/** Classifies an error. */
export function describeFailure(error: unknown): Failure {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError) return { error: "usage", exit: EXIT.USAGE, message };
  if (error instanceof SyntaxError) return { error: "bad_code", exit: EXIT.USAGE, message };
  if (error instanceof NoDirectPathError) {
    return { error: "no_direct", exit: EXIT.NETWORK, message };
  }
  if (error instanceof WrongCodeError) {
    return { error: "wrong_code", exit: EXIT.WRONG_CODE, message };
  }
  if (error instanceof RendezvousError) {
    switch (error.code) {
      case "unknown_nameplate":
        return {
          error: error.code,
          exit: EXIT.WRONG_CODE,
          message: `${message}: check the code, and that punch send is still running`,
        };
      case "nameplate_claimed":
        return { error: error.code, exit: EXIT.WRONG_CODE, message };
      case "peer_gone":
        return {
          error: "peer_gone",
          exit: EXIT.PEER_GONE,
          message: "The other side left before the transfer finished",
        };
      case "network":
      case "closed":
      case "idle_timeout":
      case "rate_limited":
      case "server_busy":
        return { error: "network", exit: EXIT.NETWORK, message };
      default:
        return { error: error.code, exit: EXIT.ERROR, message };
    }
  }
  if (error instanceof TransferError) {
    switch (error.code) {
      case "refused":
        return { error: "refused", exit: EXIT.REFUSED, message };
      case "peer_error":
        return { error: "peer_error", exit: EXIT.PEER_GONE, message };
      case "stalled":
        return { error: "stalled", exit: EXIT.NETWORK, message };
      default:
        return { error: error.code, exit: EXIT.ERROR, message };
    }
  }
  if (error instanceof RecordError) {
    return error.code === "truncated"
      ? {
        error: "peer_gone",
        exit: EXIT.PEER_GONE,
        message: "The connection ended before the transfer finished",
      }
      : { error: "tampered", exit: EXIT.ERROR, message };
  }
  if (connectionBroke(error)) {
    return {
      error: "network",
      exit: EXIT.NETWORK,
      message: `The connection to the other side broke (${message})`,
    };
  }
  return { error: "error", exit: EXIT.ERROR, message };
}
