import { equal } from "node:assert/strict";
import { processUmask } from "./_fs.ts";

Deno.test({
  name: "processUmask() reads the mask without changing it",
  ignore: Deno.build.os === "windows",
  fn: () => {
    const before = Deno.umask(0o027);
    try {
      equal(processUmask(), 0o027);
      equal(processUmask(), 0o027);
    } finally {
      equal(Deno.umask(before), 0o027);
    }
  },
});
