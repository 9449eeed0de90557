// A peer of protocol 1, as far as the version check goes: it pairs and runs
// the key exchange like any version, then does what a version 1 side did
// next on the relay — the sender sends its offer, the receiver reads the
// first record as a transfer message.

import { generateCode, parseCode } from "../../code/phrase.ts";
import { RecordOpener, RecordSealer } from "../../crypto/records.ts";
import { RendezvousClient } from "../../rendezvous/client.ts";
import { handshake } from "../_handshake.ts";

/** A version 1 sender: allocates, and once paired sends a version 1 offer record. */
export async function v1Sender(server: string): Promise<{ code: string; done: Promise<void> }> {
  const client = await RendezvousClient.connect(server);
  const code = parseCode(generateCode(await client.allocate()));
  const done = (async () => {
    const { mailbox } = await client.paired();
    const keys = await handshake(client, "sender", code, mailbox);
    const writer = client.frames().writable.getWriter();
    const offer = new TextEncoder().encode('\x01\x00{"entries":[]}');
    await writer.write(new RecordSealer(keys.send).seal(offer));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await client.release("errory");
  })();
  return { code: code.code, done };
}

/** A version 1 receiver: claims, and reads the first relay record as a transfer message. */
export async function v1Receiver(
  server: string,
  code: string,
): Promise<{ error: string; message: string }> {
  const parsed = parseCode(code);
  const client = await RendezvousClient.connect(server);
  const { mailbox } = await client.claim(parsed.nameplate);
  const keys = await handshake(client, "receiver", parsed, mailbox);
  const { value } = await client.frames().readable.getReader().read();
  const plaintext = new RecordOpener(keys.receive).open(value!)!;
  await client.release("errory");
  if (plaintext[0] !== 0x08) throw new Error(`Expected an error message, got type ${plaintext[0]}`);
  return JSON.parse(new TextDecoder().decode(plaintext.subarray(1)));
}
