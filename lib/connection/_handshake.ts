// The key exchange over the mailbox: CPace turns the code into a shared
// key the rendezvous never learns, and key confirmation proves both sides
// hold the same one (docs/protocol/crypto.md has the bytes).
//
// - Both: `add pake {CPace message}` at once, then read the other's.
// - Both: `add confirm {tag}`, then check the other's tag; a mismatch means
//   a wrong code, and both sides stop.

import { hexToBytes } from "@noble/hashes/utils.js";
import type { Code } from "../code/phrase.ts";
import { CPaceError, startCPace } from "../crypto/cpace.ts";
import { deriveSessionKeys, type SessionKeys, type Side } from "../crypto/keys.ts";
import { PunchError } from "../errors.ts";
import { type RendezvousClient, RendezvousError } from "../rendezvous/client.ts";

const encoder = new TextEncoder();

/** The other side used a different code (or someone guessed and missed). */
export class WrongCodeError extends PunchError {
  constructor(message: string) {
    super("wrong_code", message);
    this.name = "WrongCodeError";
  }
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

/**
 * {@linkcode handshake}, given up on after `timeoutMs`: a stranger who
 * claimed the nameplate and stalls, or a broken network, must not hold a
 * side for ever.
 */
export async function handshakeWithin(
  client: RendezvousClient,
  side: Side,
  code: Code,
  mailbox: string,
  timeoutMs: number,
): Promise<SessionKeys> {
  const deadline = AbortSignal.timeout(timeoutMs);
  return await handshake(client, side, code, mailbox, deadline).catch((error) => {
    if (error !== deadline.reason) throw error;
    throw new RendezvousError(
      "timeout",
      `The other side did not finish the key exchange within ${timeoutMs / 1000} s of pairing ` +
        (side === "sender"
          ? "(someone claimed the nameplate and stalled, or the network broke); run punch send again"
          : "(the network broke, or this is not a punch sender); try again"),
    );
  });
}

/** Whether `error` says the claimant left before the key exchange, and the sender waits again. */
export function isUnpaired(error: unknown): boolean {
  return error instanceof RendezvousError && error.code === "unpaired";
}
