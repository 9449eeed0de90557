import { deepEqual } from "node:assert/strict";

/** The names in the first column of docs/api.md's "Full API list". */
async function documented(): Promise<string[]> {
  const text = await Deno.readTextFile(new URL("../docs/api.md", import.meta.url));
  const section = text.split("## Full API list")[1]!.split("\n## ")[0]!;
  return [...section.matchAll(/^\| `([A-Za-z_]+)` +\|/gm)].map((m) => m[1]!).sort();
}

/** The names lib/mod.ts exports, values and types, read from its export lines. */
async function exported(): Promise<string[]> {
  const text = await Deno.readTextFile(new URL("./mod.ts", import.meta.url));
  const names = [...text.matchAll(/^export (?:type )?\{([^}]*)\}/gm)]
    .flatMap((m) => m[1]!.split(",").map((name) => name.trim()).filter(Boolean));
  return names.sort();
}

Deno.test("lib/mod.ts exports exactly the names docs/api.md lists", async () => {
  deepEqual(await exported(), await documented());
});

Deno.test("lib/mod.ts's values are there at run time", async () => {
  const mod = await import("./mod.ts");
  deepEqual(
    Object.keys(mod).sort(),
    [
      "PROTOCOL_VERSION",
      "PunchError",
      "offerStream",
      "offerText",
      "openReceiver",
      "openSender",
      "parseCode",
      "receiveFiles",
      "scanPaths",
      "sendFiles",
    ],
  );
});
