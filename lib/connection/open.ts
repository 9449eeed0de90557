/**
 * Opening a connection: the rendezvous pairs the two sides by the code's
 * nameplate, CPace turns the code into a key, key confirmation proves both
 * hold the same one, and the hellos prove both speak this protocol version.
 *
 * Protocol flow (docs/protocol/crypto.md and connection.md have the bytes):
 * - Sender: `allocate` (the code's nameplate, or a fresh one); the
 *   connection is returned with its code at once, and pairs in the
 *   background. Receiver: `claim`; returned once the claim is taken.
 * - Both: CPace and key confirmation through the mailbox, within a deadline.
 *   A sender whose claimant leaves before the key exchange (`unpaired`)
 *   waits for `paired` again and runs the exchange afresh.
 * - Both: a hello on the relay, sealed as a version 1 record (an older peer
 *   reads it as an error naming both versions), and the other's read.
 * - Messages flow on the relay; the direct search starts.
 *
 * @module
 */

import { type Code, generateCode, parseCode } from "../code/phrase.ts";
import { type SessionKeys, type Side } from "../crypto/keys.ts";
import { RecordOpener, RecordSealer } from "../crypto/records.ts";
import { asPunchError, type ErrorKind, PunchError } from "../errors.ts";
import { type Paired, RendezvousClient, RendezvousError } from "../rendezvous/client.ts";
import { HANDSHAKE_TIMEOUT_MS } from "../rendezvous/defaults.ts";
import { handshakeWithin, isUnpaired } from "./_handshake.ts";
import { whenAborted } from "../_abort.ts";
import { PunchConnection } from "./connection.ts";
import type { Connection, DirectPolicy } from "./types.ts";
import { HELLO_WAIT_MS } from "./defaults.ts";
import { decodeHello, encodeHello, PROTOCOL_VERSION, versionError } from "./_wire.ts";

/** Options of both {@linkcode openSender} and {@linkcode openReceiver}. */
export interface OpenOptions {
  /**
   * `"auto"`: the relay at once, a direct path when one is found, back and
   * forth as the network needs; `"only"`: nothing through the relay (fails
   * with `no_direct` without a direct path); `"never"`: the relay only.
   * @default {"auto"}
   */
  direct?: "auto" | "only" | "never";
  /** The local port to listen and dial from; 0 picks one. @default {0} */
  port?: number;
  /** Ask the router to forward a port during each search (NAT-PMP). @default {true} */
  portMapping?: boolean;
  /**
   * Once paired, the key exchange must finish this soon.
   * @default {HANDSHAKE_TIMEOUT_MS}
   */
  handshakeTimeoutMs?: number;
  /** Aborts opening, and the connection once open (`cancelled`). */
  signal?: AbortSignal;
}

/** Options of {@linkcode openSender}. */
export interface OpenSenderOptions extends OpenOptions {
  /** Use this code instead of a fresh one; its nameplate must be free. */
  code?: string;
}

/** Options of {@linkcode openReceiver}. */
export type OpenReceiverOptions = OpenOptions;

/** The HKDF purposes of the message keys of protocol 2, one per direction. */
export const MESSAGE_PURPOSES = {
  sender: "punch/v2 sender-to-receiver",
  receiver: "punch/v2 receiver-to-sender",
} as const;

/**
 * Opens the sending side: allocates a nameplate and returns the connection
 * with its code; pairing and the key exchange go on in the background
 * (`connection.ready`).
 */
export async function openSender(
  server: string,
  options: OpenSenderOptions = {},
): Promise<Connection> {
  const wanted = options.code === undefined ? undefined : parseCode(options.code);
  const client = await connect(server, options.signal);
  try {
    const nameplate = await client.allocate(wanted?.nameplate);
    const code = wanted ?? parseCode(generateCode(nameplate));
    const connection = new PunchConnection(code.code, "sender", client, policy(server, options));
    pair(connection, client, code, () => client.paired(), options);
    return connection;
  } catch (error) {
    client.close();
    throw fromRendezvous(error);
  }
}

/**
 * Opens the receiving side: claims the code's nameplate and returns the
 * connection once the rendezvous paired it; the key exchange goes on in the
 * background (`connection.ready`).
 */
export async function openReceiver(
  server: string,
  code: string,
  options: OpenReceiverOptions = {},
): Promise<Connection> {
  const parsed = parseCode(code);
  const client = await connect(server, options.signal);
  try {
    const paired = await client.claim(parsed.nameplate);
    const connection = new PunchConnection(
      parsed.code,
      "receiver",
      client,
      policy(server, options),
    );
    pair(connection, client, parsed, () => Promise.resolve(paired), options);
    return connection;
  } catch (error) {
    client.close();
    throw fromRendezvous(error);
  }
}

function policy(server: string, options: OpenOptions): DirectPolicy {
  return {
    direct: options.direct ?? "auto",
    server,
    port: options.port ?? 0,
    portMapping: options.portMapping ?? true,
  };
}

async function connect(server: string, signal: AbortSignal | undefined): Promise<RendezvousClient> {
  try {
    return await RendezvousClient.connect(server, signal ? { signal } : {});
  } catch (error) {
    throw fromRendezvous(error);
  }
}

/** Pairs, exchanges keys and hellos, and starts the connection; any failure fails it. */
async function pair(
  connection: PunchConnection,
  client: RendezvousClient,
  code: Code,
  paired: () => Promise<Paired>,
  options: OpenOptions,
): Promise<void> {
  const unlisten = whenAborted(options.signal, () => connection.abort());
  const side = connection.side;
  const timeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  try {
    let keys;
    for (;;) {
      const { mailbox } = await paired();
      connection.paired();
      try {
        keys = await handshakeWithin(client, side, code, mailbox, timeoutMs);
        break;
      } catch (error) {
        // The claimant left without a word: it made no guess; wait for the next.
        if (side !== "sender" || !isUnpaired(error)) throw error;
        connection.unpaired();
      }
    }
    const messageKeys = await deriveMessageKeys(keys, side);
    const relay = client.frames();
    const ends = { writer: relay.writable.getWriter(), reader: relay.readable.getReader() };
    await exchangeHellos(ends, keys);
    connection.begin(keys, messageKeys, ends);
  } catch (error) {
    unlisten();
    const failure = fromRendezvous(error);
    // The other side learns of a wrong code from this side's confirmation, sent just
    // before: fail once the rendezvous has the goodbye queued after it, so that a
    // program that exits on the error (the CLI) does not drop both unsent, leaving the
    // other side with "peer gone" instead of "wrong code". One round trip, at most 2 s.
    if (failure.kind === "wrong_code") await client.release("scary");
    connection.fail(failure);
  }
}

/** This side's message keys: to send and to receive. */
export async function deriveMessageKeys(
  keys: SessionKeys,
  side: Side,
): Promise<{ send: Uint8Array; receive: Uint8Array }> {
  const [toReceiver, toSender] = await Promise.all([
    keys.deriveBytes(MESSAGE_PURPOSES.sender),
    keys.deriveBytes(MESSAGE_PURPOSES.receiver),
  ]);
  return side === "sender"
    ? { send: toReceiver, receive: toSender }
    : { send: toSender, receive: toReceiver };
}

/** Sends this side's hello and checks the other's: the first record each way on the relay. */
async function exchangeHellos(
  ends: {
    writer: WritableStreamDefaultWriter<Uint8Array>;
    reader: ReadableStreamDefaultReader<Uint8Array>;
  },
  keys: SessionKeys,
): Promise<void> {
  ends.writer.write(new RecordSealer(keys.send).seal(encodeHello())).catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(versionError(null)), HELLO_WAIT_MS);
  });
  try {
    const { value, done } = await Promise.race([ends.reader.read(), late]);
    if (done) {
      throw new PunchError(
        "peer_gone",
        "The other side left right after the key exchange, before it said which protocol it " +
          `speaks (this side speaks ${PROTOCOL_VERSION}; if the other runs an older punch, update both)`,
      );
    }
    let plaintext: Uint8Array | null;
    try {
      plaintext = new RecordOpener(keys.receive).open(value);
    } catch {
      throw versionError(null);
    }
    const version = plaintext === null ? null : decodeHello(plaintext);
    if (version !== PROTOCOL_VERSION) throw versionError(version);
  } finally {
    clearTimeout(timer);
  }
}

const RENDEZVOUS_KINDS: Readonly<Record<string, ErrorKind>> = {
  unknown_nameplate: "unknown_nameplate",
  nameplate_claimed: "nameplate_claimed",
  peer_gone: "peer_gone",
  network: "network",
  closed: "network",
  idle_timeout: "network",
  timeout: "network",
};

/** A rendezvous or key-exchange failure as a {@linkcode PunchError}. */
export function fromRendezvous(error: unknown): PunchError {
  if (error instanceof PunchError) return error;
  if (error instanceof RendezvousError) {
    return asPunchError(error, RENDEZVOUS_KINDS[error.code] ?? "server");
  }
  return asPunchError(error, "network");
}
