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

/** Starts Chromium with a fresh profile, downloads accepted, and one page. */
export async function openBrowser(): Promise<BrowserPage> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // Root in CI has no user namespaces for the sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--no-first-run"],
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
