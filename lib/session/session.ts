/**
 * A session: the rendezvous pairs the two sides, CPace turns the code into a
 * shared key, key confirmation proves both hold the same one, and the relay
 * becomes a secure channel.
 *
 * Protocol flow (docs/protocol/crypto.md has the bytes):
 * - Sender: `allocate` (the code's nameplate, or a fresh one) and wait for
 *   `paired`. Receiver: `claim` the code's nameplate.
 * - Both: `add pake {CPace message}` at once, then read the other's.
 * - Both: `add confirm {tag}`, then check the other's tag; a mismatch means
 *   a wrong code, and both sides stop.
 * - A sender whose claimant leaves before the key exchange (`unpaired`)
 *   waits for `paired` again and runs the exchange afresh.
 * - The relay's binary frames now carry records.
 *
 * @module
 */

import { hexToBytes } from "@noble/hashes/utils.js";
import { type Code, generateCode, parseCode } from "../code/phrase.ts";
import { CPaceError, startCPace } from "../crypto/cpace.ts";
import { deriveSessionKeys, type SessionKeys, type Side } from "../crypto/keys.ts";
import { SecureChannel } from "../link/channel.ts";
import { RendezvousClient, RendezvousError } from "../rendezvous/client.ts";
import { HANDSHAKE_TIMEOUT_MS } from "../rendezvous/defaults.ts";
import { whenAborted } from "../_abort.ts";

const encoder = new TextEncoder();

/** The other side used a different code (or someone guessed and missed). */
export class WrongCodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WrongCodeError";
  }
}

/** An open session: the secure channel, and the rendezvous it rides on. */
export interface Session {
  side: Side;
  code: string;
  channel: SecureChannel;
  client: RendezvousClient;
  keys: SessionKeys;
}

/** Options for {@linkcode openSender}. */
export interface OpenSenderOptions {
  /** Use this code instead of a fresh one; its nameplate must be free. */
  code?: string;
  /** Called with the code once the nameplate is allocated. */
  onCode?: (code: string) => void;
  /** Called each time a receiver has claimed the nameplate. */
  onPaired?: () => void;
  /** Called when that receiver left before the key exchange, and the sender waits again. */
  onUnpaired?: () => void;
  /**
   * Once paired, the key exchange must finish this soon.
   * @default {HANDSHAKE_TIMEOUT_MS}
   */
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Options for {@linkcode openReceiver}. */
export interface OpenReceiverOptions {
  onPaired?: () => void;
  /**
   * Once paired, the key exchange must finish this soon.
   * @default {HANDSHAKE_TIMEOUT_MS}
   */
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Runs CPace and key confirmation over the mailbox; resolves to the session
 * keys. `signal` stops the waits for the other side's messages.
 */
export async function handshake(
  client: RendezvousClient,
  side: Side,
  code: Code,
  mailbox: string,
  signal?: AbortSignal,
): Promise<SessionKeys> {
  const wait = signal ? { signal } : {};
  const cpace = startCPace(side === "sender" ? "initiator" : "responder", {
    password: encoder.encode(code.code),
    channelId: encoder.encode(`punch/v1 ${code.nameplate}`),
    sessionId: hexToBytes(mailbox),
  });
  client.add("pake", cpace.message);
  let isk: Uint8Array;
  try {
    isk = cpace.finish(await client.next("pake", wait));
  } catch (error) {
    if (error instanceof CPaceError) {
      throw new WrongCodeError(
        `The other side sent an invalid key exchange message: ${error.message}`,
      );
    }
    throw error;
  }
  const keys = await deriveSessionKeys(isk, side);
  client.add("confirm", keys.confirmation);
  if (!keys.verifyPeerConfirmation(await client.next("confirm", wait))) {
    throw new WrongCodeError(
      side === "sender"
        ? "The receiver typed a wrong code (or someone guessed and missed); nothing was sent. " +
          "That code is used up: run punch send again for a new one"
        : "Wrong code: either you or the sender typed it wrong, or someone tried to guess it; " +
          "nothing was received. Ask the sender to run punch send again for a new code",
    );
  }
  return keys;
}

function isUnpaired(error: unknown): boolean {
  return error instanceof RendezvousError && error.code === "unpaired";
}

async function finish(
  client: RendezvousClient,
  side: Side,
  code: Code,
  mailbox: string,
  timeoutMs = HANDSHAKE_TIMEOUT_MS,
) {
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    const keys = await handshake(client, side, code, mailbox, deadline).catch((error) => {
      if (error !== deadline.reason) throw error;
      throw new RendezvousError(
        "timeout",
        `The other side did not finish the key exchange within ${timeoutMs / 1000} s of pairing ` +
          (side === "sender"
            ? "(someone claimed the nameplate and stalled, or the network broke); run punch send again"
            : "(the network broke, or this is not a punch sender); try again"),
      );
    });
    const channel = new SecureChannel(client.frames(), keys);
    return { side, code: code.code, channel, client, keys };
  } catch (error) {
    if (!isUnpaired(error)) {
      await client.release(error instanceof WrongCodeError ? "scary" : "errory");
    }
    throw error;
  }
}

/** Opens the sending side: allocates a nameplate, waits for the receiver, runs the handshake. */
export async function openSender(
  server: string,
  options: OpenSenderOptions = {},
): Promise<Session> {
  const wanted = options.code === undefined ? undefined : parseCode(options.code);
  const client = await RendezvousClient.connect(server, options);
  const unlisten = whenAborted(options.signal, () => client.close());
  try {
    const nameplate = await client.allocate(wanted?.nameplate);
    const code = wanted ?? parseCode(generateCode(nameplate));
    options.onCode?.(code.code);
    for (;;) {
      const paired = await client.paired();
      options.onPaired?.();
      try {
        return await finish(client, "sender", code, paired.mailbox, options.handshakeTimeoutMs);
      } catch (error) {
        if (!isUnpaired(error)) throw error;
        options.onUnpaired?.();
      }
    }
  } catch (error) {
    client.close();
    throw error;
  } finally {
    unlisten();
  }
}

/** Opens the receiving side: claims the code's nameplate and runs the handshake. */
export async function openReceiver(
  server: string,
  code: string,
  options: OpenReceiverOptions = {},
): Promise<Session> {
  const parsed = parseCode(code);
  const client = await RendezvousClient.connect(server, options);
  const unlisten = whenAborted(options.signal, () => client.close());
  try {
    const paired = await client.claim(parsed.nameplate);
    options.onPaired?.();
    return await finish(client, "receiver", parsed, paired.mailbox, options.handshakeTimeoutMs);
  } catch (error) {
    client.close();
    throw error;
  } finally {
    unlisten();
  }
}
