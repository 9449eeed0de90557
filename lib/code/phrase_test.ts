import { deepEqual, ok, throws } from "node:assert/strict";
import { PunchError } from "../errors.ts";
import { generateCode, isValidNameplate, parseCode } from "./phrase.ts";
import { WORDS } from "./words.ts";

/** Asserts that `fn` throws a PunchError of kind `bad_code` whose message is exactly `message`. */
function assertSyntaxError(fn: () => unknown, message: string) {
  throws(fn, (error: unknown) => {
    ok(error instanceof PunchError && error.kind === "bad_code", `expected bad_code, got ${error}`);
    deepEqual(error.message, message);
    return true;
  });
}

Deno.test("generateCode() joins the nameplate and two words picked by random()", () => {
  const picks = [WORDS.indexOf("velvet"), WORDS.indexOf("harbor")];
  const seen: number[] = [];
  const code = generateCode("4812", {
    random: (n) => {
      seen.push(n);
      return picks.shift()!;
    },
  });
  deepEqual(code, "4812-velvet-harbor");
  deepEqual(seen, [2048, 2048]);
});

Deno.test("generateCode() makes codes that parseCode() reads back", () => {
  for (let i = 0; i < 200; i++) {
    const code = generateCode(String(i));
    const parsed = parseCode(code);
    deepEqual(parsed.code, code);
    deepEqual(parsed.nameplate, String(i));
    deepEqual(parsed.code.toUpperCase(), code.toUpperCase());
  }
});

Deno.test("generateCode() picks words evenly", () => {
  // 40,960 words, 20 expected per word: a chi-squared test with 2047 degrees
  // of freedom. Its mean is 2047 and its deviation 64; 2500 is 7 deviations out.
  const counts = new Map<string, number>();
  for (let i = 0; i < 20_480; i++) {
    for (const word of generateCode("1").split("-").slice(1)) {
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  const expected = 20;
  let chiSquared = 0;
  for (const word of WORDS) chiSquared += ((counts.get(word) ?? 0) - expected) ** 2 / expected;
  ok(chiSquared < 2500, `chi-squared ${chiSquared} is too high`);
  ok(counts.size > 1900, `only ${counts.size} distinct words`);
});

Deno.test("generateCode() rejects a nameplate that is not 1 to 8 digits", () => {
  for (const nameplate of ["", "abc", "48a2", "123456789", "-1", " 12", "١٢"]) {
    throws(() => generateCode(nameplate), TypeError);
  }
});

Deno.test("generateCode() rejects a random() that leaves its range", () => {
  for (const value of [-1, 2048, 1.5, NaN]) {
    throws(() => generateCode("1", { random: () => value }), RangeError);
  }
});

Deno.test("parseCode() splits a code into nameplate and words", () => {
  deepEqual(parseCode("4812-velvet-harbor"), {
    nameplate: "4812",
    words: ["velvet", "harbor"],
    code: "4812-velvet-harbor",
  });
});

Deno.test("parseCode() forgives case, whitespace and separators", () => {
  for (
    const input of [
      "4812-velvet-harbor",
      "  4812-velvet-harbor\n",
      "4812 VELVET Harbor",
      "4812_velvet_harbor",
      "4812.velvet.harbor",
      "4812/velvet/harbor",
      "4812 - velvet -- harbor",
      "-4812-velvet-harbor-",
      "4812\tvelvet\u00a0harbor",
    ]
  ) {
    deepEqual(parseCode(input).code, "4812-velvet-harbor", input);
  }
});

Deno.test("parseCode() keeps a nameplate's leading zeros", () => {
  deepEqual(parseCode("007-velvet-harbor").nameplate, "007");
});

Deno.test("parseCode() expands a word from its first 4 or more letters", () => {
  deepEqual(parseCode("4812-velv-harb").words, ["velvet", "harbor"]);
  deepEqual(parseCode("4812-velve-harbo").words, ["velvet", "harbor"]);
  // Whole 3-letter words stand for themselves, not for longer words.
  deepEqual(parseCode("1-act-acti").words, ["act", "action"]);
  for (const word of WORDS) {
    deepEqual(parseCode(`1-${word.slice(0, 4)}-${word}`).words, [word, word]);
  }
});

Deno.test("parseCode() rejects an empty code", () => {
  assertSyntaxError(
    () => parseCode("   "),
    "Cannot parse code: it is empty, expected something like 4812-velvet-harbor",
  );
  assertSyntaxError(
    () => parseCode("--"),
    'Cannot parse code "--": it has no number and no words, expected something like 4812-velvet-harbor',
  );
});

Deno.test("parseCode() rejects a code without a nameplate", () => {
  assertSyntaxError(
    () => parseCode("velvet-harbor"),
    'Cannot parse code "velvet-harbor": it must start with the number, like 4812-velvet-harbor',
  );
  assertSyntaxError(
    () => parseCode("velvet-harbor-4812"),
    'Cannot parse code "velvet-harbor-4812": it must start with the number, like 4812-velvet-harbor',
  );
});

Deno.test("parseCode() rejects a nameplate that is not 1 to 8 digits", () => {
  assertSyntaxError(
    () => parseCode("48a2-velvet-harbor"),
    'Cannot parse code "48a2-velvet-harbor": the number "48a2" must be decimal digits only, like 4812-velvet-harbor',
  );
  assertSyntaxError(
    () => parseCode("123456789-velvet-harbor"),
    'Cannot parse code "123456789-velvet-harbor": the number has 9 digits, at most 8 are allowed',
  );
});

Deno.test("parseCode() rejects a code with too few or too many words", () => {
  assertSyntaxError(
    () => parseCode("4812"),
    'Cannot parse code "4812": it has no words after the number, expected 2, like 4812-velvet-harbor',
  );
  assertSyntaxError(
    () => parseCode("4812-velvet"),
    'Cannot parse code "4812-velvet": it has 1 word after the number, expected 2, like 4812-velvet-harbor',
  );
  assertSyntaxError(
    () => parseCode("4812-velvet-harbor-zoo"),
    'Cannot parse code "4812-velvet-harbor-zoo": it has 3 words after the number, expected 2, like 4812-velvet-harbor',
  );
});

Deno.test("parseCode() names an unknown word and suggests the closest", () => {
  assertSyntaxError(
    () => parseCode("4812-velvet-harbr"),
    'Cannot parse code "4812-velvet-harbr": unknown word "harbr", did you mean "harbor"?',
  );
  assertSyntaxError(
    () => parseCode("4812-vlevet-harbor"),
    'Cannot parse code "4812-vlevet-harbor": unknown word "vlevet", did you mean "velvet"?',
  );
  assertSyntaxError(
    () => parseCode("4812-velvet-harbors"),
    'Cannot parse code "4812-velvet-harbors": unknown word "harbors", did you mean "harbor"?',
  );
  assertSyntaxError(
    () => parseCode("4812-vio-harbor"),
    'Cannot parse code "4812-vio-harbor": unknown word "vio", did you mean "violin"?',
  );
  assertSyntaxError(
    () => parseCode("4812-tabel-harbor"),
    'Cannot parse code "4812-tabel-harbor": unknown word "tabel", did you mean "label" or "table"?',
  );
  assertSyntaxError(
    () => parseCode("4812-bax-harbor"),
    'Cannot parse code "4812-bax-harbor": unknown word "bax", did you mean "bag", "bar" or "box"?',
  );
  assertSyntaxError(
    () => parseCode("4812-velvet-xyzzyq"),
    'Cannot parse code "4812-velvet-xyzzyq": unknown word "xyzzyq", check the code you were given',
  );
});

Deno.test("parseCode() shortens a long input in its message", () => {
  const long = "4812-velvet-" + "q".repeat(500);
  throws(() => parseCode(long), (error: unknown) => {
    ok(error instanceof PunchError && error.kind === "bad_code");
    ok(error.message.length < 250, error.message);
    ok(error.message.includes("…"));
    return true;
  });
});

Deno.test("isValidNameplate() accepts 1 to 8 decimal digits only", () => {
  for (const value of ["0", "4812", "12345678", "007"]) ok(isValidNameplate(value), value);
  for (const value of ["", "123456789", "48a2", " 4812", "4812\n", "١٢", "-1", "1e3"]) {
    ok(!isValidNameplate(value), value);
  }
});
