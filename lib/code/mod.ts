/**
 * Codes like `4812-velvet-harbor`: the number is the public nameplate that the
 * rendezvous server allocates, the two words are the secret that feeds the
 * PAKE and never reaches the server.
 *
 * ```ts
 * import { generateCode, parseCode } from "./mod.ts";
 * const code = generateCode("4812"); // like "4812-velvet-harbor"
 * parseCode(" 4812 Velvet harb ").code; // "4812-velvet-harbor"
 * ```
 *
 * @module
 */

export * from "./phrase.ts";
export * from "./words.ts";
