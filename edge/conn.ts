/**
 * One client connection as the hub sees it, and the link to the other side
 * of its pair — a socket on this instance or one on another instance.
 *
 * @module
 */

import type { Mood, ServerToClientMsg, Side } from "../lib/rendezvous/messages.ts";

/** A nameplate held by a waiting or paired sender on this instance. */
export interface Plate {
  nameplate: string;
  /** 16 random bytes as hex: the PAKE's session id. */
  mailbox: string;
  sender: Conn;
  /** When this instance started holding it (`Date.now()`). */
  heldAt: number;
  /** A receiver claimed it (here or on another instance): no one else may. */
  claimed: boolean;
  /** The receiver is on another instance. */
  remoteReceiver: boolean;
  senderLeft: boolean;
  receiverLeft: boolean;
}

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

/** What a {@linkcode HubSocket} tells the hub. */
export interface HubSocketEvents {
  open(): void;
  text(data: string): void;
  binary(data: Uint8Array): void;
  /**
   * A message over the size limit was announced and refused before it
   * arrived (the hardened transport only); the socket closes after.
   */
  oversize(message: string): void;
  /** The socket is closed, whoever closed it; called once. */
  close(): void;
}

/**
 * A client's WebSocket as the hub uses it: Deno's own
 * ({@linkcode fromWebSocket}, for `Deno.serve` and Deno Deploy) or the
 * hardened transport's (`websocket.ts`).
 */
export interface HubSocket {
  /** Open: what is sent goes out. */
  readonly open: boolean;
  /** Closing or closed. */
  readonly closing: boolean;
  /** Bytes queued to send and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  send(data: string | Uint8Array): void;
  /** Starts the closing handshake; never throws. */
  close(code: number, reason: string): void;
  /** Starts delivering events; called once, right after the socket is handed over. */
  listen(events: HubSocketEvents): void;
}

/** Wraps an upgraded `WebSocket` (from `Deno.upgradeWebSocket`). */
export function fromWebSocket(socket: WebSocket): HubSocket {
  socket.binaryType = "arraybuffer";
  return {
    get open() {
      return socket.readyState === WebSocket.OPEN;
    },
    get closing() {
      return socket.readyState >= WebSocket.CLOSING;
    },
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    send: (data) => socket.send(data),
    close(code, reason) {
      try {
        socket.close(code, reason);
      } catch { /* already closing */ }
    },
    listen(events) {
      socket.onopen = () => events.open();
      socket.onmessage = (event) => {
        if (typeof event.data === "string") events.text(event.data);
        else events.binary(new Uint8Array(event.data as ArrayBuffer));
      };
      socket.onclose = () => events.close();
      socket.onerror = () => {};
    },
  };
}

/** A client's WebSocket and where it stands. */
export interface Conn {
  /** Unique on this instance; other instances address it by (instance, id). */
  readonly id: number;
  readonly socket: HubSocket;
  /** What per-address limits count this client as (`addresses.ts`). */
  readonly key: string;
  side?: Side;
  /** The nameplate a sender holds. */
  plate?: Plate;
  /** Set once paired. */
  link?: Link;
  /** The other side has left: its traffic is dropped, nothing more is relayed. */
  peerLeft: boolean;
  closed: boolean;
  /** A receiver whose claim failed, counted against its address. */
  claimFailed: boolean;
  mood: Mood;
  /** Mailbox messages this side added, and those passed to it from its peer, this pairing. */
  added: number;
  heard: number;
  /** Closes the socket unless it allocates or claims in time; cleared (and dropped) once it does. */
  hello: ReturnType<typeof setTimeout> | undefined;
  /** Drops a receiver that adds no mailbox message in time after pairing; cleared once it does. */
  pake?: ReturnType<typeof setTimeout> | undefined;
}

/** Sends a text message if the socket is open. */
export function sendJson(conn: Conn, msg: ServerToClientMsg): void {
  if (conn.socket.open) conn.socket.send(JSON.stringify(msg));
}
