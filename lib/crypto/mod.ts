/**
 * punch's cryptography: the CPace PAKE that turns a short code into a shared
 * key, the key schedule and key confirmation, and the ChaCha20-Poly1305
 * record layer that protects the transfer. The wire formats, purpose
 * strings and test vectors are in `docs/protocol/crypto.md`.
 *
 * @example Usage
 * ```ts
 * import { deriveSessionKeys, RecordOpener, RecordSealer, startCPace } from "./mod.ts";
 *
 * const encoder = new TextEncoder();
 * const options = {
 *   password: encoder.encode("4812-violet-harbor"),
 *   channelId: encoder.encode("punch/v1 4812"),
 *   sessionId: crypto.getRandomValues(new Uint8Array(16)),
 * };
 * const sender = startCPace("initiator", options);
 * const receiver = startCPace("responder", options);
 * const senderKeys = await deriveSessionKeys(sender.finish(receiver.message), "sender");
 * const receiverKeys = await deriveSessionKeys(receiver.finish(sender.message), "receiver");
 * if (!receiverKeys.verifyPeerConfirmation(senderKeys.confirmation)) throw new Error("wrong code");
 *
 * const frame = new RecordSealer(senderKeys.send).seal(encoder.encode("hi"));
 * new RecordOpener(receiverKeys.receive).open(frame); // "hi" as bytes
 * ```
 *
 * @module
 */

export * from "./cpace.ts";
export * from "./keys.ts";
export * from "./records.ts";
export * from "./timing_safe_equal.ts";
