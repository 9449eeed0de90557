/**
 * Telling a broken connection from other failures.
 *
 * @module
 */

/**
 * `node:net` error codes (the direct path's sockets) that mean the
 * connection is gone: the peer vanished, or the network between went away.
 */
const SOCKET_ERRORS: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
]);

/**
 * Whether `error` says that a connection broke (reset, refused, aborted, a
 * broken pipe, an unreachable network), from Deno or from `node:net`.
 */
export function connectionBroke(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    SOCKET_ERRORS.has((error as { code?: unknown } | null)?.code as string);
}
