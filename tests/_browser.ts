/**
 * A real Chromium for the browser peer's tests: Debian's `/usr/bin/chromium`,
 * headless, driven by playwright-core (pinned in deno.json; it never
 * downloads a browser). Every request the page makes is recorded from the
 * browser's own request events, service worker included, so a test can
 * check that none went beyond the page's origin.
 *
 * @module
 */

import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's Chromium; the tests are skipped (with a reason) where it is missing. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Whether Chromium is installed here. */
export const HAS_CHROMIUM: boolean = (() => {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
})();

/** A headless Chromium page and every URL it asked for. */
export interface BrowserPage extends AsyncDisposable {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /**
   * Every request's URL, from the page, its frames and its service worker,
   * and every WebSocket's.
   */
  requests: string[];
}

/** Options for {@linkcode openBrowser}. */
export interface OpenBrowserOptions {
  /**
   * Run Chromium in this network namespace (`ip netns exec`), through a
   * wrapper script in `scratch`; playwright drives it over a pipe, so the
   * namespace holds only its network.
   */
  netns?: { name: string; scratch: string };
  /** More Chromium flags, such as `--host-resolver-rules`. */
  args?: string[];
}

/** Starts Chromium with a fresh profile, downloads accepted, and one page. */
export async function openBrowser(options: OpenBrowserOptions = {}): Promise<BrowserPage> {
  let executablePath = CHROMIUM_PATH;
  if (options.netns) {
    executablePath = `${options.netns.scratch}/chromium-in-netns`;
    await Deno.writeTextFile(
      executablePath,
      `#!/bin/sh\nexec ip netns exec ${options.netns.name} ${CHROMIUM_PATH} "$@"\n`,
      { mode: 0o755 },
    );
  }
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // Root in CI has no user namespaces for the sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--no-first-run", ...(options.args ?? [])],
  });
  const context = await browser.newContext({ acceptDownloads: true });
  const requests: string[] = [];
  context.on("request", (request) => requests.push(request.url()));
  const page = await context.newPage();
  page.on("websocket", (socket) => requests.push(socket.url()));
  return {
    browser,
    context,
    page,
    requests,
    async [Symbol.asyncDispose]() {
      await context.close().catch(() => {});
      await browser.close().catch(() => {});
    },
  };
}
