/**
 * The hub pairs WebSockets by nameplate and passes their traffic.
 *
 * Protocol flow:
 * - A socket is greeted with `welcome {address}` and must `allocate` (sender)
 *   or `claim` (receiver) before `helloTimeoutMs`.
 * - A nameplate takes exactly one claim: a third party is refused, and a
 *   failed guess uses the nameplate up.
 * - Once paired, `add` becomes `message` for the other side and binary frames
 *   are relayed verbatim; a side that breaks the protocol is dropped alone.
 * - When one side leaves, the other gets `peer_gone`; the nameplate is freed
 *   when both have left.
 * - Other instances learn of allocated and freed nameplates through the bus.
 *
 * @module
 */

import {
  MAX_BINARY_FRAME_BYTES,
  type Mood,
  parseClientMessage,
  ProtocolError,
  type ServerErrorCode,
  type ServerToClientMsg,
  type Side,
} from "../lib/rendezvous/messages.ts";
import { GarbageMeter } from "../lib/memory.ts";
import type { Bus, BusFactory } from "./bus.ts";
import { type Limits, NAMEPLATE_MIN_DIGITS, NAMEPLATE_TRIES_PER_LENGTH } from "./defaults.ts";

/** The bus channel instances announce nameplates on. */
export const NAMEPLATE_CHANNEL = "punch/v1/nameplates";

type BusNotice = { kind: "allocated" | "freed"; nameplate: string; instance: string };

interface Conn {
  socket: WebSocket;
  side?: Side;
  plate?: Plate;
  mood: Mood;
  added: number;
  hello?: ReturnType<typeof setTimeout>;
}

interface Plate {
  nameplate: string;
  mailbox: string;
  sender: Conn;
  receiver?: Conn;
  senderLeft: boolean;
  receiverLeft: boolean;
  ttl?: ReturnType<typeof setTimeout>;
}

/** Counters a hub exposes for health checks and tests. */
export interface HubStats {
  connections: number;
  nameplates: number;
  paired: number;
  dropped: number;
}

function randomHex(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomNameplate(digits: number): string {
  const low = 10 ** (digits - 1);
  const span = 9 * low;
  const [r = 0] = crypto.getRandomValues(new Uint32Array(1));
  return String(low + (r % span));
}

/** One rendezvous instance's pairing state. */
export class Hub {
  readonly instance = randomHex(8);
  readonly #limits: Limits;
  readonly #plates = new Map<string, Plate>();
  readonly #remote = new Map<string, string>();
  readonly #conns = new Set<Conn>();
  readonly #bus: Bus;
  readonly #log: (line: string) => void;
  #paired = 0;
  #dropped = 0;
  #closed = false;
  readonly #meter = new GarbageMeter();

  constructor(limits: Limits, bus: BusFactory, log: (line: string) => void) {
    this.#limits = limits;
    this.#log = log;
    this.#bus = bus(NAMEPLATE_CHANNEL);
    this.#bus.onmessage = (event) => this.#onBus(event.data as BusNotice);
  }

  /** Whether one more connection fits. */
  get full(): boolean {
    return this.#conns.size >= this.#limits.maxConnections;
  }

  stats(): HubStats {
    return {
      connections: this.#conns.size,
      nameplates: this.#plates.size,
      paired: this.#paired,
      dropped: this.#dropped,
    };
  }

  /** The nameplates this instance holds. */
  nameplates(): IterableIterator<string> {
    return this.#plates.keys();
  }

  /** Takes over an upgraded socket; `address` is the client's ip:port as seen. */
  attach(socket: WebSocket, address: string): void {
    socket.binaryType = "arraybuffer";
    const conn: Conn = { socket, mood: "lonely", added: 0 };
    this.#conns.add(conn);
    socket.onopen = () => {
      this.#send(conn, { type: "welcome", version: 1, address });
      conn.hello = setTimeout(
        () => this.#drop(conn, "idle_timeout", "No allocate or claim in time"),
        this.#limits.helloTimeoutMs,
      );
    };
    socket.onmessage = (event) => {
      try {
        if (typeof event.data === "string") this.#onText(conn, event.data);
        else this.#onBinary(conn, event.data as ArrayBuffer);
      } catch (error) {
        if (error instanceof ProtocolError) this.#drop(conn, error.code, error.message);
        else throw error;
      }
    };
    socket.onclose = () => this.#onClose(conn);
    socket.onerror = () => {};
  }

  /** Closes the bus and every socket. */
  close(): void {
    this.#closed = true;
    this.#bus.close();
    for (const conn of this.#conns) {
      clearTimeout(conn.hello);
      try {
        conn.socket.close(1001, "server closing");
      } catch { /* already closed */ }
    }
    for (const plate of this.#plates.values()) clearTimeout(plate.ttl);
  }

  #onBus(notice: BusNotice): void {
    if (notice.instance === this.instance) return;
    if (notice.kind === "allocated") this.#remote.set(notice.nameplate, notice.instance);
    else if (this.#remote.get(notice.nameplate) === notice.instance) {
      this.#remote.delete(notice.nameplate);
    }
  }

  #onText(conn: Conn, text: string): void {
    const msg = parseClientMessage(text);
    switch (msg.type) {
      case "allocate":
        return this.#allocate(conn, msg.nameplate);
      case "claim":
        return this.#claim(conn, msg.nameplate);
      case "add": {
        const peer = this.#peerOf(conn);
        if (++conn.added > this.#limits.maxMailboxMessages) {
          throw new ProtocolError("too_large", "Too many mailbox messages in one session");
        }
        if (peer) this.#send(peer, { type: "message", phase: msg.phase, body: msg.body });
        return;
      }
      case "release":
        conn.mood = msg.mood;
        conn.socket.close(1000, "released");
        return;
      case "ping":
        return this.#send(conn, { type: "pong", id: msg.id });
    }
  }

  #onBinary(conn: Conn, data: ArrayBuffer): void {
    if (data.byteLength > MAX_BINARY_FRAME_BYTES) {
      throw new ProtocolError(
        "too_large",
        `Binary frame of ${data.byteLength} bytes exceeds ${MAX_BINARY_FRAME_BYTES}`,
      );
    }
    const peer = this.#peerOf(conn);
    if (!peer || peer.socket.readyState !== WebSocket.OPEN) return;
    if (peer.socket.bufferedAmount > this.#limits.relayMaxBufferedBytes) {
      throw new ProtocolError("flow_control", "Relayed bytes exceed the flow-control window");
    }
    peer.socket.send(data);
    this.#meter.count(data.byteLength);
  }

  /** The other side of a paired connection; throws if it is not paired. */
  #peerOf(conn: Conn): Conn | undefined {
    const plate = conn.plate;
    if (!plate?.receiver) throw new ProtocolError("not_paired", "Not paired yet");
    return conn.side === "sender" ? plate.receiver : plate.sender;
  }

  #taken(nameplate: string): boolean {
    return this.#plates.has(nameplate) || this.#remote.has(nameplate);
  }

  #allocate(conn: Conn, wanted: string | undefined): void {
    if (conn.side) throw new ProtocolError("unexpected", "Already allocated or claimed");
    if (this.#plates.size >= this.#limits.maxNameplates) {
      return this.#drop(conn, "server_busy", "This rendezvous holds too many nameplates now");
    }
    let nameplate = wanted;
    if (nameplate !== undefined && this.#taken(nameplate)) {
      return this.#drop(conn, "nameplate_taken", `Nameplate ${nameplate} is in use`);
    }
    for (let digits = NAMEPLATE_MIN_DIGITS; nameplate === undefined && digits <= 8; digits++) {
      for (let i = 0; i < NAMEPLATE_TRIES_PER_LENGTH; i++) {
        const pick = randomNameplate(digits);
        if (!this.#taken(pick)) {
          nameplate = pick;
          break;
        }
      }
    }
    if (nameplate === undefined) {
      return this.#drop(conn, "no_nameplates", "No free nameplate");
    }
    clearTimeout(conn.hello);
    const plate: Plate = {
      nameplate,
      mailbox: randomHex(16),
      sender: conn,
      senderLeft: false,
      receiverLeft: false,
    };
    plate.ttl = setTimeout(() => {
      if (!plate.receiver) this.#drop(conn, "expired", `Nameplate ${nameplate} was never claimed`);
    }, this.#limits.nameplateTtlMs);
    conn.side = "sender";
    conn.plate = plate;
    this.#plates.set(nameplate, plate);
    this.#announce("allocated", nameplate);
    this.#send(conn, { type: "allocated", nameplate });
  }

  #claim(conn: Conn, nameplate: string): void {
    if (conn.side) throw new ProtocolError("unexpected", "Already allocated or claimed");
    const plate = this.#plates.get(nameplate);
    if (!plate || plate.senderLeft) {
      return this.#drop(
        conn,
        "unknown_nameplate",
        `No sender is waiting on nameplate ${nameplate}`,
      );
    }
    if (plate.receiver) {
      return this.#drop(
        conn,
        "nameplate_claimed",
        `Nameplate ${nameplate} was already claimed; ask the sender for a new code`,
      );
    }
    clearTimeout(conn.hello);
    clearTimeout(plate.ttl);
    conn.side = "receiver";
    conn.plate = plate;
    plate.receiver = conn;
    this.#paired++;
    this.#send(plate.sender, { type: "paired", side: "sender", mailbox: plate.mailbox });
    this.#send(conn, { type: "paired", side: "receiver", mailbox: plate.mailbox });
  }

  #onClose(conn: Conn): void {
    clearTimeout(conn.hello);
    this.#conns.delete(conn);
    const plate = conn.plate;
    if (!plate) return;
    if (conn.side === "sender") plate.senderLeft = true;
    else plate.receiverLeft = true;
    const peer = conn.side === "sender" ? plate.receiver : plate.sender;
    if (peer && peer.socket.readyState === WebSocket.OPEN) {
      this.#send(peer, { type: "peer_gone", mood: conn.mood });
    }
    if (plate.senderLeft && (plate.receiverLeft || !plate.receiver)) {
      clearTimeout(plate.ttl);
      this.#plates.delete(plate.nameplate);
      this.#announce("freed", plate.nameplate);
    }
  }

  #announce(kind: BusNotice["kind"], nameplate: string): void {
    if (!this.#closed) this.#bus.postMessage({ kind, nameplate, instance: this.instance });
  }

  #send(conn: Conn, msg: ServerToClientMsg): void {
    if (conn.socket.readyState === WebSocket.OPEN) conn.socket.send(JSON.stringify(msg));
  }

  #drop(conn: Conn, code: ServerErrorCode, message: string): void {
    this.#dropped++;
    conn.mood = "errory";
    this.#log(`drop ${code}: ${message}`);
    this.#send(conn, { type: "error", error: code, message });
    try {
      conn.socket.close(1008, code);
    } catch { /* already closing */ }
  }
}
