/**
 * The client side of the rendezvous protocol over one WebSocket.
 *
 * Protocol flow:
 * - `connect()` waits for `welcome` and learns this side's public address.
 * - The sender calls `allocate()` then `paired()`; the receiver `claim()`.
 * - A sender whose claimant leaves before adding a mailbox message gets
 *   `unpaired`: what that claimant sent is dropped, `add()` and `next()`
 *   fail with code `unpaired` until `paired()` resolves again, for the next
 *   claimant under a new mailbox id.
 * - `add(phase, body)` and `next(phase)` pass mailbox messages.
 * - `frames()` is the relay: records to and from the other side, each cut
 *   into binary WebSocket messages of at most 256 KiB with a length prefix
 *   (lib/link/framing.ts).
 * - What the other side sends before this side reads it is bounded
 *   (lib/rendezvous/defaults.ts): relayed bytes by
 *   {@linkcode RELAY_QUEUE_MAX_BYTES}, before and after `frames()`, and
 *   mailbox messages by {@linkcode MAILBOX_QUEUE_MAX_MESSAGES}; beyond,
 *   the session fails.
 *
 * @module
 */

import { RECORD_MAX_PLAINTEXT, RECORD_OVERHEAD } from "../crypto/records.ts";
import type { FramePipe } from "../link/frames.ts";
import { FrameReassembler, splitFrame } from "../link/framing.ts";
import {
  decodeBase64,
  encodeBase64,
  MAX_BINARY_FRAME_BYTES,
  type Mood,
  parseServerMessage,
  type ServerToClientMsg,
  type Side,
} from "./messages.ts";
import { MAILBOX_QUEUE_MAX_MESSAGES, RELAY_QUEUE_MAX_BYTES } from "./defaults.ts";
import { whenAborted } from "../_abort.ts";
import { tuneSocket } from "./_tuning.ts";

/** Why a rendezvous session ended early. */
export type RendezvousErrorCode =
  | Extract<ServerToClientMsg, { type: "error" }>["error"]
  | "network"
  | "peer_gone"
  | "closed"
  | "timeout"
  | "unpaired";

/** The rendezvous failed, refused, or the other side left. */
export class RendezvousError extends Error {
  readonly code: RendezvousErrorCode;
  constructor(code: RendezvousErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RendezvousError";
    this.code = code;
  }
}

/** What `paired` tells each side. */
export interface Paired {
  side: Side;
  /** 16 random bytes as hex, chosen by the server; the PAKE's session id. */
  mailbox: string;
}

/** Options for {@linkcode RendezvousClient.connect}. */
export interface ConnectOptions {
  signal?: AbortSignal;
}

/** Options for {@linkcode RendezvousClient.next}. */
export interface NextOptions {
  /** Stops waiting: `next()` rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Turns `http(s)://host[:port][/path]` or `ws(s)://…` into the `/v1/ws` URL. */
export function webSocketUrl(server: string): string {
  let url: URL;
  try {
    url = new URL(server.includes("://") ? server : `http://${server}`);
  } catch {
    throw new TypeError(`Cannot use server "${server}": not a URL`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`Cannot use server "${server}": use http(s):// or ws(s)://`);
  }
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/v1/ws";
  return url.href;
}

type Waiter = { resolve: (msg: ServerToClientMsg) => void; reject: (e: unknown) => void };

/** One side's connection to the rendezvous. */
export class RendezvousClient {
  /** This side's ip:port as the server sees it. */
  address = "";
  readonly #socket: WebSocket;
  readonly #waiters = new Map<string, Waiter>();
  /** The last server message of each type that came while nobody waited for it. */
  readonly #unawaited = new Map<string, ServerToClientMsg>();
  readonly #mail = new Map<string, Uint8Array[]>();
  #mailCount = 0;
  #frames?: ReadableStreamDefaultController<Uint8Array>;
  /** Relayed frames that came before `frames()`, and their bytes. */
  readonly #early: Uint8Array[] = [];
  #earlyBytes = 0;
  #reassembler = new FrameReassembler(RECORD_MAX_PLAINTEXT + RECORD_OVERHEAD);
  /** Set by `unpaired` until the next `paired`: the pairing it names is over. */
  #unpaired: RendezvousError | undefined;
  #error?: RendezvousError;
  #peerGone = false;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
  }

  /** Connects and waits for the server's welcome. */
  static async connect(server: string, options: ConnectOptions = {}): Promise<RendezvousClient> {
    const url = webSocketUrl(server);
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    const client = new RendezvousClient(socket);
    const welcome = client.#expect("welcome");
    socket.onopen = () => void tuneSocket(url).catch(() => {});
    socket.onmessage = (event) => client.#onMessage(event);
    socket.onclose = (event) =>
      client.#fail(
        new RendezvousError(
          "closed",
          `Rendezvous ${url} closed the connection${event.reason ? `: ${event.reason}` : ""}`,
        ),
      );
    socket.onerror = (event) =>
      client.#fail(
        new RendezvousError(
          "network",
          `Cannot reach the rendezvous at ${url}: ${(event as ErrorEvent).message ?? "error"}`,
        ),
      );
    const unlisten = whenAborted(options.signal, () => client.close());
    try {
      const msg = await welcome;
      if (msg.type === "welcome") client.address = msg.address;
      return client;
    } finally {
      unlisten();
    }
  }

  /** Asks for a nameplate (a chosen one, or any free one); resolves to it. */
  async allocate(nameplate?: string): Promise<string> {
    const reply = this.#expect("allocated");
    this.#sendJson(
      nameplate === undefined ? { type: "allocate" } : { type: "allocate", nameplate },
    );
    const msg = await reply;
    return msg.type === "allocated" ? msg.nameplate : "";
  }

  /** Waits until a receiver claims this sender's nameplate. */
  async paired(): Promise<Paired> {
    const msg = await this.#expect("paired");
    if (msg.type !== "paired") throw new TypeError("unreachable");
    this.#unpaired = undefined;
    return { side: msg.side, mailbox: msg.mailbox };
  }

  /** Claims a sender's nameplate; resolves once paired. */
  claim(nameplate: string): Promise<Paired> {
    const paired = this.paired();
    this.#sendJson({ type: "claim", nameplate });
    return paired;
  }

  /** Sends a mailbox message to the other side. */
  add(phase: string, body: Uint8Array): void {
    if (this.#unpaired) throw this.#unpaired;
    this.#sendJson({ type: "add", phase, body: encodeBase64(body) });
  }

  /** Waits for the other side's next mailbox message of a phase. */
  async next(phase: string, options: NextOptions = {}): Promise<Uint8Array> {
    if (this.#unpaired) throw this.#unpaired;
    const queued = this.#mail.get(phase);
    if (queued?.length) {
      this.#mailCount--;
      return queued.shift()!;
    }
    const msg = await this.#expect(`message:${phase}`, options.signal);
    return msg.type === "message" ? decodeBase64(msg.body) : new Uint8Array();
  }

  /** The relay: binary frames to and from the other side. Call once. */
  frames(): FramePipe {
    const socket = this.#socket;
    const readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#frames = controller;
        for (const frame of this.#early.splice(0)) controller.enqueue(frame);
        this.#earlyBytes = 0;
        if (this.#peerGone) controller.close();
        else if (this.#error) controller.error(this.#error);
      },
      // Measured in bytes: `desiredSize` is then minus the bytes queued unread.
    }, { highWaterMark: 0, size: (frame) => frame.byteLength });
    const writable = new WritableStream<Uint8Array>({
      write: (frame) => {
        if (this.#error) throw this.#error;
        for (const chunk of splitFrame(frame, MAX_BINARY_FRAME_BYTES)) socket.send(chunk);
      },
    });
    return { readable, writable };
  }

  /** Says goodbye with a mood and closes once the server has it; never throws. */
  async release(mood: Mood): Promise<void> {
    if (this.#socket.readyState !== WebSocket.OPEN || this.#error) {
      try {
        this.#socket.close();
      } catch { /* not open */ }
      return;
    }
    const closed = new Promise<void>((resolve) => {
      this.#socket.addEventListener("close", () => resolve(), { once: true });
      setTimeout(resolve, 2000);
    });
    this.#sendJson({ type: "release", mood });
    await closed;
  }

  /** Closes the socket at once. */
  close(): void {
    this.#fail(new RendezvousError("closed", "Closed"));
    try {
      this.#socket.close();
    } catch { /* not open yet */ }
  }

  #sendJson(msg: unknown): void {
    if (this.#error) throw this.#error;
    this.#socket.send(JSON.stringify(msg));
  }

  #expect(key: string, signal?: AbortSignal): Promise<ServerToClientMsg> {
    if (this.#error) return Promise.reject(this.#error);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const came = this.#unawaited.get(key);
    if (came) {
      this.#unawaited.delete(key);
      return Promise.resolve(came);
    }
    return new Promise((resolve, reject) => {
      const unlisten = whenAborted(signal, () => {
        if (this.#waiters.get(key)?.reject !== settle.reject) return;
        this.#waiters.delete(key);
        reject(signal!.reason);
      });
      const settle: Waiter = {
        resolve: (msg) => (unlisten(), resolve(msg)),
        reject: (error) => (unlisten(), reject(error)),
      };
      this.#waiters.set(key, settle);
    });
  }

  /** Bytes relayed to this side and not read yet. */
  #queuedBytes(): number {
    return this.#frames ? -(this.#frames.desiredSize ?? 0) : this.#earlyBytes;
  }

  #deliver(key: string, msg: ServerToClientMsg): boolean {
    const waiter = this.#waiters.get(key);
    if (!waiter) return false;
    this.#waiters.delete(key);
    waiter.resolve(msg);
    return true;
  }

  #onMessage(event: MessageEvent): void {
    if (typeof event.data !== "string") {
      let frames: Uint8Array[];
      try {
        frames = this.#reassembler.push(new Uint8Array(event.data as ArrayBuffer));
      } catch (error) {
        this.#fail(
          new RendezvousError("network", "The other side sent a bad frame", { cause: error }),
        );
        return this.close();
      }
      for (const frame of frames) {
        if (this.#queuedBytes() + frame.byteLength > RELAY_QUEUE_MAX_BYTES) {
          this.#fail(
            new RendezvousError(
              "flow_control",
              `Cannot hold what the other side relays: over ${RELAY_QUEUE_MAX_BYTES} bytes ` +
                "unread (it ignores flow control, or is a stranger who claimed the nameplate " +
                "and streams before the key exchange)",
            ),
          );
          return this.close();
        }
        if (!this.#frames) {
          this.#early.push(frame);
          this.#earlyBytes += frame.byteLength;
        } else {
          try {
            this.#frames.enqueue(frame);
          } catch { /* the reader is gone: this side stopped reading the relay */ }
        }
      }
      return;
    }
    let msg: ServerToClientMsg;
    try {
      msg = parseServerMessage(event.data);
    } catch (error) {
      this.#fail(
        new RendezvousError("network", "The rendezvous sent a bad message", { cause: error }),
      );
      return this.close();
    }
    switch (msg.type) {
      case "message":
        if (this.#deliver(`message:${msg.phase}`, msg)) return;
        if (++this.#mailCount > MAILBOX_QUEUE_MAX_MESSAGES) {
          this.#fail(
            new RendezvousError(
              "too_large",
              `Cannot hold the other side's mailbox messages: over ${MAILBOX_QUEUE_MAX_MESSAGES} unread`,
            ),
          );
          return this.close();
        }
        {
          const queue = this.#mail.get(msg.phase) ?? [];
          queue.push(decodeBase64(msg.body));
          this.#mail.set(msg.phase, queue);
        }
        return;
      case "peer_gone":
        this.#peerGone = true;
        try {
          this.#frames?.close();
        } catch { /* the reader already cancelled */ }
        return this.#fail(
          new RendezvousError("peer_gone", `The other side left (${msg.mood})`),
        );
      case "error":
        return this.#fail(new RendezvousError(msg.error, msg.message));
      case "unpaired":
        return this.#onUnpaired();
      default:
        // `paired` can come before the sender asks for it (right after `allocated`).
        if (!this.#deliver(msg.type, msg)) this.#unawaited.set(msg.type, msg);
    }
  }

  /** The claimant left before the key exchange: forget what it sent, fail what waits for it. */
  #onUnpaired(): void {
    if (this.#frames) {
      // Past the key exchange an honest server never sends this.
      this.#fail(new RendezvousError("network", "The rendezvous unpaired a finished key exchange"));
      return this.close();
    }
    this.#early.length = 0;
    this.#earlyBytes = 0;
    this.#reassembler = new FrameReassembler(RECORD_MAX_PLAINTEXT + RECORD_OVERHEAD);
    this.#mail.clear();
    this.#mailCount = 0;
    this.#unpaired = new RendezvousError(
      "unpaired",
      "The receiver left before the key exchange; waiting for another",
    );
    for (const [key, waiter] of [...this.#waiters]) {
      if (!key.startsWith("message:")) continue;
      this.#waiters.delete(key);
      waiter.reject(this.#unpaired);
    }
  }

  #fail(error: RendezvousError): void {
    if (this.#error) return;
    this.#error = error;
    for (const waiter of this.#waiters.values()) waiter.reject(error);
    this.#waiters.clear();
    if (!this.#peerGone) {
      try {
        this.#frames?.error(error);
      } catch { /* already closed */ }
    }
  }
}
