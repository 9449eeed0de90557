/**
 * punch's library, `@x/punch/lib`: a connection to the holder of a code —
 * paired through a rendezvous, keyed by CPace, on the relay at once and on
 * a direct path as soon as one is found, back and forth as the network
 * needs — and the file transfer that runs over it. docs/api.md lists every
 * name exported here, one line each.
 *
 * @example Send a file: direct when a path is found, the relay meanwhile and after a break
 * ```ts ignore
 * import { openSender, scanPaths, sendFiles } from "@x/punch/lib";
 *
 * await using connection = await openSender("https://punch.example");
 * console.log(`On the other machine: punch receive ${connection.code}`);
 * await sendFiles(connection, await scanPaths(["report.pdf"]));
 * ```
 *
 * @example Receive it
 * ```ts ignore
 * import { openReceiver, receiveFiles } from "@x/punch/lib";
 *
 * await using connection = await openReceiver("https://punch.example", "4812-velvet-harbor");
 * await receiveFiles(connection, { out: "." });
 * ```
 *
 * @module
 */

export { openReceiver, openSender } from "./connection/open.ts";
export type { OpenReceiverOptions, OpenSenderOptions } from "./connection/open.ts";
export type { Connection, ConnectionEvent } from "./connection/types.ts";
export type { Path } from "./connection/path.ts";
export { PROTOCOL_VERSION } from "./connection/_wire.ts";
export type { Side } from "./crypto/keys.ts";
export { sendFiles } from "./transfer/send.ts";
export type { Progress, Resumed, SendOptions, SendResult } from "./transfer/send.ts";
export { receiveFiles } from "./transfer/receive.ts";
export type { ReceiveOptions, ReceiveResult } from "./transfer/receive.ts";
export { scanPaths } from "./transfer/manifest.ts";
export type { Manifest, ManifestEntry, ScanResult } from "./transfer/manifest.ts";
export { offerStream, offerText } from "./transfer/content.ts";
export type { ContentOptions } from "./transfer/content.ts";
export { PunchError } from "./errors.ts";
export type { ErrorKind } from "./errors.ts";
export { parseCode } from "./code/phrase.ts";
export type { Code } from "./code/phrase.ts";
