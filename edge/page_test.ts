import { equal, match, ok } from "node:assert/strict";
import { serve, TRANSPORTS } from "./_testing.ts";
import { PAGE_SCRIPT_PATH, PAGE_STYLE_PATH, SERVICE_WORKER_PATH } from "./page.ts";

for (const transport of TRANSPORTS) {
  Deno.test(`createRendezvous() serves the browser page at / under a strict CSP (${transport})`, async () => {
    await using server = serve({ transport });
    const page = await fetch(`${server.base}/`);
    equal(page.status, 200);
    match(page.headers.get("content-type")!, /^text\/html/);
    const csp = page.headers.get("content-security-policy")!;
    const host = new URL(server.base).host;
    match(csp, /(^|; )default-src 'self'(;|$)/);
    match(
      csp,
      new RegExp(`(^|; )connect-src 'self' ws://${host.replaceAll(".", "\\.")} wss://[^;]+(;|$)`),
    );
    match(csp, /(^|; )script-src 'self'(;|$)/);
    ok(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), csp);
    const html = await page.text();
    ok(html.includes(`<script type="module" src="${PAGE_SCRIPT_PATH}"></script>`));
    // No inline script or style, and nothing from another host.
    equal(/<script>|<style|style="|https?:\/\//.test(html), false);
    for (
      const [path, type] of [
        [PAGE_SCRIPT_PATH, /^text\/javascript/],
        [PAGE_STYLE_PATH, /^text\/css/],
        [SERVICE_WORKER_PATH, /^text\/javascript/],
      ] as const
    ) {
      const asset = await fetch(`${server.base}${path}`);
      equal(asset.status, 200, path);
      match(asset.headers.get("content-type")!, type);
      ok(asset.headers.get("content-security-policy"), path);
      ok((await asset.text()).length > 100, path);
    }
    const missing = await fetch(`${server.base}/page-0000000000000000.js`);
    equal(missing.status, 404);
    await missing.body?.cancel();
  });
}
