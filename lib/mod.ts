/**
 * punch's library: everything both programs (`cli/`, `edge/`) are built on,
 * importable by others as `@x/punch/lib`.
 *
 * - Code phrases: {@linkcode generateCode}, {@linkcode parseCode}.
 * - Crypto: {@linkcode startCPace}, {@linkcode deriveSessionKeys},
 *   {@linkcode RecordSealer}, {@linkcode RecordOpener}.
 * - Rendezvous: {@linkcode RendezvousClient} and the wire messages.
 * - Sessions: {@linkcode openSender}, {@linkcode openReceiver}.
 * - Transfer: {@linkcode scanPaths}, {@linkcode sendFiles},
 *   {@linkcode receiveFiles}.
 * - Discovery of an embedded rendezvous: {@linkcode announce},
 *   {@linkcode discover}.
 * - Direct paths: {@linkcode goDirect} (candidates, punching, moving a
 *   running transfer), built on {@linkcode Transit},
 *   {@linkcode MigratingChannel} and the socket primitives of `lib/net`
 *   ({@linkcode listenReusable}, {@linkcode dialFrom}, {@linkcode reflectFrom}).
 *
 * @example Send a file through a rendezvous
 * ```ts ignore
 * import { openSender, scanPaths, sendFiles } from "@x/punch/lib";
 *
 * const scan = await scanPaths(["report.pdf"]);
 * const session = await openSender("https://punch.example", { onCode: console.log });
 * await sendFiles(session.channel, scan);
 * await session.client.release("happy");
 * ```
 *
 * @module
 */

export * from "./code/mod.ts";
export * from "./crypto/mod.ts";
export * from "./discovery/mod.ts";
export * from "./link/channel.ts";
export * from "./link/frames.ts";
export * from "./link/framing.ts";
export * from "./link/migrating.ts";
export * from "./net/mod.ts";
export * from "./rendezvous/client.ts";
export {
  type ClientToServerMsg,
  decodeBase64,
  encodeBase64,
  type Mood,
  parseClientMessage,
  parseServerMessage,
  ProtocolError,
  type ServerErrorCode,
  type ServerToClientMsg,
} from "./rendezvous/messages.ts";
export * from "./session/direct.ts";
export * from "./session/fallback.ts";
export * from "./session/session.ts";
export * from "./transit/candidates.ts";
export * from "./transit/handshake.ts";
export * from "./transit/punch.ts";
export {
  type Manifest,
  type ManifestEntry,
  ManifestError,
  scanPaths,
  type ScanResult,
} from "./transfer/manifest.ts";
export * from "./transfer/messages.ts";
export { PathError } from "./transfer/paths.ts";
export * from "./transfer/receive.ts";
export * from "./transfer/send.ts";
