import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  decodeManifest,
  encodeManifest,
  encodeManifestPieces,
  type Manifest,
  ManifestDecoder,
  type ManifestEntry,
  ManifestError,
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_ENTRIES,
} from "./manifest.ts";
import { MAX_MANIFEST_VALUES } from "./defaults.ts";
import { PathError } from "./paths.ts";

const ENCODER = new TextEncoder();

/** The manifest pinned in docs/protocol/transfer.md. */
const EXAMPLE: Manifest = {
  entries: [
    { path: "a", kind: "dir", size: 0, mode: 0o755 },
    { path: "a/é.txt", kind: "file", size: 5, mode: 0o644 },
  ],
  files: 1,
  bytes: 5,
};
const EXAMPLE_HEX = "7b22656e7472696573223a5b7b2270617468223a2261222c226b696e64223a22" +
  "646972222c2273697a65223a302c226d6f6465223a3439337d2c7b2270617468" +
  "223a22612fc3a92e747874222c226b696e64223a2266696c65222c2273697a65" +
  "223a352c226d6f6465223a3432307d5d2c2266696c6573223a312c2262797465" +
  "73223a357d";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function fromHex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!, (pair) => parseInt(pair, 16));
}

/** Decodes a manifest given as a JS value, encoded as JSON. */
function decodeValue(value: unknown): Manifest {
  return decodeManifest(ENCODER.encode(JSON.stringify(value)));
}

/** Asserts that decoding `value` throws `type` with `detail` in its message. */
function assertRefused(
  value: unknown,
  type: typeof ManifestError | typeof PathError,
  detail: string,
) {
  const bytes = value instanceof Uint8Array ? value : ENCODER.encode(JSON.stringify(value));
  throws(() => decodeManifest(bytes), (error: unknown) => {
    ok(error instanceof type, `expected ${type.name}, got ${error}`);
    ok(error.message.includes(detail), `${JSON.stringify(detail)} not in: ${error.message}`);
    return true;
  });
}

function file(path: string, size = 0, mode = 0o644): ManifestEntry {
  return { path, kind: "file", size, mode };
}

function dir(path: string, mode = 0o755): ManifestEntry {
  return { path, kind: "dir", size: 0, mode };
}

Deno.test("encodeManifest() writes the pinned bytes", () => {
  equal(hex(encodeManifest(EXAMPLE)), EXAMPLE_HEX);
  equal(
    new TextDecoder().decode(fromHex(EXAMPLE_HEX)),
    '{"entries":[{"path":"a","kind":"dir","size":0,"mode":493},' +
      '{"path":"a/é.txt","kind":"file","size":5,"mode":420}],"files":1,"bytes":5}',
  );
});

Deno.test("decodeManifest() reads the pinned bytes", () => {
  deepEqual(decodeManifest(fromHex(EXAMPLE_HEX)), EXAMPLE);
});

Deno.test("encodeManifest() and decodeManifest() round-trip a deep unicode tree", () => {
  const deep = Array.from({ length: 60 }, (_, i) => `уровень-${i}`).join("/");
  const manifest: Manifest = {
    entries: [
      dir("empty"),
      file(`${deep}/leaf.bin`, 2 ** 53 - 1 - 123_456, 0o755),
      dir("фото"),
      file("фото/日本.jpg", 123_456, 0o600),
      dir("фото/😀 party", 0o700),
      file("фото/😀 party/🎉.png", 0, 0o644),
    ],
    files: 3,
    bytes: 2 ** 53 - 1,
  };
  deepEqual(decodeManifest(encodeManifest(manifest)), manifest);
});

Deno.test("decodeManifest() keeps file modes like 0o755", () => {
  const manifest = decodeValue({ entries: [file("run.sh", 3, 0o755)], files: 1, bytes: 3 });
  equal(manifest.entries[0]!.mode, 0o755);
});

Deno.test("decodeManifest() keeps only permission bits of a mode", () => {
  const manifest = decodeValue({
    entries: [dir("sticky", 0o1777), file("suid", 0, 0o4755)],
    files: 1,
    bytes: 0,
  });
  deepEqual(manifest.entries.map((entry) => entry.mode), [0o777, 0o755]);
});

Deno.test("decodeManifest() accepts files whose parents are not listed", () => {
  const manifest = decodeValue({
    entries: [dir("x/w"), file("x/y/z.txt", 1)],
    files: 1,
    bytes: 1,
  });
  deepEqual(manifest.entries.map((entry) => entry.path), ["x/w", "x/y/z.txt"]);
});

Deno.test("decodeManifest() keeps the entries' order and drops unknown fields", () => {
  const manifest = decodeValue({
    version: 7,
    entries: [dir("a"), { ...file("a/b", 1), mtime: 5, tags: [{ x: [null, true] }] }],
    later: { nested: [1, -2.5e-3, "ü", false] },
    files: 1,
    bytes: 1,
  });
  deepEqual(manifest, { entries: [dir("a"), file("a/b", 1)], files: 1, bytes: 1 });
});

Deno.test("decodeManifest() accepts an empty directory alone", () => {
  deepEqual(decodeValue({ entries: [dir("empty")], files: 0, bytes: 0 }), {
    entries: [dir("empty")],
    files: 0,
    bytes: 0,
  });
});

Deno.test("decodeManifest() rejects bytes that are not UTF-8 JSON", () => {
  assertRefused(Uint8Array.of(0xff, 0xfe), ManifestError, "it is not UTF-8 JSON");
  assertRefused(ENCODER.encode('{"entries":'), ManifestError, "it is not UTF-8 JSON");
  assertRefused(
    Uint8Array.of(0xef, 0xbb, 0xbf, ...encodeManifest(EXAMPLE)),
    ManifestError,
    "it is not UTF-8 JSON",
  );
  assertRefused(new Uint8Array(0), ManifestError, "it is not UTF-8 JSON: it is empty");
  assertRefused(ENCODER.encode('{"entries":[]} x'), ManifestError, 'unexpected "x" at byte 15');
  assertRefused(ENCODER.encode('{"entries":[],}'), ManifestError, 'unexpected "}" at byte 14');
  assertRefused(ENCODER.encode('{"x":"\\u12"}'), ManifestError, 'unexpected """ at byte 10');
  assertRefused(ENCODER.encode('{"x":"a\tb	c"}'), ManifestError, "a control character");
  assertRefused(ENCODER.encode('{"x":01}'), ManifestError, 'unexpected "1" at byte 6');
  assertRefused(ENCODER.encode('{"x":-}'), ManifestError, 'unexpected "}" at byte 6');
  assertRefused(ENCODER.encode('{"x":1.}'), ManifestError, 'unexpected "}" at byte 7');
  assertRefused(ENCODER.encode('{"x":nul}'), ManifestError, 'unexpected "}" at byte 8');
  // Overlong "/", a UTF-16 surrogate, a stray continuation byte, past U+10FFFF: in a skipped string.
  for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80]]) {
    const bytes = Uint8Array.of(...ENCODER.encode('{"x":"'), ...bad, ...ENCODER.encode('"}'));
    assertRefused(bytes, ManifestError, "it is not valid UTF-8 at byte");
  }
});

Deno.test("decodeManifest() rejects a manifest of the wrong shape", () => {
  const cases: [unknown, string][] = [
    [null, "it is not a JSON object"],
    [[EXAMPLE], "it is not a JSON object"],
    ["[".repeat(100_000), "it is not a JSON object"],
    ["manifest", "it is not a JSON object"],
    [{ files: 0, bytes: 0 }, '"entries" is not an array'],
    [{ entries: {}, files: 0, bytes: 0 }, '"entries" is not an array'],
    [{ entries: [], files: 0, bytes: 0 }, "it has no entries"],
    [{ entries: [null], files: 0, bytes: 0 }, "entry 0 is not an object"],
    [{ entries: [{ kind: "dir", size: 0, mode: 0 }], files: 0, bytes: 0 }, 'no string "path"'],
    [{ entries: [{ ...dir("a"), kind: "link" }], files: 0, bytes: 0 }, '"kind" other than'],
    [{ entries: [{ ...file("a"), size: -1 }], files: 1, bytes: -1 }, '"size" that is not'],
    [{ entries: [{ ...file("a"), size: 1.5 }], files: 1, bytes: 1.5 }, '"size" that is not'],
    [{ entries: [{ ...file("a"), size: "1" }], files: 1, bytes: 1 }, '"size" that is not'],
    [{ entries: [{ ...file("a"), size: 2 ** 53 }], files: 1, bytes: 2 ** 53 }, '"size" that is'],
    [{ entries: [{ ...dir("a"), size: 4096 }], files: 0, bytes: 0 }, "directory with a"],
    [{ entries: [file("a", 0, 0o10000)], files: 1, bytes: 0 }, '"mode" that is not'],
    [{ entries: [file("a", 0, -1)], files: 1, bytes: 0 }, '"mode" that is not'],
    [{ entries: [{ ...file("a"), mode: "644" }], files: 1, bytes: 0 }, '"mode" that is not'],
    [{ entries: [{ path: "a", kind: "file", size: 0 }], files: 1, bytes: 0 }, '"mode" that is'],
  ];
  for (const [value, detail] of cases) assertRefused(value, ManifestError, detail);
});

Deno.test("decodeManifest() rejects totals that do not match the entries", () => {
  assertRefused({ entries: [file("a", 5)], files: 2, bytes: 5 }, ManifestError, '"files" is 2');
  assertRefused({ entries: [file("a", 5)], files: 1, bytes: 4 }, ManifestError, '"bytes" is 4');
  assertRefused({ entries: [file("a", 5)], bytes: 5 }, ManifestError, '"files" is undefined');
  assertRefused({ entries: [file("a", 5)], files: "1", bytes: 5 }, ManifestError, '"files" is');
  assertRefused(
    { entries: [file("a", 2 ** 52), file("b", 2 ** 52)], files: 2, bytes: 2 ** 53 },
    ManifestError,
    "more than 2^53-1 bytes",
  );
});

Deno.test("decodeManifest() rejects every hostile path", () => {
  for (
    const path of ["../evil", "/etc/passwd", "a/../../b", "C:\\x", "a//b", "a/", "nul", "x\u0000"]
  ) {
    assertRefused({ entries: [file(path)], files: 1, bytes: 0 }, PathError, "Cannot accept path");
  }
  assertRefused({ entries: [file(42 as never)], files: 1, bytes: 0 }, ManifestError, "path");
});

Deno.test("decodeManifest() rejects a path listed twice", () => {
  assertRefused({ entries: [file("a"), file("a")], files: 2, bytes: 0 }, ManifestError, "twice");
  assertRefused({ entries: [dir("a"), file("a")], files: 1, bytes: 0 }, ManifestError, "twice");
  assertRefused(
    { entries: [dir("x"), file("x/b"), dir("x/c"), dir("x")], files: 1, bytes: 0 },
    ManifestError,
    'entry 3 ("x") comes after "x/c": entries must be sorted by path',
  );
});

Deno.test("decodeManifest() requires entries sorted by path, component by component", () => {
  // "/" sorts first: "a/b" before "a.txt", and "a b" before "a/" would be wrong.
  const sorted = [dir("a"), file("a/b"), file("a b"), file("a.txt"), dir("b"), file("b/é")];
  equal(decodeValue({ entries: sorted, files: 4, bytes: 0 }).entries.length, 6);
  for (
    const [entries, detail] of [
      [[file("b"), file("a")], 'entry 1 ("a") comes after "b"'],
      [[file("a.txt"), file("a/b")], 'entry 1 ("a/b") comes after "a.txt"'],
      [[file("a b"), file("a/b")], 'entry 1 ("a/b") comes after "a b"'],
    ] as const
  ) {
    assertRefused({ entries, files: 2, bytes: 0 }, ManifestError, detail);
  }
});

Deno.test("decodeManifest() rejects an entry beneath a file", () => {
  for (const entries of [[file("a"), file("a/b")], [file("a"), dir("a/b/c"), file("a.txt")]]) {
    assertRefused(
      { entries, files: entries.filter((e) => e.kind === "file").length, bytes: 0 },
      ManifestError,
      'beneath "a", which is a file',
    );
  }
  assertRefused(
    { entries: [file("p/q"), dir("p/q/r/s")], files: 1, bytes: 0 },
    ManifestError,
    '"p/q/r/s" lies beneath "p/q", which is a file',
  );
  // Only a "/" makes a child: "a.txt", "a-b" and "a b" sit beside a file "a".
  const beside = [file("a"), file("a b"), file("a-b"), file("a.txt"), dir("a0/x")];
  equal(decodeValue({ entries: beside, files: 4, bytes: 0 }).entries.length, 5);
});

Deno.test("decodeManifest() enforces its limits", () => {
  equal(MAX_MANIFEST_ENTRIES, 1_000_000);
  equal(MAX_MANIFEST_BYTES, 64 * 1024 * 1024);
  assertRefused(new Uint8Array(MAX_MANIFEST_BYTES + 1), ManifestError, "more than the 67108864");
  // 1001 directories of 999 files: 1,001,001 entries in 52 MB.
  const entries = [];
  for (let d = 0; d <= 1000; d++) {
    entries.push(`{"path":"${d}","kind":"dir","size":0,"mode":0}`);
    for (let f = 0; f < 999; f++) {
      entries.push(`{"path":"${d}/${f}","kind":"dir","size":0,"mode":0}`);
    }
  }
  entries.sort(); // "/" sorts first in these names, so a plain sort sorts them by component.
  assertRefused(
    ENCODER.encode(`{"entries":[${entries.join(",")}],"files":0,"bytes":0}`),
    ManifestError,
    "it lists more than the 1000000 entries allowed",
  );
});

Deno.test("decodeManifest() checks a large hostile manifest quickly", () => {
  // 16,000 paths of 4,000 bytes and 2,000 components each: about 64 MB of paths.
  const tail = "/a".repeat(1995);
  const entries = Array.from(
    { length: 16_000 },
    (_, i) => file(`${i + 10_000}${tail}`.slice(0, 4000)),
  );
  const bytes = ENCODER.encode(JSON.stringify({ entries, files: entries.length, bytes: 0 }));
  ok(bytes.length < MAX_MANIFEST_BYTES);
  const start = performance.now();
  equal(decodeManifest(bytes).entries.length, 16_000);
  const elapsed = performance.now() - start;
  ok(elapsed < 10_000, `took ${elapsed} ms`);
});

Deno.test("encodeManifest() refuses what decodeManifest() would refuse", () => {
  throws(
    () => encodeManifest({ entries: [file("a"), file("a")], files: 2, bytes: 0 }),
    ManifestError,
  );
  throws(
    () => encodeManifest({ entries: [file("../a")], files: 1, bytes: 0 }),
    PathError,
  );
  throws(() => encodeManifest({ entries: [], files: 0, bytes: 0 }), /Cannot encode manifest/);
});

Deno.test("encodeManifest() writes only the known fields and permission bits", () => {
  const extra = { ...file("a", 1, 0o4755), source: "/secret/a" };
  equal(
    new TextDecoder().decode(encodeManifest({ entries: [extra], files: 1, bytes: 1 })),
    '{"entries":[{"path":"a","kind":"file","size":1,"mode":493}],"files":1,"bytes":1}',
  );
});

Deno.test("encodeManifest() refuses a manifest a receiver would find too large", () => {
  const tail = "/a".repeat(1995);
  const entries = Array.from(
    { length: 17_000 },
    (_, i) => file(`${i + 10_000}${tail}`.slice(0, 4000)),
  );
  throws(
    () => encodeManifest({ entries, files: entries.length, bytes: 0 }),
    (error: unknown) => {
      ok(error instanceof ManifestError);
      ok(error.message.startsWith("Cannot encode manifest: it takes 68"), error.message);
      ok(error.message.endsWith("a receiver accepts; send fewer files at a time"));
      return true;
    },
  );
});

Deno.test("ManifestDecoder reads a manifest cut anywhere, even one byte at a time", () => {
  const manifest: Manifest = {
    entries: [dir("фото"), file('фото/q"uote', 3), file("фото/日本 😀.jpg", 12, 0o600)],
    files: 2,
    bytes: 15,
  };
  const bytes = encodeManifest(manifest);
  for (const step of [1, 2, 3, 7, 64]) {
    const decoder = new ManifestDecoder();
    for (let at = 0; at < bytes.length; at += step) decoder.push(bytes.subarray(at, at + step));
    deepEqual(decoder.finish(), manifest, `pieces of ${step}`);
  }
  // encodeManifestPieces() cuts where it must, UTF-8 sequences included.
  const pieces = [...encodeManifestPieces(manifest, { pieceBytes: 5 })];
  ok(pieces.slice(0, -1).every((piece) => piece.length === 5));
  deepEqual(decodeManifest(Uint8Array.from(pieces.flatMap((piece) => [...piece]))), manifest);
});

Deno.test("decodeManifest() reads escapes as JSON does, and checks what they spell", () => {
  const text = '{"entries":[{"\\u0070ath":"a\\u002fb\\ud83d\\ude00","kind":"fi\\u006ce",' +
    '"size":0,"mode":420}],"files":1,"bytes":0}';
  deepEqual(decodeManifest(ENCODER.encode(text)).entries, [file("a/b😀")]);
  assertRefused(
    ENCODER.encode(text.replace("\\ude00", "")),
    PathError,
    "it is not valid Unicode",
  );
});

Deno.test("decodeManifest() takes integers written as plain digits only, and each known key once", () => {
  const entry = (size: string) =>
    ENCODER.encode(
      `{"entries":[{"path":"a","kind":"file","size":${size},"mode":420}],"files":1,"bytes":0}`,
    );
  for (const size of ["-0", "0.0", "0e0", "00", "1E2", "9007199254740992", "12345678901234567"]) {
    assertRefused(entry(size), ManifestError, 'entry 0 has a "size" that is not an integer');
  }
  assertRefused(
    ENCODER.encode('{"entries":[],"entries":[],"files":0,"bytes":0}'),
    ManifestError,
    'it has the key "entries" twice',
  );
  assertRefused(
    ENCODER.encode('{"entries":[{"path":"a","path":"b"}],"files":0,"bytes":0}'),
    ManifestError,
    'entry 0 has the key "path" twice',
  );
});

Deno.test("decodeManifest() skips unknown fields, keeping none of them, within its depth and value limits", () => {
  const honest = '"entries":[{"path":"a","kind":"file","size":0,"mode":420}],"files":1,"bytes":0';
  const with_ = (junk: string) => ENCODER.encode(`{"junk":${junk},${honest}}`);
  // 8 MiB of one string, an object 30 levels deep: skipped.
  deepEqual(decodeManifest(with_(`"${"x".repeat(8 * 1024 * 1024)}"`)).entries, [file("a")]);
  deepEqual(decodeManifest(with_(`${'{"a":'.repeat(30)}null${"}".repeat(30)}`)).entries, [
    file("a"),
  ]);
  assertRefused(
    with_(`${"[".repeat(32)}${"]".repeat(32)}`),
    ManifestError,
    "it nests deeper than the 32 levels allowed",
  );
  assertRefused(
    with_(`[${"0,".repeat(MAX_MANIFEST_VALUES)}0]`),
    ManifestError,
    `it holds more than the ${MAX_MANIFEST_VALUES} JSON values allowed`,
  );
});

/** A stream of stdin, as `punch send -` offers it (pinned in docs/protocol/transfer.md). */
const STREAM: Manifest = {
  entries: [{ path: "stdin", kind: "stream", size: 0, mode: 0o644 }],
  files: 1,
  bytes: 0,
};
const STREAM_HEX = "7b22656e7472696573223a5b7b2270617468223a22737464696e222c226b696e64" +
  "223a2273747265616d222c2273697a65223a302c226d6f6465223a3432307d5d2c" +
  "2266696c6573223a312c226279746573223a307d";
/** Two bytes of text, as `punch send --text hi` offers them. */
const TEXT: Manifest = {
  entries: [{ path: "text.txt", kind: "text", size: 2, mode: 0o644 }],
  files: 1,
  bytes: 2,
};
const TEXT_HEX = "7b22656e7472696573223a5b7b2270617468223a22746578742e747874222c226b" +
  "696e64223a2274657874222c2273697a65223a322c226d6f6465223a3432307d5d" +
  "2c2266696c6573223a312c226279746573223a327d";

Deno.test("encodeManifest() writes the pinned bytes of a stream and of text", () => {
  equal(hex(encodeManifest(STREAM)), STREAM_HEX);
  equal(hex(encodeManifest(TEXT)), TEXT_HEX);
  deepEqual(decodeManifest(fromHex(STREAM_HEX)), STREAM);
  deepEqual(decodeManifest(fromHex(TEXT_HEX)), TEXT);
});

Deno.test("decodeManifest() takes a stream or text entry only alone, at the top, a stream of size 0", () => {
  const stream = STREAM.entries[0]!;
  const text = TEXT.entries[0]!;
  assertRefused(
    { entries: [stream, file("z")], files: 2, bytes: 0 },
    ManifestError,
    "must be alone",
  );
  assertRefused(
    { entries: [file("a"), text], files: 2, bytes: 2 },
    ManifestError,
    "must be alone",
  );
  assertRefused(
    { entries: [dir("a"), { ...stream, path: "a/stdin" }], files: 1, bytes: 0 },
    ManifestError,
    "must be alone",
  );
  assertRefused(
    { entries: [{ ...text, path: "a/b" }], files: 1, bytes: 2 },
    ManifestError,
    'with a "/" in its path',
  );
  assertRefused(
    { entries: [{ ...stream, size: 5 }], files: 1, bytes: 5 },
    ManifestError,
    'is a stream with a "size" other than 0',
  );
  assertRefused(
    { entries: [{ ...stream, kind: "fifo" }], files: 1, bytes: 0 },
    ManifestError,
    'a "kind" other than "file", "dir", "stream" or "text"',
  );
  throws(
    () => encodeManifest({ ...STREAM, entries: [stream, file("z")], files: 2 }),
    ManifestError,
  );
});
