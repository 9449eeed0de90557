/**
 * One error class for everything the library throws: {@linkcode PunchError},
 * whose `kind` tells a program what happened and whose message tells a
 * person what to do. docs/api.md lists the kinds.
 *
 * @module
 */

/** What went wrong; docs/api.md, "Errors", says what each means. */
export type ErrorKind =
  | "bad_code"
  | "wrong_code"
  | "unknown_nameplate"
  | "nameplate_claimed"
  | "server"
  | "network"
  | "peer_gone"
  | "version"
  | "no_direct"
  | "stalled"
  | "refused"
  | "conflict"
  | "bad_manifest"
  | "bad_path"
  | "no_space"
  | "integrity"
  | "changed"
  | "protocol"
  | "tampered"
  | "peer_error"
  | "io"
  | "cancelled";

/**
 * An error of the punch library. Catch it and read `kind`; show `message`,
 * which says what to do; `cause` holds the lower-level error, if any.
 *
 * @example Usage
 * ```ts
 * import { PunchError } from "./errors.ts";
 * const error = new PunchError("peer_gone", "The other side left before the transfer finished");
 * error.kind; // "peer_gone"
 * ```
 */
export class PunchError extends Error {
  /** Which condition was met. */
  readonly kind: ErrorKind;

  /** Makes an error of `kind`; `message` in sentence case, saying what to do. */
  constructor(kind: ErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PunchError";
    this.kind = kind;
  }
}

/**
 * `error` as a {@linkcode PunchError}: itself if it is one, else one of
 * `kind` with its message, holding it as the cause.
 */
export function asPunchError(error: unknown, kind: ErrorKind = "io"): PunchError {
  if (error instanceof PunchError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PunchError(kind, message, { cause: error });
}
