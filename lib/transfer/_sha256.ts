// Streaming SHA-256 for resuming (resume.ts): node:crypto, several times
// faster than JavaScript on the gigabytes a resume may hash. The browser
// page's bundle puts _sha256_web.ts in its place (web/build.ts).

import { createHash } from "node:crypto";

/** SHA-256 fed in pieces. */
export interface Sha256 {
  update(bytes: Uint8Array | string): Sha256;
  digest(): Uint8Array;
}

/** A fresh SHA-256. */
export function createSha256(): Sha256 {
  const hash = createHash("sha256");
  const self: Sha256 = {
    update(bytes) {
      hash.update(bytes);
      return self;
    },
    digest: () => new Uint8Array(hash.digest()),
  };
  return self;
}
