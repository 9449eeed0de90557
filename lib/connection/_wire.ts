// The control records of a connection and the version hello
// (docs/protocol/connection.md, "Control records" and "Hello").

import { PunchError } from "../errors.ts";

/** The protocol version this library speaks. */
export const PROTOCOL_VERSION = 2;

/** Control record types: the first byte of a control record's plaintext. */
export const CONTROL = Object.freeze({
  ACK: 0x01,
  BROKEN: 0x02,
  PING: 0x03,
  CANDIDATES: 0x04,
  FINAL: 0x05,
  PROBE: 0x06,
  ECHO: 0x07,
  GO: 0x08,
});

/** A decoded control record. */
export type Control =
  /** The count of the other side's messages this side has taken. */
  | { type: "ack"; taken: number }
  /** The direct carrier `carrier` is dead to this side. */
  | { type: "broken"; carrier: number }
  | { type: "ping" }
  /** Round `round` of the direct search: this side's candidates (JSON, transit/candidates.ts). */
  | { type: "candidates"; round: number; json: Uint8Array }
  /** Nothing more comes from this side on this carrier. */
  | { type: "final" }
  /** The sender times the relay for round `round`: answer with `echo` at once. */
  | { type: "probe"; round: number; id: number }
  /** The answer to `probe` `id`. */
  | { type: "echo"; round: number; id: number }
  /** The sender dials half a round trip after sending this: dial when it arrives. */
  | { type: "go"; round: number };

function protocol(detail: string): never {
  throw new PunchError("protocol", `Cannot read control record: ${detail}`);
}

/** Encodes a control record's plaintext. */
export function encodeControl(control: Control): Uint8Array {
  switch (control.type) {
    case "ack": {
      const out = new Uint8Array(9);
      out[0] = CONTROL.ACK;
      new DataView(out.buffer).setBigUint64(1, BigInt(control.taken));
      return out;
    }
    case "broken": {
      const out = new Uint8Array(5);
      out[0] = CONTROL.BROKEN;
      new DataView(out.buffer).setUint32(1, control.carrier);
      return out;
    }
    case "ping":
      return Uint8Array.of(CONTROL.PING);
    case "final":
      return Uint8Array.of(CONTROL.FINAL);
    case "probe":
    case "echo": {
      const out = new Uint8Array(9);
      out[0] = control.type === "probe" ? CONTROL.PROBE : CONTROL.ECHO;
      const view = new DataView(out.buffer);
      view.setUint32(1, control.round);
      view.setUint32(5, control.id);
      return out;
    }
    case "go": {
      const out = new Uint8Array(5);
      out[0] = CONTROL.GO;
      new DataView(out.buffer).setUint32(1, control.round);
      return out;
    }
    case "candidates": {
      const out = new Uint8Array(5 + control.json.length);
      out[0] = CONTROL.CANDIDATES;
      new DataView(out.buffer).setUint32(1, control.round);
      out.set(control.json, 5);
      return out;
    }
  }
}

/** The largest candidates body accepted: 32 addresses with room to spare. */
const MAX_CANDIDATES_BYTES = 4096;

/** Decodes a control record's plaintext; throws `PunchError("protocol")` on anything else. */
export function decodeControl(bytes: Uint8Array): Control {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = (n: number, name: string) => {
    if (bytes.length !== n) protocol(`${name} must be ${n} bytes, not ${bytes.length}`);
  };
  switch (bytes[0]) {
    case CONTROL.ACK: {
      length(9, "ack");
      const taken = view.getBigUint64(1);
      if (taken > BigInt(Number.MAX_SAFE_INTEGER)) protocol("ack count out of range");
      return { type: "ack", taken: Number(taken) };
    }
    case CONTROL.BROKEN:
      length(5, "broken");
      return { type: "broken", carrier: view.getUint32(1) };
    case CONTROL.PING:
      length(1, "ping");
      return { type: "ping" };
    case CONTROL.FINAL:
      length(1, "final");
      return { type: "final" };
    case CONTROL.PROBE:
    case CONTROL.ECHO:
      length(9, bytes[0] === CONTROL.PROBE ? "probe" : "echo");
      return {
        type: bytes[0] === CONTROL.PROBE ? "probe" : "echo",
        round: view.getUint32(1),
        id: view.getUint32(5),
      };
    case CONTROL.GO:
      length(5, "go");
      return { type: "go", round: view.getUint32(1) };
    case CONTROL.CANDIDATES:
      if (bytes.length < 5 || bytes.length > 5 + MAX_CANDIDATES_BYTES) {
        protocol(`candidates must be 5 to ${5 + MAX_CANDIDATES_BYTES} bytes`);
      }
      return { type: "candidates", round: view.getUint32(1), json: bytes.slice(5) };
    default:
      return protocol(
        bytes.length === 0 ? "empty" : `unknown type 0x${bytes[0]!.toString(16).padStart(2, "0")}`,
      );
  }
}

/**
 * The hello: the first relay record each side sends, sealed as a protocol 1
 * record so that a peer of version 1 can read it. Its plaintext is what
 * version 1 takes for an `error` message (type 0x08 and JSON), so such a
 * peer stops at once and shows the message, which names both versions.
 */
const HELLO_TYPE = 0x08;

/** The hello's plaintext. */
export function encodeHello(): Uint8Array {
  const body = JSON.stringify({
    error: "version",
    message: `the other side runs punch protocol ${PROTOCOL_VERSION}, this one an older one: ` +
      "update punch on both machines to the same version",
    version: PROTOCOL_VERSION,
  });
  const text = new TextEncoder().encode(body);
  const out = new Uint8Array(1 + text.length);
  out[0] = HELLO_TYPE;
  out.set(text, 1);
  return out;
}

/** What a peer's first relay record says of its version: a number, or `null` for no hello at all. */
export function decodeHello(plaintext: Uint8Array): number | null {
  if (plaintext[0] !== HELLO_TYPE) return null;
  try {
    const value = JSON.parse(new TextDecoder().decode(plaintext.subarray(1)));
    return Number.isSafeInteger(value?.version) ? value.version : null;
  } catch {
    return null;
  }
}

/** The error for a peer of another version (or one that never said). */
export function versionError(peer: number | null): PunchError {
  const theirs = peer === null ? "an older punch (protocol 1)" : `punch protocol ${peer}`;
  return new PunchError(
    "version",
    `The other side runs ${theirs} and this side protocol ${PROTOCOL_VERSION}: ` +
      "update punch on both machines to the same version",
  );
}
