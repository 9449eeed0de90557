/**
 * The path machine: which carrier a connection's messages take, and when
 * that changes. One table, {@linkcode PATH_TABLE}, the same as
 * docs/state-machines/path.md (drawn in path.dot); the connection feeds it
 * inputs and performs the outputs it names.
 *
 * @module
 */

/** A state of the path machine. */
export type PathState =
  | "pairing"
  | "searching"
  | "waiting"
  | "relay"
  | "direct"
  | "alone"
  | "closed";

/** Which carrier a connection is on: the public face of {@linkcode PathState}. */
export type Path = "pairing" | "relay" | "direct" | "closed";

/** What can happen to a connection's path. */
export type PathInput =
  | "confirmed"
  | "found"
  | "not_found"
  | "due"
  | "candidates"
  | "broken"
  | "peer_broken"
  | "relay_lost"
  | "fail"
  | "ended";

/** What the connection does on a transition. */
export type PathOutput =
  | "announce_relay"
  | "offer_none"
  | "start_round"
  | "use_direct"
  | "announce_direct"
  | "reset_backoff"
  | "announce_why"
  | "schedule_round"
  | "drop_direct"
  | "tell_broken"
  | "announce_fallback"
  | "fail_no_direct"
  | "fail"
  | "announce_closed";

/** What a guard may test. */
export interface PathFacts {
  /** `direct: "never"` on this side. */
  never: boolean;
  /** `direct: "only"` on this side. */
  only: boolean;
  /** A side takes no direct connection: no round can succeed (set with `not_found`). */
  final: boolean;
  /** This side is the receiver, which starts no rounds after the first. */
  receiver: boolean;
}

/** One row: taken when its guard (if any) holds. */
export interface PathRow {
  input: PathInput;
  guard?: keyof PathFacts;
  to: PathState;
  outputs: readonly PathOutput[];
}

const FALLBACK: readonly PathOutput[] = [
  "drop_direct",
  "tell_broken",
  "announce_fallback",
  "schedule_round",
];
const HELD: readonly PathOutput[] = ["drop_direct", "tell_broken", "start_round"];

/**
 * The transitions of each state, tried in order: the first row for the
 * input whose guard holds is taken. An input a state has no row for is
 * ignored.
 */
export const PATH_TABLE: Readonly<Record<PathState, readonly PathRow[]>> = {
  pairing: [
    { input: "confirmed", guard: "never", to: "relay", outputs: ["announce_relay", "offer_none"] },
    { input: "confirmed", to: "searching", outputs: ["announce_relay", "start_round"] },
  ],
  searching: [
    {
      input: "found",
      to: "direct",
      outputs: ["use_direct", "announce_direct", "reset_backoff"],
    },
    { input: "not_found", guard: "only", to: "closed", outputs: ["fail_no_direct"] },
    { input: "not_found", guard: "final", to: "relay", outputs: ["announce_why"] },
    { input: "not_found", guard: "receiver", to: "waiting", outputs: ["announce_why"] },
    { input: "not_found", to: "waiting", outputs: ["announce_why", "schedule_round"] },
    { input: "relay_lost", to: "closed", outputs: ["fail"] },
  ],
  waiting: [
    { input: "due", to: "searching", outputs: ["start_round"] },
    { input: "candidates", to: "searching", outputs: ["start_round"] },
    { input: "relay_lost", to: "closed", outputs: ["fail"] },
  ],
  relay: [{ input: "relay_lost", to: "closed", outputs: ["fail"] }],
  direct: [
    { input: "broken", guard: "only", to: "searching", outputs: HELD },
    { input: "broken", to: "waiting", outputs: FALLBACK },
    { input: "peer_broken", guard: "only", to: "searching", outputs: HELD },
    { input: "peer_broken", to: "waiting", outputs: FALLBACK },
    { input: "relay_lost", to: "alone", outputs: [] },
  ],
  alone: [{ input: "broken", to: "closed", outputs: ["fail"] }],
  closed: [],
};

/** Rows every state but `closed` has, after its own. */
const EVERY_STATE: readonly PathRow[] = [
  { input: "fail", to: "closed", outputs: ["fail"] },
  { input: "ended", to: "closed", outputs: ["announce_closed"] },
];

/** The carrier of each state. */
const CARRIER: Readonly<Record<PathState, Path>> = {
  pairing: "pairing",
  searching: "relay",
  waiting: "relay",
  relay: "relay",
  direct: "direct",
  alone: "direct",
  closed: "closed",
};

/** The public path of a state. */
export function pathOf(state: PathState): Path {
  return CARRIER[state];
}

/** The row `input` takes in `state` given `facts`, or `undefined` if it is ignored there. */
export function transition(
  state: PathState,
  input: PathInput,
  facts: PathFacts,
): PathRow | undefined {
  const rows = state === "closed" ? [] : [...PATH_TABLE[state], ...EVERY_STATE];
  return rows.find((row) => row.input === input && (row.guard === undefined || facts[row.guard]));
}
