/**
 * The browser peer's page, served by the rendezvous (handler.ts) at `/`:
 * the HTML, its style sheet, its one script and the service worker that
 * streams downloads. The scripts are web/bundle.gen.ts, built from
 * web/page/ and lib/ by web/build.ts and committed, so that Deno Deploy
 * serves them with no build step.
 *
 * Every answer carries a strict Content-Security-Policy: scripts, styles,
 * frames and workers from this origin only, no inline script or style,
 * connections to this origin and its own WebSocket origin only. The page
 * asks nothing of any other host (docs/browser.md).
 *
 * @module
 */

import { PAGE_SCRIPT, SERVICE_WORKER_SCRIPT } from "../web/bundle.gen.ts";

/** The style sheet: small, so written here. */
const PAGE_STYLE = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: 0; }
h1 + p { margin-top: 0; opacity: .75; }
section { border: 1px solid #8886; border-radius: .5rem; padding: 0 1rem 1rem; margin: 1rem 0; }
input#code { font: inherit; width: 16rem; }
#drop { border: 2px dashed #8888; border-radius: .5rem; padding: 1rem; margin-bottom: .5rem; }
progress { width: 100%; }
#error { color: #c22; font-weight: 600; }
code, output { font-family: ui-monospace, monospace; }
`;

/** Short hex of SHA-256, naming an asset by its content. */
async function digestOf(text: string): Promise<string> {
  const bytes = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

const [SCRIPT_DIGEST, STYLE_DIGEST] = await Promise.all([
  digestOf(PAGE_SCRIPT),
  digestOf(PAGE_STYLE),
]);

/** Where the page's script and style sheet are served: named by content, cached for good. */
export const PAGE_SCRIPT_PATH = `/page-${SCRIPT_DIGEST}.js`;
export const PAGE_STYLE_PATH = `/page-${STYLE_DIGEST}.css`;
/** The service worker's path: fixed, since the page registers it by name for the scope `/`. */
export const SERVICE_WORKER_PATH = "/sw.js";

const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>punch</title>
<link rel="stylesheet" href="${PAGE_STYLE_PATH}">
<script type="module" src="${PAGE_SCRIPT_PATH}"></script>
</head>
<body>
<main>
<h1>punch</h1>
<p>Files between two people with a short code, end-to-end encrypted. This page goes through the
relay of the server that served it.</p>
<section id="receive">
<h2>Receive</h2>
<form id="receive-form">
<label>Code <input id="code" name="code" autocomplete="off" spellcheck="false"
  placeholder="4812-velvet-harbor"></label>
<button id="receive-button" type="submit">Receive</button>
</form>
<div id="offer" hidden>
<p id="offer-text"></p>
<button id="save" type="button">Save</button>
<button id="save-folder" type="button" hidden>Save into a folder…</button>
<button id="decline" type="button">Decline</button>
</div>
</section>
<section id="send">
<h2>Send</h2>
<div id="drop">Drop files or folders here, or choose
<label>files <input type="file" id="files" multiple></label> or
<label>a folder <input type="file" id="folder" webkitdirectory></label></div>
<button id="send-button" type="button" disabled>Send</button>
<p id="send-code" hidden>Code: <output id="code-out"></output><br>
On the other side: <code id="command"></code>, or open <a id="link"></a></p>
</section>
<p id="note"></p>
<pre id="text" hidden></pre>
<p id="status" role="status" aria-live="polite"></p>
<progress id="progress" max="1" value="0" hidden></progress>
<p id="error" role="alert"></p>
</main>
</body>
</html>
`;

/** A Host header's value: a name or an address, and maybe a port; nothing else. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/**
 * The WebSocket origins of the page's own host: `'self'` covers them in
 * CSP Level 3, older browsers need them named. The host is the request's
 * Host header (the hardened transport's URLs name no host), where it is
 * one; behind a TLS proxy a plain http request may be https to the
 * browser, so both schemes are named then.
 */
function webSocketOrigins(url: URL, headers: Headers): string {
  const header = headers.get("host") ?? "";
  const host = HOST.test(header) ? header : url.host;
  return url.protocol === "https:" ? `wss://${host}` : `ws://${host} wss://${host}`;
}

/** The Content-Security-Policy of every answer here. */
export function contentSecurityPolicy(url: URL, headers: Headers = new Headers()): string {
  return [
    "default-src 'self'",
    `connect-src 'self' ${webSocketOrigins(url, headers)}`,
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "worker-src 'self'",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function asset(request: Request, body: string, type: string, cache: string): Response {
  return new Response(body, {
    headers: {
      "content-type": type,
      "cache-control": cache,
      "content-security-policy": contentSecurityPolicy(new URL(request.url), request.headers),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cross-origin-opener-policy": "same-origin",
    },
  });
}

/** Assets named by their content never change: a year, the most caches keep. */
const IMMUTABLE = "max-age=31536000, immutable";

/** The page's answer to a GET, or `undefined` if the path is none of its own. */
export function pageResponse(request: Request): Response | undefined {
  switch (new URL(request.url).pathname) {
    case "/":
    case "/index.html":
      return asset(request, PAGE_HTML, "text/html; charset=utf-8", "no-cache");
    case PAGE_SCRIPT_PATH:
      return asset(request, PAGE_SCRIPT, "text/javascript; charset=utf-8", IMMUTABLE);
    case PAGE_STYLE_PATH:
      return asset(request, PAGE_STYLE, "text/css; charset=utf-8", IMMUTABLE);
    case SERVICE_WORKER_PATH:
      return asset(request, SERVICE_WORKER_SCRIPT, "text/javascript; charset=utf-8", "no-cache");
    case "/favicon.ico":
      return new Response(null, { status: 204, headers: { "cache-control": "max-age=86400" } });
    default:
      return undefined;
  }
}
