import { deepEqual, ok } from "node:assert/strict";
import { WORDS } from "./words.ts";

Deno.test("WORDS holds the 2048 words of the BIP-39 English list", async () => {
  deepEqual(WORDS.length, 2048);
  deepEqual(WORDS[0], "abandon");
  deepEqual(WORDS[2047], "zoo");
  const text = new TextEncoder().encode(WORDS.join("\n") + "\n");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", text));
  deepEqual(
    Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join(""),
    "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda",
  );
});

Deno.test("WORDS are unique, sorted, lowercase and unique in their first 4 letters", () => {
  deepEqual(new Set(WORDS).size, WORDS.length);
  deepEqual(new Set(WORDS.map((word) => word.slice(0, 4))).size, WORDS.length);
  deepEqual([...WORDS].sort(), [...WORDS]);
  for (const word of WORDS) ok(/^[a-z]{3,8}$/.test(word), word);
});

Deno.test("WORDS cannot be changed", () => {
  ok(Object.isFrozen(WORDS));
});
