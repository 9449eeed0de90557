// The page the rendezvous serves at / (edge/page.ts): receive with a code
// (from the URL's fragment, /#4812-velvet-harbor, or typed), or send
// files picked or dropped. It runs lib/'s connection and transfer code
// over the relay WebSocket of the origin that served it; no direct path.

/// <reference lib="dom" />

import { openReceiver, openSender } from "../../lib/connection/open.ts";
import type { Connection } from "../../lib/connection/types.ts";
import { PunchError } from "../../lib/errors.ts";
import type { Manifest } from "../../lib/transfer/_manifest_check.ts";
import { type Progress, sendFiles } from "../../lib/transfer/send.ts";
import { streamsDownloads } from "./_download.ts";
import { receiveInto, type Target } from "./_receive.ts";
import { droppedFiles, fileSource, inputFiles, type Picked, scanPicked } from "./_send.ts";
import {
  downloadTarget,
  folderTarget,
  hasFolderPicker,
  isSingleFile,
  shownText,
  textTarget,
  zipName,
  zipTarget,
} from "./_targets.ts";

const OPEN = { direct: "never", portMapping: false } as const;

function element<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

const ui = {
  code: element<HTMLInputElement>("code"),
  receiveForm: element<HTMLFormElement>("receive-form"),
  offer: element<HTMLDivElement>("offer"),
  offerText: element<HTMLParagraphElement>("offer-text"),
  save: element<HTMLButtonElement>("save"),
  saveFolder: element<HTMLButtonElement>("save-folder"),
  decline: element<HTMLButtonElement>("decline"),
  files: element<HTMLInputElement>("files"),
  folder: element<HTMLInputElement>("folder"),
  drop: element<HTMLDivElement>("drop"),
  sendButton: element<HTMLButtonElement>("send-button"),
  sendCode: element<HTMLParagraphElement>("send-code"),
  codeOut: element<HTMLElement>("code-out"),
  command: element<HTMLElement>("command"),
  link: element<HTMLAnchorElement>("link"),
  status: element<HTMLParagraphElement>("status"),
  progress: element<HTMLProgressElement>("progress"),
  error: element<HTMLParagraphElement>("error"),
  note: element<HTMLParagraphElement>("note"),
  text: element<HTMLPreElement>("text"),
};

function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) value /= 1024, unit++;
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function say(text: string): void {
  ui.status.textContent = text;
}

/** Shows an error in words a user can act on. */
function fail(error: unknown): void {
  ui.progress.hidden = true;
  const kind = error instanceof PunchError ? error.kind : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const lead = kind === "wrong_code"
    ? "Wrong code. "
    : kind === "peer_gone"
    ? "The other side has gone. "
    : kind === "unknown_nameplate"
    ? "No sender is waiting with this code. "
    : "";
  ui.error.textContent = message.toLowerCase().startsWith(lead.trim().toLowerCase().slice(0, 10))
    ? message
    : lead + message;
  say("Stopped");
  document.body.dataset.state = "failed";
}

/** Reports progress and the mean rate since the first bytes; `summary()` says how it went. */
function progressReporter(verb: string) {
  let started = 0;
  let moved = 0;
  const rate = () => formatBytes(moved / Math.max((performance.now() - started) / 1000, 0.001));
  return {
    onProgress: ({ bytes, total }: Progress) => {
      if (started === 0) started = performance.now(), ui.progress.hidden = false;
      moved = bytes;
      // A stream (punch send -) has no total: the bar then shows nothing but motion.
      if (total === undefined) ui.progress.removeAttribute("value");
      else ui.progress.value = total === 0 ? 1 : bytes / total;
      const of = total === undefined ? "" : ` of ${formatBytes(total)}`;
      say(`${verb} ${formatBytes(bytes)}${of}, ${rate()}/s`);
    },
    summary: () =>
      ` in ${((performance.now() - started) / 1000).toFixed(1)} s, ${rate()}/s on average`,
  };
}

function describe(manifest: Manifest): string {
  if (isSingleFile(manifest)) {
    const entry = manifest.entries[0]!;
    if (entry.kind === "text") return `a text of ${formatBytes(entry.size)}`;
    if (entry.kind === "stream") return `${entry.path} (a stream of unknown length)`;
    return `${entry.path} (${formatBytes(entry.size)})`;
  }
  const dirs = manifest.entries.length - manifest.files;
  return `${manifest.files} files${dirs ? ` in ${dirs} folders` : ""} ` +
    `(${formatBytes(manifest.bytes)}), saved as ${zipName(manifest)}`;
}

/** Shows the offer and waits for the user: where to save it, or `null` to decline; short text at once. */
function choose(manifest: Manifest): Promise<Target | null> {
  if (shownText(manifest)) {
    return Promise.resolve(textTarget((text) => {
      // textContent: what the peer wrote is shown as text, never as markup.
      ui.text.textContent = text;
      ui.text.hidden = false;
    }));
  }
  ui.offerText.textContent = `The sender offers ${describe(manifest)}.`;
  ui.offer.hidden = false;
  ui.saveFolder.hidden = !hasFolderPicker();
  document.body.dataset.state = "offered";
  return new Promise((resolve, reject) => {
    const done = (target: Promise<Target | null>) => {
      ui.offer.hidden = true;
      target.then(resolve, reject);
    };
    ui.save.onclick = () =>
      done(isSingleFile(manifest) ? Promise.resolve(downloadTarget()) : zipTarget(manifest));
    ui.saveFolder.onclick = () => done(folderTarget());
    ui.decline.onclick = () => done(Promise.resolve(null));
  });
}

async function receive(code: string): Promise<void> {
  ui.error.textContent = "";
  document.body.dataset.state = "connecting";
  say("Connecting…");
  let connection: Connection | undefined;
  try {
    connection = await openReceiver(location.origin, code, OPEN);
    say("Checking the code…");
    await connection.ready;
    say("Waiting for the offer…");
    const progress = progressReporter("Received");
    const manifest = await receiveInto(connection, { choose, onProgress: progress.onProgress });
    await connection.close();
    say(`Received ${describe(manifest)}${progress.summary()}`);
    document.body.dataset.state = "done";
  } catch (error) {
    connection?.abort();
    fail(error);
  }
}

let picked: Picked[] = [];

function pick(files: Picked[]): void {
  picked = files;
  ui.sendButton.disabled = files.length === 0;
  say(files.length ? `${files.length} files chosen` : "");
}

async function send(): Promise<void> {
  ui.error.textContent = "";
  ui.sendButton.disabled = true;
  let connection: Connection | undefined;
  try {
    const { scan, files } = scanPicked(picked);
    connection = await openSender(location.origin, OPEN);
    const url = `${location.origin}/#${connection.code}`;
    ui.codeOut.textContent = connection.code;
    ui.command.textContent = `punch receive ${connection.code}`;
    ui.link.href = url;
    ui.link.textContent = url;
    ui.sendCode.hidden = false;
    document.body.dataset.state = "waiting";
    say("Waiting for the receiver…");
    await connection.ready;
    say("Waiting for the receiver to accept…");
    const progress = progressReporter("Sent");
    await sendFiles(connection, scan, {
      openSource: (index, offset) => fileSource(files[index]!, offset),
      onProgress: progress.onProgress,
    });
    await connection.close();
    say(
      `Sent ${scan.manifest.files} files (${
        formatBytes(scan.manifest.bytes)
      })${progress.summary()}`,
    );
    document.body.dataset.state = "done";
  } catch (error) {
    connection?.abort();
    fail(error);
  }
}

ui.receiveForm.addEventListener("submit", (event) => {
  event.preventDefault();
  receive(ui.code.value.trim());
});
ui.files.addEventListener("change", () => pick(inputFiles(ui.files.files)));
ui.folder.addEventListener("change", () => pick(inputFiles(ui.folder.files)));
ui.drop.addEventListener("dragover", (event) => event.preventDefault());
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  if (event.dataTransfer) droppedFiles(event.dataTransfer.items).then(pick, fail);
});
ui.sendButton.addEventListener("click", () => void send());

/** Said on a page of no secure context (plain http on a LAN address), where no service worker streams. */
const NOT_STREAMED = "On this plain http address the browser holds a download until it is " +
  "complete, then saves it (over https, or on localhost, it goes to disk as it comes)";

const fromUrl = decodeURIComponent(location.hash.slice(1)).trim();
if (!streamsDownloads()) ui.note.textContent = NOT_STREAMED;
if (fromUrl) {
  ui.code.value = fromUrl;
  receive(fromUrl);
}
document.body.dataset.state ??= "idle";
