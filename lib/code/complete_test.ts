import { deepEqual, equal } from "node:assert/strict";
import { completeCode, wordsStartingWith } from "./complete.ts";
import { parseCode } from "./phrase.ts";
import { WORDS } from "./words.ts";

Deno.test("wordsStartingWith() finds the words with a prefix, in order", () => {
  deepEqual(wordsStartingWith("velv"), ["velvet"]);
  deepEqual(wordsStartingWith("abs"), ["absent", "absorb", "abstract", "absurd"]);
  deepEqual(wordsStartingWith("zoo"), ["zoo"]);
  deepEqual(wordsStartingWith("zz"), []);
  deepEqual(wordsStartingWith("Velv"), []);
  equal(wordsStartingWith("").length, 2048);
  // 4 letters always name one word.
  for (const word of WORDS.filter((w) => w.length >= 4)) {
    deepEqual(wordsStartingWith(word.slice(0, 4)), [word]);
  }
});

Deno.test("completeCode() completes a unique word, with a dash after the first", () => {
  deepEqual(completeCode("4812-velv"), { text: "4812-velvet-", candidates: [] });
  deepEqual(completeCode("4812-velvet"), { text: "4812-velvet-", candidates: [] });
  deepEqual(completeCode("4812-velvet-harb"), { text: "4812-velvet-harbor", candidates: [] });
  deepEqual(completeCode("4812 VELV"), { text: "4812 velvet-", candidates: [] });
  deepEqual(completeCode("4812 velvet harb"), { text: "4812 velvet harbor", candidates: [] });
  deepEqual(completeCode("4812--velv"), { text: "4812--velvet-", candidates: [] });
  equal(
    parseCode(completeCode(completeCode("4812-velv").text + "harb").text).code,
    "4812-velvet-harbor",
  );
});

Deno.test("completeCode() grows an ambiguous prefix to what its words share and returns them", () => {
  deepEqual(completeCode("4812-abs"), {
    text: "4812-abs",
    candidates: ["absent", "absorb", "abstract", "absurd"],
  });
  deepEqual(completeCode("4812-ve"), {
    text: "4812-ve",
    candidates: [
      "vehicle",
      "velvet",
      "vendor",
      "venture",
      "venue",
      "verb",
      "verify",
      "version",
      "very",
      "vessel",
      "veteran",
    ],
  });
  deepEqual(completeCode("4812-vess"), { text: "4812-vessel-", candidates: [] });
  deepEqual(completeCode("4812-velvet-cr").candidates.slice(0, 3), ["crack", "cradle", "craft"]);
  // "act" is a word and the start of four more: Tab cannot choose.
  deepEqual(completeCode("4812-act").candidates, ["act", "action", "actor", "actress", "actual"]);
  deepEqual(completeCode("4812-acto"), { text: "4812-actor-", candidates: [] });
  deepEqual(completeCode("4812-velvet-sq"), {
    text: "4812-velvet-squ",
    candidates: ["square", "squeeze", "squirrel"],
  });
  deepEqual(completeCode("4812-Q").text, "4812-Qu");
  equal(completeCode("4812-").candidates.length, 2048);
});

Deno.test("completeCode() adds the dash after a nameplate and leaves the rest alone", () => {
  deepEqual(completeCode("4812"), { text: "4812-", candidates: [] });
  deepEqual(completeCode(""), { text: "", candidates: [] });
  deepEqual(completeCode("velv"), { text: "velv", candidates: [] });
  deepEqual(completeCode("48a"), { text: "48a", candidates: [] });
  deepEqual(completeCode("4812-xyz"), { text: "4812-xyz", candidates: [] });
  deepEqual(completeCode("4812-velvet-harbor-ab"), {
    text: "4812-velvet-harbor-ab",
    candidates: [],
  });
});
