/**
 * The pairing bus the edge is written against: BroadcastChannel-shaped
 * channels and a nameplate registry, on a backend the platform chooses
 * (see `./bus/mod.ts`).
 *
 * @module
 */

export * from "./bus/mod.ts";
