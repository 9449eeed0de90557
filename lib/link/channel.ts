/**
 * What the transfer protocol needs from a connection (lib/connection/): a
 * `Connection` is one, and the transfer's tests use real ones too.
 *
 * @module
 */

import type { Connection } from "../connection/types.ts";

/** Messages in order both ways, and the tags of the records that carried them. */
export type Channel = Pick<Connection, "send" | "receive" | "sentTag" | "receivedTag">;
