// Streaming SHA-256 for the browser page, in place of _sha256.ts
// (web/build.ts): @noble/hashes, since a browser has no node:crypto and
// WebCrypto hashes nothing in pieces.

import { sha256 } from "@noble/hashes/sha2.js";
import type { Sha256 } from "./_sha256.ts";

export type { Sha256 } from "./_sha256.ts";

const ENCODER = new TextEncoder();

/** A fresh SHA-256. */
export function createSha256(): Sha256 {
  const hash = sha256.create();
  const self: Sha256 = {
    update(bytes) {
      hash.update(typeof bytes === "string" ? ENCODER.encode(bytes) : bytes);
      return self;
    },
    digest: () => hash.digest(),
  };
  return self;
}
