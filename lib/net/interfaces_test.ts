import { deepEqual, equal, throws } from "node:assert/strict";
import { localCandidates } from "./interfaces.ts";

function nic(family: "IPv4" | "IPv6", address: string, name = "eth0"): Deno.NetworkInterfaceInfo {
  return {
    family,
    name,
    address,
    netmask: "",
    scopeid: family === "IPv6" ? 0 : null,
    cidr: "",
    mac: "",
  };
}

const INTERFACES = [
  nic("IPv4", "127.0.0.1", "lo"),
  nic("IPv6", "::1", "lo"),
  nic("IPv4", "169.254.10.1", "eth1"),
  nic("IPv4", "192.168.1.20"),
  nic("IPv6", "fe80::1"),
  nic("IPv6", "fd00::2"),
  nic("IPv6", "2001:db8::7"),
  nic("IPv4", "10.0.0.5", "wlan0"),
  nic("IPv4", "192.168.1.20", "eth0:1"),
];

Deno.test("localCandidates() lists IPv4 first, link-local after, loopback last", () => {
  deepEqual(localCandidates(4000, { interfaces: INTERFACES }), [
    "192.168.1.20:4000",
    "10.0.0.5:4000",
    "169.254.10.1:4000",
    "127.0.0.1:4000",
  ]);
});

Deno.test("localCandidates() adds global, then unique-local IPv6 with ipv6", () => {
  deepEqual(localCandidates(4000, { interfaces: INTERFACES, ipv6: true }), [
    "192.168.1.20:4000",
    "10.0.0.5:4000",
    "169.254.10.1:4000",
    "[2001:db8::7]:4000",
    "[fd00::2]:4000",
    "127.0.0.1:4000",
  ]);
});

Deno.test("localCandidates() reads this host's interfaces", () => {
  const candidates = localCandidates(4000);
  equal(candidates.at(-1), "127.0.0.1:4000");
  for (const candidate of candidates) equal(candidate.endsWith(":4000"), true);
  throws(() => localCandidates(65536), RangeError);
});
