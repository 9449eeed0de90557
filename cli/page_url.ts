/**
 * Where a browser opens the receive page for a code: the rendezvous' origin
 * with the code in the fragment, `http://192.168.1.20:41234/#4812-velvet-harbor`.
 * The fragment never goes to the server, and the page reads the code from it.
 *
 * Which origin:
 * - a configured server (`--server`, `PUNCH_SERVER`): its own origin, `ws:`
 *   and `wss:` read as `http:` and `https:`;
 * - the embedded rendezvous (it listens on every IPv4 interface): this
 *   host's first IPv4 address that is neither loopback nor link-local, in
 *   the system's interface order, else `127.0.0.1`.
 *
 * Nothing is sent to learn it: the interfaces are only listed.
 *
 * @module
 */

import { localCandidates } from "../lib/net/interfaces.ts";

/** Options for {@linkcode pageUrl}. */
export interface PageUrlOptions {
  /**
   * The server is the embedded rendezvous, listening on every IPv4
   * interface at its port: the URL names a LAN address of this host.
   *
   * @default {false}
   */
  embedded?: boolean;
  /**
   * The interfaces to read, for tests.
   *
   * @default {Deno.networkInterfaces()}
   */
  interfaces?: Deno.NetworkInterfaceInfo[];
}

/** The page's URL, and whether a browser on another device can reach it. */
export interface PageUrl {
  url: string;
  /** False when the host is loopback: only a browser on this machine opens it. */
  remote: boolean;
}

/**
 * The browser page's URL for `code` on `server`.
 *
 * @example Usage
 * ```ts
 * import { pageUrl } from "./page_url.ts";
 * pageUrl("wss://punch.example/v1/ws", "4812-velvet-harbor");
 * // { url: "https://punch.example/#4812-velvet-harbor", remote: true }
 * ```
 *
 * @throws {TypeError} If `server` is not an http(s) or ws(s) URL.
 */
export function pageUrl(server: string, code: string, options: PageUrlOptions = {}): PageUrl {
  let url: URL;
  try {
    url = new URL(server.includes("://") ? server : `http://${server}`);
  } catch {
    throw new TypeError(`Cannot use server "${server}": not a URL`);
  }
  const scheme = { "http:": "http:", "ws:": "http:", "https:": "https:", "wss:": "https:" }[
    url.protocol
  ];
  if (scheme === undefined) {
    throw new TypeError(`Cannot use server "${server}": use http(s):// or ws(s)://`);
  }
  let host = url.host;
  if (options.embedded) {
    const lan = lanAddress(options.interfaces);
    if (lan !== undefined) host = url.port ? `${lan}:${url.port}` : lan;
  }
  const page = new URL(`${scheme}//${host}/`);
  page.hash = code;
  return { url: page.href, remote: !isLoopbackHost(page.hostname) };
}

/** This host's first IPv4 address that another device could reach, if any. */
export function lanAddress(interfaces?: Deno.NetworkInterfaceInfo[]): string | undefined {
  // localCandidates: IPv4 in interface order, link-local after the rest, loopback last.
  const addresses = localCandidates(0, interfaces === undefined ? {} : { interfaces })
    .map((candidate) => candidate.slice(0, candidate.lastIndexOf(":")));
  return addresses.find((address) =>
    !address.startsWith("127.") && !address.startsWith("169.254.")
  );
}

/**
 * Whether a URL's hostname reaches only this machine: `localhost` (and
 * `*.localhost`), 127.0.0.0/8, `[::1]`, or the unspecified `0.0.0.0` and `[::]`.
 */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(name) ||
    name === "[::1]" || name === "0.0.0.0" || name === "[::]" || name === "[::ffff:7f00:1]";
}

/** Options for {@linkcode pageUrlToShow}. */
export interface PageUrlToShowOptions extends PageUrlOptions {
  /**
   * Show a loopback URL too (`--qr`): a browser on this machine opens it.
   *
   * @default {false}
   */
  force?: boolean;
}

/**
 * The page's URL that `punch send` shows beside the code (and draws as a QR
 * code): only one another device can reach, unless `force`.
 */
export function pageUrlToShow(
  server: string,
  code: string,
  options: PageUrlToShowOptions = {},
): string | undefined {
  const page = pageUrl(server, code, options);
  return page.remote || options.force ? page.url : undefined;
}
