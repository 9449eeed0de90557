// Discovery datagrams: encoding and strict decoding. The byte layout is in
// docs/protocol/discovery.md and pinned by _message_test.ts.

import { MAX_MESSAGE_BYTES } from "./constants.ts";
import { parseIpv4 } from "./_ipv4.ts";

/** First four bytes of every datagram: ASCII "PNCH". */
export const MAGIC: readonly number[] = [0x50, 0x4e, 0x43, 0x48];
/** Protocol version; a datagram with another version is ignored. */
export const VERSION = 1;
/** Kind byte of a query: ASCII "Q". */
export const KIND_QUERY = 0x51;
/** Kind byte of an answer: ASCII "A". */
export const KIND_ANSWER = 0x41;
/** Length of the random query id. */
export const QUERY_ID_BYTES = 16;
/** Length of the random id an announcer picks for itself. */
export const SERVER_ID_BYTES = 8;
/** A nameplate on the wire: as in rendezvous, 1 to 8 decimal digits. */
export const NAMEPLATE_RE = /^[0-9]{1,8}$/;

const HEADER_BYTES = MAGIC.length + 2 + QUERY_ID_BYTES;
const MAX_HOST_BYTES = 15;

/** Asker to group: "who holds this nameplate?" */
export interface Query {
  kind: "query";
  queryId: Uint8Array;
  nameplate: string;
}

/** Announcer to asker: "I do; my server is at host:port". */
export interface Answer {
  kind: "answer";
  queryId: Uint8Array;
  nameplate: string;
  /** The embedded server's HTTP port. */
  port: number;
  /** Random per announcer, so one server reached by several paths is listed once. */
  serverId: Uint8Array;
  /** Dotted-quad IPv4 host to connect to, or `""` for the answer's source address. */
  host: string;
}

/** Encodes a query. */
export function encodeQuery(query: Omit<Query, "kind">): Uint8Array {
  return encode(KIND_QUERY, query.queryId, query.nameplate, []);
}

/** Encodes an answer. */
export function encodeAnswer(answer: Omit<Answer, "kind">): Uint8Array {
  if (!Number.isInteger(answer.port) || answer.port < 1 || answer.port > 65535) {
    throw new RangeError(`Cannot encode answer: port ${answer.port} is not in 1..65535`);
  }
  if (answer.serverId.length !== SERVER_ID_BYTES) {
    throw new RangeError(`Cannot encode answer: server id must be ${SERVER_ID_BYTES} bytes`);
  }
  if (answer.host !== "" && parseIpv4(answer.host) === undefined) {
    throw new TypeError(`Cannot encode answer: host "${answer.host}" is not an IPv4 address`);
  }
  const host = new TextEncoder().encode(answer.host);
  return encode(KIND_ANSWER, answer.queryId, answer.nameplate, [
    answer.port >> 8,
    answer.port & 0xff,
    ...answer.serverId,
    host.length,
    ...host,
  ]);
}

function encode(
  kind: number,
  queryId: Uint8Array,
  nameplate: string,
  tail: readonly number[],
): Uint8Array {
  if (queryId.length !== QUERY_ID_BYTES) {
    throw new RangeError(`Cannot encode message: query id must be ${QUERY_ID_BYTES} bytes`);
  }
  if (!NAMEPLATE_RE.test(nameplate)) {
    throw new TypeError(`Cannot encode message: nameplate "${nameplate}" is not 1 to 8 digits`);
  }
  const plate = new TextEncoder().encode(nameplate);
  return Uint8Array.from([
    ...MAGIC,
    VERSION,
    kind,
    ...queryId,
    plate.length,
    ...plate,
    ...tail,
  ]);
}

/**
 * Decodes a datagram, or returns `undefined` for anything that is not
 * exactly a well-formed message of this version: such datagrams are ignored.
 */
export function decodeMessage(bytes: Uint8Array): Query | Answer | undefined {
  if (bytes.length < HEADER_BYTES + 2 || bytes.length > MAX_MESSAGE_BYTES) return undefined;
  if (MAGIC.some((byte, i) => bytes[i] !== byte) || bytes[4] !== VERSION) return undefined;
  const kind = bytes[5];
  const queryId = bytes.slice(6, HEADER_BYTES);
  const plateLength = bytes[HEADER_BYTES] ?? 0;
  let at = HEADER_BYTES + 1;
  const nameplate = ascii(bytes.subarray(at, at + plateLength));
  at += plateLength;
  if (nameplate === undefined || !NAMEPLATE_RE.test(nameplate)) return undefined;
  if (kind === KIND_QUERY) {
    return at === bytes.length ? { kind: "query", queryId, nameplate } : undefined;
  }
  if (kind !== KIND_ANSWER || bytes.length < at + 2 + SERVER_ID_BYTES + 1) return undefined;
  const port = ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
  at += 2;
  const serverId = bytes.slice(at, at + SERVER_ID_BYTES);
  at += SERVER_ID_BYTES;
  const hostLength = bytes[at] ?? 0;
  at += 1;
  if (port === 0 || hostLength > MAX_HOST_BYTES || at + hostLength !== bytes.length) {
    return undefined;
  }
  const host = ascii(bytes.subarray(at));
  if (host === undefined || (host !== "" && parseIpv4(host) === undefined)) return undefined;
  return { kind: "answer", queryId, nameplate, port, serverId, host };
}

function ascii(bytes: Uint8Array): string | undefined {
  if (bytes.some((byte) => byte < 0x20 || byte > 0x7e)) return undefined;
  return String.fromCharCode(...bytes);
}
