import { equal } from "node:assert/strict";
import { bytesToHex } from "@noble/hashes/utils.js";
import { createSha256 } from "./_sha256.ts";
import { createSha256 as webSha256 } from "./_sha256_web.ts";

const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

for (const [name, make] of [["node:crypto", createSha256], ["@noble/hashes", webSha256]] as const) {
  Deno.test(`createSha256() (${name}) gives FIPS 180-2's digests, fed whole or in pieces`, () => {
    equal(bytesToHex(make().digest()), EMPTY);
    equal(bytesToHex(make().update("abc").digest()), ABC);
    equal(bytesToHex(make().update("a").update(new TextEncoder().encode("bc")).digest()), ABC);
  });
}
