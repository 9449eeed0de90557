/**
 * One client connection as the hub sees it, and the link to the other side
 * of its pair — a socket on this instance or one on another instance.
 *
 * @module
 */

import type { Mood, ServerToClientMsg, Side } from "../lib/rendezvous/messages.ts";
import type { Plate } from "./nameplates.ts";

/** The other side of a paired connection, wherever it is. */
export interface Link {
  /** Passes a mailbox message to the other side. */
  message(phase: string, body: string): void;
  /**
   * Relays one binary message to the other side; throws `ProtocolError`
   * (`flow_control`) when the other side's queue is over the limit.
   */
  binary(data: Uint8Array): void;
  /** This side left (or was dropped) with `mood`; called once, when its socket closes. */
  leave(mood: Mood): void;
}

/** A client's WebSocket and where it stands. */
export interface Conn {
  /** Unique on this instance; other instances address it by (instance, id). */
  readonly id: number;
  readonly socket: WebSocket;
  side?: Side;
  /** The nameplate a sender holds. */
  plate?: Plate;
  /** Set once paired. */
  link?: Link;
  /** The other side has left: its traffic is dropped, nothing more is relayed. */
  peerLeft: boolean;
  closed: boolean;
  mood: Mood;
  added: number;
  /** Closes the socket unless it allocates or claims in time; cleared (and dropped) once it does. */
  hello: ReturnType<typeof setTimeout> | undefined;
}

/** Sends a text message if the socket is open. */
export function sendJson(conn: Conn, msg: ServerToClientMsg): void {
  if (conn.socket.readyState === WebSocket.OPEN) conn.socket.send(JSON.stringify(msg));
}
