import { deepEqual } from "node:assert/strict";
import { editDistance } from "./_distance.ts";

Deno.test("editDistance() counts insertions, deletions and substitutions", () => {
  deepEqual(editDistance("harbor", "harbor"), 0);
  deepEqual(editDistance("harbr", "harbor"), 1);
  deepEqual(editDistance("harbors", "harbor"), 1);
  deepEqual(editDistance("harbar", "harbor"), 1);
  deepEqual(editDistance("", "abc"), 3);
  deepEqual(editDistance("kitten", "sitting"), 3);
});

Deno.test("editDistance() counts a swap of neighbours as one edit", () => {
  deepEqual(editDistance("hrabor", "harbor"), 1);
  deepEqual(editDistance("violte", "violet"), 1);
});

Deno.test("editDistance() stops above the limit", () => {
  deepEqual(editDistance("abcdef", "uvwxyz", 2), 3);
  deepEqual(editDistance("a", "abcdefgh", 2), 3);
  deepEqual(editDistance("harbr", "harbor", 2), 1);
});
