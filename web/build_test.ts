import { equal, ok } from "node:assert/strict";
import { buildPage, BUNDLE_MODULE, bundleModule } from "./build.ts";

Deno.test("buildPage() gives what web/bundle.gen.ts holds (run deno run -A web/build.ts if not)", async () => {
  const fresh = bundleModule(await buildPage());
  const committed = await Deno.readTextFile(BUNDLE_MODULE);
  ok(committed === fresh, "web/bundle.gen.ts is stale: run `deno run -A web/build.ts`");
});

Deno.test("buildPage() leaves Transit, FFI and node: modules off the page", async () => {
  const { page, serviceWorker } = await buildPage();
  // The swapped modules: no listening, no libcrypto.
  equal(page.includes("EVP_chacha20_poly1305"), false);
  equal(page.includes("a browser takes the relay only"), true);
  equal(/Cannot use node:(net|dgram|dns|crypto)/.test(page), false);
  equal(serviceWorker.includes("/download/"), true);
});
