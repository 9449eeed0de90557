// The browser peer in a real Chromium (tests/_browser.ts) against a real
// punch serve and real punch send / receive processes, all on loopback (or,
// for the embedded rendezvous, in a namespace holding only lo).

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import {
  CAN_NETNS,
  describeTree,
  loopbackNamespace,
  misspell,
  Punch,
  startServe,
  tempDir,
  writeRandomFile,
} from "./_helpers.ts";
import { HAS_CHROMIUM, openBrowser } from "./_browser.ts";

const MiB = 1024 * 1024;
const ignore = !HAS_CHROMIUM;
const why = ignore ? " (skipped: no /usr/bin/chromium; apt-get install chromium)" : "";

async function sha256(path: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(path)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every request went to the page's origin, its WebSocket to the same host and port. */
function ownOrigin(requests: string[], server: string): void {
  const origin = new URL(server);
  ok(requests.some((url) => url.startsWith("ws:")), "the browser recorded no WebSocket");
  ok(requests.some((url) => url.endsWith(".js")), "the browser recorded no script");
  for (const url of requests.map((url) => new URL(url))) {
    const same = url.protocol === "ws:" ? url.host === origin.host : url.origin === origin.origin;
    ok(same, `a request beyond the page's origin: ${url.href}`);
  }
}

Deno.test({
  name: `the page receives a 64 MiB file from punch send byte-identical${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const src = join(dir.path, "big.bin");
    await writeRandomFile(src, 64 * MiB);
    const sender = new Punch(["send", "--json", "--server", server.url, src]);
    const code = (await sender.event("code")).code as string;
    await using browser = await openBrowser();
    const { page } = browser;
    await page.goto(`${server.url}/#${code}`);
    await page.locator("#save").click();
    const download = await page.waitForEvent("download");
    equal(download.suggestedFilename(), "big.bin");
    const out = join(dir.path, "got.bin");
    await download.saveAs(out);
    equal(await download.failure(), null);
    await page.locator("body[data-state=done]").waitFor();
    console.log(await page.locator("#status").innerText());
    equal((await sender.done).code, 0);
    equal(await sha256(out), await sha256(src));
    ownOrigin(browser.requests, server.url);
  },
});

Deno.test({
  name: `the page shows "wrong code" for a wrong code and downloads nothing${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const src = join(dir.path, "a.txt");
    await Deno.writeTextFile(src, "not for you\n");
    const sender = new Punch(["send", "--json", "--server", server.url, src]);
    const code = (await sender.event("code")).code as string;
    const wrong = misspell(code);
    await using browser = await openBrowser();
    const { page } = browser;
    let downloads = 0;
    page.on("download", () => downloads++);
    await page.goto(`${server.url}/#${wrong}`);
    await page.locator("body[data-state=failed]").waitFor();
    const sent = await sender.done;
    const error = await page.locator("#error").innerText();
    match(error, /wrong code/i, `the page said: ${error}; the sender said: ${sent.stderr}`);
    equal(await page.locator("#offer").isVisible(), false);
    equal(downloads, 0);
    ok(sent.code !== 0, "the sender should fail on a wrong code");
    ownOrigin(browser.requests, server.url);
  },
});

Deno.test({
  name: `the page receives a directory tree as a zip that unpacks identical${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const tree = join(dir.path, "photos");
    await Deno.mkdir(join(tree, "2024", "summer"), { recursive: true });
    await Deno.mkdir(join(tree, "empty"));
    await writeRandomFile(join(tree, "2024", "summer", "beach.jpg"), 3 * MiB + 7);
    await writeRandomFile(join(tree, "2024", "notes.txt"), 1000);
    await Deno.writeTextFile(join(tree, "é – unicode.txt"), "accents\n");
    await Deno.writeFile(join(tree, "zero"), new Uint8Array(0));
    await Deno.chmod(join(tree, "2024", "notes.txt"), 0o600);
    const sender = new Punch(["send", "--json", "--server", server.url, tree]);
    const code = (await sender.event("code")).code as string;
    await using browser = await openBrowser();
    const { page } = browser;
    await page.goto(server.url);
    await page.locator("#code").fill(code);
    await page.locator("#receive-button").click();
    await page.locator("#save").click();
    const download = await page.waitForEvent("download");
    equal(download.suggestedFilename(), "photos.zip");
    const zip = join(dir.path, "photos.zip");
    await download.saveAs(zip);
    equal(await download.failure(), null);
    equal((await sender.done).code, 0);
    const out = join(dir.path, "out");
    const unzip = await new Deno.Command("unzip", { args: ["-q", zip, "-d", out] }).output();
    equal(unzip.code, 0, new TextDecoder().decode(unzip.stderr));
    deepEqual(await describeTree(join(out, "photos")), await describeTree(tree));
    ownOrigin(browser.requests, server.url);
  },
});

Deno.test({
  name: `the page sends a file that punch receive gets byte-identical${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const src = join(dir.path, "from the page.bin");
    await writeRandomFile(src, 16 * MiB + 5);
    await using browser = await openBrowser();
    const { page } = browser;
    await page.goto(server.url);
    await page.locator("#files").setInputFiles(src);
    await page.locator("#send-button").click();
    await page.locator("body[data-state=waiting]").waitFor();
    const code = await page.locator("#code-out").innerText();
    const out = join(dir.path, "out");
    const receiver = new Punch(
      ["receive", "--json", "--yes", "--server", server.url, "--out", out, code],
    );
    const received = await receiver.done;
    equal(received.code, 0, received.stderr);
    await page.locator("body[data-state=done]").waitFor();
    console.log(await page.locator("#status").innerText());
    equal(await sha256(join(out, "from the page.bin")), await sha256(src));
    ownOrigin(browser.requests, server.url);
  },
});

/** Each file under the page's origin-private folder: `path size sha256`, sorted. */
function listPrivateFolder(): Promise<string[]> {
  return (async () => {
    const lines: string[] = [];
    const hex = (buffer: ArrayBuffer) =>
      Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
    // deno-lint-ignore no-explicit-any
    const walk = async (dir: any, prefix: string): Promise<void> => {
      for await (const [name, handle] of dir.entries()) {
        if (handle.kind === "directory") {
          lines.push(`${prefix}${name} dir`);
          await walk(handle, `${prefix}${name}/`);
        } else {
          const file = await handle.getFile();
          const sum = hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
          lines.push(`${prefix}${name} file ${file.size} ${sum}`);
        }
      }
    };
    // deno-lint-ignore no-explicit-any
    await walk(await (navigator as any).storage.getDirectory(), "");
    return lines.sort();
  })();
}

Deno.test({
  name: `the page writes a tree into a folder picked with showDirectoryPicker${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const tree = join(dir.path, "docs");
    await Deno.mkdir(join(tree, "a", "b"), { recursive: true });
    await writeRandomFile(join(tree, "a", "b", "deep.bin"), 2 * MiB + 1);
    await Deno.writeTextFile(join(tree, "top.txt"), "top\n");
    const sender = new Punch(["send", "--json", "--server", server.url, tree]);
    const code = (await sender.event("code")).code as string;
    await using browser = await openBrowser();
    const { page } = browser;
    // The picker itself is the browser's own dialog, which no test can click through: it
    // is answered with the origin-private folder, a real FileSystemDirectoryHandle.
    await page.addInitScript(() => {
      // deno-lint-ignore no-explicit-any
      const scope = globalThis as any;
      scope.showDirectoryPicker = () => scope.navigator.storage.getDirectory();
    });
    await page.goto(`${server.url}/#${code}`);
    await page.locator("#save-folder").click();
    await page.locator("body[data-state=done]").waitFor();
    equal((await sender.done).code, 0);
    const expected = (await describeTree(tree)).map((line) => {
      const [path, kind, size, _mode, sum] = line.split(" ");
      return kind === "dir" ? `docs/${path} dir` : `docs/${path} file ${size} ${sum}`;
    });
    deepEqual(await page.evaluate(listPrivateFolder), ["docs dir", ...expected].sort());
    ownOrigin(browser.requests, server.url);
  },
});

Deno.test({
  name:
    `the page says the sender has gone when it leaves mid-transfer, and fails the download${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const src = join(dir.path, "big.bin");
    await writeRandomFile(src, 64 * MiB);
    const sender = new Punch(["send", "--json", "--server", server.url, src]);
    const code = (await sender.event("code")).code as string;
    await using browser = await openBrowser();
    const { page } = browser;
    await page.goto(`${server.url}/#${code}`);
    await page.locator("#save").click();
    const download = await page.waitForEvent("download");
    await page.locator("#status", { hasText: /Received [1-9]/ }).waitFor();
    sender.kill();
    await sender.done;
    await page.locator("body[data-state=failed]").waitFor();
    match(await page.locator("#error").innerText(), /gone|left/i);
    ok(await download.failure() !== null, "the download should fail");
  },
});

Deno.test({
  name: `the page sends a folder chosen with its folder input, and files dropped on it${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    // Modes as the page sends them: a browser tells it none.
    const tree = join(dir.path, "album");
    await Deno.mkdir(join(tree, "disc 1"), { recursive: true, mode: 0o755 });
    await Deno.chmod(tree, 0o755);
    await Deno.chmod(join(tree, "disc 1"), 0o755);
    await writeRandomFile(join(tree, "disc 1", "track.flac"), 5 * MiB + 3);
    await Deno.writeTextFile(join(tree, "cover.txt"), "cover\n");
    for (const file of ["disc 1/track.flac", "cover.txt"]) {
      await Deno.chmod(join(tree, file), 0o644);
    }
    await using browser = await openBrowser();
    const { page } = browser;
    const receiveFromPage = async (out: string) => {
      await page.locator("#send-button").click();
      await page.locator("body[data-state=waiting]").waitFor();
      const code = await page.locator("#code-out").innerText();
      const receiver = new Punch(
        ["receive", "--json", "--yes", "--server", server.url, "--out", out, code],
      );
      const received = await receiver.done;
      equal(received.code, 0, received.stderr);
      await page.locator("body[data-state=done]").waitFor();
    };
    await page.goto(server.url);
    await page.locator("#folder").setInputFiles(tree);
    const out = join(dir.path, "out");
    await receiveFromPage(out);
    deepEqual(await describeTree(join(out, "album")), await describeTree(tree));

    // A drop made in the page: two files, offered side by side.
    await page.reload();
    // (As text: it runs in the page, whose DOM types this file does not have.)
    await page.evaluate(`(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(["first\\n"], "one.txt"));
      transfer.items.add(new File(["second\\n"], "two.txt"));
      const drop = new DragEvent("drop", { dataTransfer: transfer, bubbles: true });
      document.getElementById("drop").dispatchEvent(drop);
    })()`);
    await page.locator("#send-button:enabled").waitFor();
    const dropped = join(dir.path, "dropped");
    await receiveFromPage(dropped);
    equal(await Deno.readTextFile(join(dropped, "one.txt")), "first\n");
    equal(await Deno.readTextFile(join(dropped, "two.txt")), "second\n");
    ownOrigin(browser.requests, server.url);
  },
});

Deno.test({
  name: `the page resumes a file punch receive holds part of, hashing it from the File${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const src = join(dir.path, "movie.bin");
    await writeRandomFile(src, 32 * MiB);
    const out = join(dir.path, "out");
    await using browser = await openBrowser();
    const { page } = browser;
    const sendFromPage = async () => {
      await page.goto(server.url);
      await page.locator("#files").setInputFiles(src);
      await page.locator("#send-button").click();
      await page.locator("body[data-state=waiting]").waitFor();
      const code = await page.locator("#code-out").innerText();
      return new Punch(["receive", "--json", "--yes", "--server", server.url, "--out", out, code]);
    };
    const first = await sendFromPage();
    await first.event("progress", (e) => (e.bytes as number) > 4 * MiB);
    first.child.kill("SIGINT");
    const interrupted = await first.done;
    const kept = interrupted.events.find((e) => e.type === "kept");
    ok(kept, interrupted.stderr);
    await page.locator("body[data-state=failed]").waitFor();

    const second = await sendFromPage();
    const received = await second.done;
    equal(received.code, 0, received.stderr);
    await page.locator("body[data-state=done]").waitFor();
    const resume = received.events.find((e) => e.type === "resume");
    deepEqual(resume, { type: "resume", files: 1, bytes: kept.bytes });
    equal(await sha256(join(out, "movie.bin")), await sha256(src));
  },
});

/** The one TCP port listening in a namespace. */
async function onlyListeningPort(netns: string): Promise<number> {
  const output = await new Deno.Command("ip", { args: ["netns", "exec", netns, "ss", "-ltnH"] })
    .output();
  const ports = new TextDecoder().decode(output.stdout).trim().split("\n")
    .map((line) => Number(line.trim().split(/\s+/)[3]!.split(":").pop()));
  equal(ports.length, 1, `listening ports: ${ports}`);
  return ports[0]!;
}

Deno.test({
  name: `the page is served by punch send's embedded rendezvous and receives from it${why}`,
  ignore: ignore || !CAN_NETNS,
  async fn() {
    // In a namespace of its own holding only lo: the embedded rendezvous listens on every
    // interface and announces itself on the LAN. --relay-only: no Transit port beside it.
    await using netns = await loopbackNamespace();
    await using dir = await tempDir();
    const src = join(dir.path, "lan.bin");
    await writeRandomFile(src, 3 * MiB);
    const sender = new Punch(["send", "--json", "--relay-only", src], {
      env: { PUNCH_SERVER: "" },
      netns: netns.name,
    });
    const code = (await sender.event("code")).code as string;
    const origin = `http://127.0.0.1:${await onlyListeningPort(netns.name)}`;
    await using browser = await openBrowser({ netns: { name: netns.name, scratch: dir.path } });
    const { page } = browser;
    await page.goto(`${origin}/#${code}`);
    await page.locator("#save").click();
    const download = await page.waitForEvent("download");
    const out = join(dir.path, "got.bin");
    await download.saveAs(out);
    equal((await sender.done).code, 0);
    equal(await sha256(out), await sha256(src));
    ownOrigin(browser.requests, origin);
  },
});

Deno.test({
  name: `the page shows a short text from punch send --text, as text, with nothing to save${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    const text = "hello from a terminal <b>not bold</b> \u202e\n";
    const sender = new Punch(["send", "--json", "--server", server.url, "--text", text]);
    const code = (await sender.event("code")).code as string;
    await using browser = await openBrowser();
    const { page } = browser;
    let downloads = 0;
    page.on("download", () => downloads++);
    await page.goto(`${server.url}/#${code}`);
    await page.locator("body[data-state=done]").waitFor();
    equal(await page.locator("#text").textContent(), text);
    equal(await page.locator("#text b").count(), 0, "the text became markup");
    equal(downloads, 0);
    equal((await sender.done).code, 0);
    ownOrigin(browser.requests, server.url);
  },
});

Deno.test({
  name: `the page saves a stream from punch send - as a download${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const src = join(dir.path, "stdin.bin");
    await writeRandomFile(src, 3 * MiB);
    const sender = new Punch(["send", "--json", "--server", server.url, "-"], {
      stdin: (await Deno.open(src)).readable,
    });
    const code = (await sender.event("code")).code as string;
    await using browser = await openBrowser();
    const { page } = browser;
    await page.goto(`${server.url}/#${code}`);
    await page.locator("#save").click();
    const download = await page.waitForEvent("download");
    const out = join(dir.path, "got.bin");
    await download.saveAs(out);
    equal(await download.failure(), null);
    await page.locator("body[data-state=done]").waitFor();
    equal((await sender.done).code, 0);
    equal(await sha256(out), await sha256(src));
    ownOrigin(browser.requests, server.url);
  },
});

Deno.test({
  name:
    `the page works from a plain http address (no secure context): a file saved whole at the end${why}`,
  ignore,
  async fn() {
    await using server = await startServe();
    await using dir = await tempDir();
    const src = join(dir.path, "lan.bin");
    await writeRandomFile(src, 2 * MiB);
    const sender = new Punch(["send", "--json", "--server", server.url, src]);
    const code = (await sender.event("code")).code as string;
    // A name that is not localhost makes the page no secure context, as a
    // LAN address would; the browser resolves it to loopback, nothing leaves.
    const port = new URL(server.url).port;
    await using browser = await openBrowser({
      args: ["--host-resolver-rules=MAP punch-lan.test 127.0.0.1"],
    });
    const { page } = browser;
    const origin = `http://punch-lan.test:${port}`;
    await page.goto(`${origin}/#${code}`);
    equal(await page.evaluate("isSecureContext"), false);
    match(await page.locator("#note").innerText(), /plain http/);
    await page.locator("#save").click();
    const download = await page.waitForEvent("download");
    equal(download.suggestedFilename(), "lan.bin");
    const out = join(dir.path, "got.bin");
    await download.saveAs(out);
    await page.locator("body[data-state=done]").waitFor();
    equal((await sender.done).code, 0);
    equal(await sha256(out), await sha256(src));
    ownOrigin(browser.requests, origin);
  },
});
