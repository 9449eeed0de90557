import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  decodeManifest,
  encodeManifest,
  type Manifest,
  type ManifestEntry,
  ManifestError,
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_ENTRIES,
} from "./manifest.ts";
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
      dir("фото"),
      file("фото/日本.jpg", 123_456, 0o600),
      dir("фото/😀 party", 0o700),
      file("фото/😀 party/🎉.png", 0, 0o644),
      dir("empty"),
      file(`${deep}/leaf.bin`, 2 ** 53 - 1 - 123_456, 0o755),
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
    entries: [file("suid", 0, 0o4755), dir("sticky", 0o1777)],
    files: 1,
    bytes: 0,
  });
  deepEqual(manifest.entries.map((entry) => entry.mode), [0o755, 0o777]);
});

Deno.test("decodeManifest() accepts files whose parents are not listed", () => {
  const manifest = decodeValue({
    entries: [file("x/y/z.txt", 1), dir("x/w")],
    files: 1,
    bytes: 1,
  });
  deepEqual(manifest.entries.map((entry) => entry.path), ["x/y/z.txt", "x/w"]);
});

Deno.test("decodeManifest() keeps the entries' order and drops unknown fields", () => {
  const manifest = decodeValue({
    version: 7,
    entries: [{ ...file("b", 1), mtime: 5 }, dir("a")],
    files: 1,
    bytes: 1,
  });
  deepEqual(manifest, { entries: [file("b", 1), dir("a")], files: 1, bytes: 1 });
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
  assertRefused(new Uint8Array(0), ManifestError, "it is not UTF-8 JSON");
  assertRefused(ENCODER.encode("[".repeat(100_000)), ManifestError, "it is not UTF-8 JSON");
});

Deno.test("decodeManifest() rejects a manifest of the wrong shape", () => {
  const cases: [unknown, string][] = [
    [null, "it is not a JSON object"],
    [[EXAMPLE], "it is not a JSON object"],
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
    '"x" is listed twice',
  );
});

Deno.test("decodeManifest() rejects an entry beneath a file", () => {
  for (const entries of [[file("a"), file("a/b")], [dir("a/b/c"), file("a"), file("a.txt")]]) {
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
  const beside = [file("a"), file("a.txt"), file("a-b"), file("a b"), dir("a0/x")];
  equal(decodeValue({ entries: beside, files: 4, bytes: 0 }).entries.length, 5);
});

Deno.test("decodeManifest() enforces its limits", () => {
  equal(MAX_MANIFEST_ENTRIES, 1_000_000);
  equal(MAX_MANIFEST_BYTES, 64 * 1024 * 1024);
  assertRefused(new Uint8Array(MAX_MANIFEST_BYTES + 1), ManifestError, "more than the 67108864");
  const entries = `[${"0,".repeat(MAX_MANIFEST_ENTRIES)}0]`;
  assertRefused(
    ENCODER.encode(`{"entries":${entries},"files":0,"bytes":0}`),
    ManifestError,
    "it has 1000001 entries, more than the 1000000 allowed",
  );
});

Deno.test("decodeManifest() checks a large hostile manifest quickly", () => {
  // 16,000 paths of 4,000 bytes and 2,000 components each: about 64 MB of paths.
  const tail = "/a".repeat(1995);
  const entries = Array.from({ length: 16_000 }, (_, i) => file(`${i}${tail}`.slice(0, 4000)));
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
  const entries = Array.from({ length: 17_000 }, (_, i) => file(`${i}${tail}`.slice(0, 4000)));
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
