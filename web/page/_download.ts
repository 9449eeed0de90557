// Streamed downloads: the page gives a stream to its service worker (sw.ts)
// and opens /download/ID/NAME in a hidden frame; the worker answers with
// the stream as an attachment, so the browser writes it to disk as it
// comes. Where the File System Access API is there, a chosen folder can
// take the files instead (folderTarget). A page of no secure context (the
// embedded rendezvous on a LAN address, over plain http) has no service
// worker: there the browser gathers the bytes in a Blob, which it keeps in
// its own store (Chromium's pages out to disk), and saves it at the end.

/// <reference lib="dom" />

/** The service worker's script, served by the rendezvous (edge/page.ts). */
export const SERVICE_WORKER_PATH = "/sw.js";

let registered: Promise<ServiceWorker> | undefined;

/** The active service worker, registered once. */
function worker(): Promise<ServiceWorker> {
  registered ??= (async () => {
    if (!("serviceWorker" in navigator)) {
      throw new Error(
        "Cannot save: this browser offers no service workers here (a private window, or a page not served over https)",
      );
    }
    await navigator.serviceWorker.register(SERVICE_WORKER_PATH, { scope: "/" });
    const registration = await navigator.serviceWorker.ready;
    return registration.active!;
  })();
  return registered;
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Starts a download named `name` and returns where its bytes go; `size`, if
 * known, lets the browser show how far it is and fail a short download.
 */
export async function streamDownload(
  name: string,
  size: number | null,
): Promise<WritableStream<Uint8Array>> {
  if (!streamsDownloads()) return blobDownload(name);
  const sw = await worker();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const id = randomId();
  const channel = new MessageChannel();
  const ready = new Promise<void>((resolve) => channel.port1.onmessage = () => resolve());
  sw.postMessage({ type: "download", id, name, size, stream: readable }, [
    readable as unknown as Transferable,
    channel.port2,
  ]);
  await ready;
  const frame = document.createElement("iframe");
  frame.hidden = true;
  frame.src = `/download/${id}/${encodeURIComponent(name)}`;
  document.body.append(frame);
  return writable;
}

/** Whether downloads stream through the service worker here (a secure context that has them). */
export function streamsDownloads(): boolean {
  return globalThis.isSecureContext && "serviceWorker" in navigator;
}

/**
 * Where no service worker can stream a download: each chunk becomes a Blob
 * as it comes (handed to the browser's blob store, not kept in the page's
 * heap), and the whole is saved under `name` once the stream closes.
 */
function blobDownload(name: string): WritableStream<Uint8Array> {
  let parts: Blob[] = [];
  return new WritableStream<Uint8Array>({
    write(chunk) {
      parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
    },
    close() {
      const url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
      parts = [];
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      // The download has its own reference by now; the page lets go of it later.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    abort() {
      parts = [];
    },
  });
}
