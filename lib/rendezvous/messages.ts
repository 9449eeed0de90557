/**
 * Rendezvous wire messages, shared by the edge and the client.
 *
 * Protocol flow (see docs/protocol/rendezvous.md):
 * - Each side opens a WebSocket to `/v1/ws`; the server greets it with
 *   `welcome {address}`, its public ip:port as seen.
 * - The sender sends `allocate` and gets `allocated {nameplate}`.
 * - The receiver sends `claim {nameplate}`; both get `paired {side, mailbox}`.
 *   A receiver that leaves before adding anything sends its sender back to
 *   waiting: `unpaired`, then `paired` again with a new mailbox.
 * - Each `add {phase, body}` reaches the other side as `message {phase, body}`;
 *   binary frames are relayed verbatim to the other side.
 * - `release {mood}` or a closed socket tells the other side `peer_gone`.
 *
 * @module
 */

/** How a side felt when it left; the server passes it on and counts it. */
export type Mood = "happy" | "lonely" | "scary" | "errory";

/** Which end of a transfer a connection is. */
export type Side = "sender" | "receiver";

/** Error codes the server sends in `error` messages. */
export type ServerErrorCode =
  | "bad_message"
  | "too_large"
  | "unknown_nameplate"
  | "nameplate_claimed"
  | "nameplate_taken"
  | "no_nameplates"
  | "not_paired"
  | "unexpected"
  | "idle_timeout"
  | "expired"
  | "flow_control"
  | "rate_limited"
  | "server_busy";

/** Messages a client sends to the rendezvous server. */
export type ClientToServerMsg =
  | { type: "allocate"; nameplate?: string }
  | { type: "claim"; nameplate: string }
  | { type: "add"; phase: string; body: string }
  | { type: "release"; mood: Mood }
  | { type: "ping"; id: number };

/** Messages the rendezvous server sends to a client. */
export type ServerToClientMsg =
  | { type: "welcome"; version: 1; address: string }
  | { type: "allocated"; nameplate: string }
  | { type: "paired"; side: Side; mailbox: string }
  | { type: "unpaired" }
  | { type: "message"; phase: string; body: string }
  | { type: "peer_gone"; mood: Mood }
  | { type: "pong"; id: number }
  | { type: "error"; error: ServerErrorCode; message: string };

/** Largest text message either side may send, in UTF-16 code units. */
export const MAX_TEXT_MESSAGE_CHARS = 64 * 1024;

/**
 * Largest binary WebSocket message the relay passes on. Records (up to
 * 1 MiB) are cut into messages of this size: a relayed GiB took about 10 %
 * less time in 256 KiB messages than in 64 KiB ones (fewer sends through the
 * relay), and 1 MiB messages gained nothing more.
 */
export const MAX_BINARY_FRAME_BYTES = 256 * 1024;

const NAMEPLATE_RE = /^[0-9]{1,8}$/;
const PHASE_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const MOODS: ReadonlySet<string> = new Set(["happy", "lonely", "scary", "errory"]);

/** A message that breaks the rendezvous protocol. */
export class ProtocolError extends Error {
  /** The code to report to the offender. */
  readonly code: ServerErrorCode;
  constructor(code: ServerErrorCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

function fail(message: string): never {
  throw new ProtocolError("bad_message", `Cannot accept message: ${message}`);
}

function object(text: string): Record<string, unknown> {
  if (text.length > MAX_TEXT_MESSAGE_CHARS) {
    throw new ProtocolError(
      "too_large",
      `Cannot accept message: ${text.length} characters exceeds ${MAX_TEXT_MESSAGE_CHARS}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail("not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("not a JSON object");
  }
  return value as Record<string, unknown>;
}

function only(msg: Record<string, unknown>, keys: string[]): void {
  for (const key of Object.keys(msg)) {
    if (!keys.includes(key)) fail(`unknown field "${key}" in "${String(msg.type)}"`);
  }
}

function nameplate(value: unknown): string {
  if (typeof value !== "string" || !NAMEPLATE_RE.test(value)) {
    fail("nameplate must be 1 to 8 decimal digits");
  }
  return value;
}

function phase(value: unknown): string {
  if (typeof value !== "string" || !PHASE_RE.test(value)) {
    fail("phase must match [a-z][a-z0-9_-]{0,31}");
  }
  return value;
}

function body(value: unknown): string {
  if (typeof value !== "string" || value.length % 4 !== 0 || !BASE64_RE.test(value)) {
    fail("body must be padded base64");
  }
  return value;
}

/** Parses and validates one text message from a client; throws {@linkcode ProtocolError}. */
export function parseClientMessage(text: string): ClientToServerMsg {
  const msg = object(text);
  switch (msg.type) {
    case "allocate":
      only(msg, ["type", "nameplate"]);
      return msg.nameplate === undefined
        ? { type: "allocate" }
        : { type: "allocate", nameplate: nameplate(msg.nameplate) };
    case "claim":
      only(msg, ["type", "nameplate"]);
      return { type: "claim", nameplate: nameplate(msg.nameplate) };
    case "add":
      only(msg, ["type", "phase", "body"]);
      return { type: "add", phase: phase(msg.phase), body: body(msg.body) };
    case "release":
      only(msg, ["type", "mood"]);
      if (typeof msg.mood !== "string" || !MOODS.has(msg.mood)) fail("unknown mood");
      return { type: "release", mood: msg.mood as Mood };
    case "ping":
      only(msg, ["type", "id"]);
      if (!Number.isSafeInteger(msg.id)) fail("ping id must be an integer");
      return { type: "ping", id: msg.id as number };
    default:
      return fail(`unknown type ${JSON.stringify(msg.type)}`);
  }
}

/**
 * Parses one text message from the server. The client trusts the server for
 * availability only, so this checks shape, not policy.
 */
export function parseServerMessage(text: string): ServerToClientMsg {
  const msg = object(text);
  const str = (key: string): string => {
    const value = msg[key];
    if (typeof value !== "string") fail(`"${key}" must be a string in "${String(msg.type)}"`);
    return value;
  };
  switch (msg.type) {
    case "welcome":
      return { type: "welcome", version: 1, address: str("address") };
    case "allocated":
      return { type: "allocated", nameplate: nameplate(msg.nameplate) };
    case "paired": {
      const side = str("side");
      if (side !== "sender" && side !== "receiver") fail("side must be sender or receiver");
      return { type: "paired", side, mailbox: str("mailbox") };
    }
    case "unpaired":
      return { type: "unpaired" };
    case "message":
      return { type: "message", phase: phase(msg.phase), body: body(msg.body) };
    case "peer_gone": {
      const mood = str("mood");
      return { type: "peer_gone", mood: MOODS.has(mood) ? mood as Mood : "errory" };
    }
    case "pong":
      return { type: "pong", id: Number(msg.id) };
    case "error":
      return { type: "error", error: str("error") as ServerErrorCode, message: str("message") };
    default:
      return fail(`unknown type ${JSON.stringify(msg.type)}`);
  }
}

/** Encodes bytes as standard padded base64. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Decodes standard padded base64. */
export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
