// The receiver's first step, shared by receive.ts and the browser page
// (web/): the offer's pieces, parsed as they come. Nothing here touches a
// file system.

import type { Channel } from "../link/channel.ts";
import type { Manifest } from "./_manifest_check.ts";
import { ManifestDecoder } from "./_manifest_decoder.ts";
import { MAX_MANIFEST_BYTES } from "./defaults.ts";
import { OFFER_PIECE_BYTES, TransferError } from "./messages.ts";
import { peerError, receiveMessage } from "./send.ts";

/**
 * Reads the offer's pieces as they come and parses each at once, keeping
 * nothing of the manifest but its entries ({@linkcode ManifestDecoder}): a
 * hostile manifest is refused at the first piece that shows it, and costs
 * no more memory than its entries; the connection's window paces the
 * pieces, so a manifest of any size crosses.
 */
export async function receiveOffer(channel: Channel): Promise<Manifest> {
  const decoder = new ManifestDecoder();
  for (;;) {
    const msg = await receiveMessage(channel);
    if (msg.type === "error") {
      throw peerError(msg, "sender");
    }
    if (msg.type !== "offer") {
      throw new TransferError("protocol", `Expected offer, got ${msg.type}`);
    }
    if (msg.more && msg.piece.length !== OFFER_PIECE_BYTES) {
      throw new TransferError(
        "protocol",
        `An offer piece before the last holds ${msg.piece.length} bytes, not ${OFFER_PIECE_BYTES}`,
      );
    }
    if (decoder.size + msg.piece.length > MAX_MANIFEST_BYTES) {
      throw new TransferError(
        "bad_manifest",
        `Cannot accept offer: manifest exceeds ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    decoder.push(msg.piece);
    if (!msg.more) return decoder.finish();
  }
}
