// The page's service worker: it turns a stream the page hands it into a
// download served from this origin (GET /download/ID/NAME), so a file or a
// zip streams to disk as it arrives, never held whole in memory. It answers
// nothing else: every other request goes to the network as usual.

/// <reference lib="webworker" />

declare const self: ServiceWorkerGlobalScope;

/** A download the page announced, waiting for its request. */
interface Pending {
  name: string;
  size: number | null;
  stream: ReadableStream<Uint8Array>;
}

const DOWNLOAD_PREFIX = "/download/";
const pending = new Map<string, Pending>();

self.addEventListener("install", () => void self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
  const data = event.data as { type?: string; id?: string } & Partial<Pending>;
  if (data.type !== "download" || !data.id || !data.stream || !data.name) return;
  pending.set(data.id, { name: data.name, size: data.size ?? null, stream: data.stream });
  event.ports[0]?.postMessage("ready");
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(DOWNLOAD_PREFIX)) return;
  const id = url.pathname.slice(DOWNLOAD_PREFIX.length).split("/")[0]!;
  const download = pending.get(id);
  pending.delete(id);
  if (!download) {
    event.respondWith(
      new Response("This download is over: start the transfer again from the page\n", {
        status: 410,
        headers: { "content-type": "text/plain; charset=utf-8" },
      }),
    );
    return;
  }
  const headers = new Headers({
    "content-type": "application/octet-stream",
    "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(download.name)}`,
    "x-content-type-options": "nosniff",
  });
  if (download.size !== null) headers.set("content-length", String(download.size));
  event.respondWith(new Response(download.stream, { headers }));
});
