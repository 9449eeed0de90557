import { equal } from "node:assert/strict";
import { DARK, LIGHT, readScreen } from "../tests/_qr_screen.ts";
import { isLoopbackHost, lanAddress, pageUrl, pageUrlToShow } from "./page_url.ts";
import { qrLines } from "./qr.ts";

/** An interface as Deno.networkInterfaces() lists it. */
function nic(name: string, address: string): Deno.NetworkInterfaceInfo {
  const family = address.includes(":") ? "IPv6" : "IPv4";
  return { name, family, address, netmask: "", scopeid: null, cidr: `${address}/24`, mac: "" };
}
const LO = [nic("lo", "127.0.0.1"), nic("lo", "::1")];
const LAN = [
  ...LO,
  nic("eth0", "fe80::1"),
  nic("eth0", "2001:db8::5"),
  nic("usb0", "169.254.7.7"),
  nic("wlan0", "192.168.1.20"),
  nic("docker0", "172.17.0.1"),
];

Deno.test("pageUrl() puts the code in the fragment of the server's origin", () => {
  const code = "4812-velvet-harbor";
  equal(pageUrl("https://punch.example", code).url, "https://punch.example/#4812-velvet-harbor");
  equal(pageUrl("wss://punch.example/v1/ws", code).url, "https://punch.example/#" + code);
  equal(pageUrl("ws://punch.example:8080/x?y=1#z", code).url, "http://punch.example:8080/#" + code);
  equal(pageUrl("punch.example:8000", code).url, "http://punch.example:8000/#" + code);
  equal(pageUrl("https://punch.example:443/", code).url, "https://punch.example/#" + code);
  equal(pageUrl("http://[2001:db8::5]:8000", code).url, "http://[2001:db8::5]:8000/#" + code);
});

Deno.test("pageUrl() is remote for a public host, not for loopback", () => {
  equal(pageUrl("https://punch.example", "1-a-b").remote, true);
  equal(pageUrl("http://192.168.1.20:8000", "1-a-b").remote, true);
  for (const server of ["http://127.0.0.1:8000", "http://localhost:1", "ws://[::1]:2"]) {
    equal(pageUrl(server, "1-a-b").remote, false, server);
  }
});

Deno.test("pageUrl() names the embedded rendezvous by this host's first LAN address", () => {
  const embedded = "http://127.0.0.1:41234";
  equal(
    pageUrl(embedded, "4812-velvet-harbor", { embedded: true, interfaces: LAN }).url,
    "http://192.168.1.20:41234/#4812-velvet-harbor",
  );
  // Only loopback and link-local: nothing another device reaches.
  const alone = [...LO, nic("usb0", "169.254.7.7"), nic("eth0", "fe80::1")];
  const local = pageUrl(embedded, "4812-velvet-harbor", { embedded: true, interfaces: alone });
  equal(local.url, "http://127.0.0.1:41234/#4812-velvet-harbor");
  equal(local.remote, false);
  // A configured server keeps its own host.
  equal(pageUrl(embedded, "1-a-b", { interfaces: LAN }).url, "http://127.0.0.1:41234/#1-a-b");
});

Deno.test("pageUrl() rejects what is not an http(s) or ws(s) URL", () => {
  for (const server of ["ftp://punch.example", "http://bad host"]) {
    let error: unknown;
    try {
      pageUrl(server, "1-a-b");
    } catch (e) {
      error = e;
    }
    equal(error instanceof TypeError, true, server);
  }
});

Deno.test("pageUrlToShow() shows a loopback URL only when forced", () => {
  equal(pageUrlToShow("http://127.0.0.1:8000", "1-a-b"), undefined);
  equal(
    pageUrlToShow("http://127.0.0.1:8000", "1-a-b", { force: true }),
    "http://127.0.0.1:8000/#1-a-b",
  );
  equal(pageUrlToShow("https://punch.example", "1-a-b"), "https://punch.example/#1-a-b");
});

Deno.test("lanAddress() skips loopback, link-local and IPv6; none without a LAN", () => {
  equal(lanAddress(LAN), "192.168.1.20");
  equal(lanAddress(LO), undefined);
  equal(lanAddress([]), undefined);
});

Deno.test("isLoopbackHost() knows localhost, 127/8, ::1 and the unspecified addresses", () => {
  for (
    const host of ["localhost", "LOCALHOST.", "a.localhost", "127.0.0.1", "127.9.8.7", "[::1]"]
  ) {
    equal(isLoopbackHost(host), true, host);
  }
  equal(isLoopbackHost(new URL("http://[::ffff:127.0.0.1]/").hostname), true);
  equal(isLoopbackHost("0.0.0.0"), true);
  for (const host of ["punch.example", "128.0.0.1", "192.168.1.20", "[2001:db8::1]", "local"]) {
    equal(isLoopbackHost(host), false, host);
  }
});

Deno.test("qrLines() of page URLs from short to long reads back as each URL", () => {
  const codes = ["1-a-b", "4812-velvet-harbor", "999999-abracadabra-zeppelin"];
  const servers = [
    "http://10.0.0.2:1",
    "http://192.168.100.200:65535",
    "https://punch.example",
    `https://${"relay.".repeat(12)}punch.example`,
    `https://${"x".repeat(150)}.example:8443`,
  ];
  for (const server of servers) {
    for (const code of codes) {
      const url = pageUrl(server, code).url;
      equal(readScreen(qrLines(url, { color: true }), LIGHT), url);
      equal(readScreen(qrLines(url, { color: false }), DARK), url);
    }
  }
});
