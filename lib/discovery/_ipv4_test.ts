import { deepEqual, equal } from "node:assert/strict";
import {
  hostForAsker,
  isLoopback,
  type LocalAddress,
  multicastInterfaces,
  parseIpv4,
} from "./_ipv4.ts";

const LOCALS: LocalAddress[] = [
  { name: "lo", address: "127.0.0.1", netmask: "255.0.0.0", internal: true },
  { name: "eth0", address: "192.168.1.5", netmask: "255.255.255.0", internal: false },
  { name: "eth0", address: "192.168.1.6", netmask: "255.255.255.0", internal: false },
  { name: "wlan0", address: "10.0.7.2", netmask: "255.255.0.0", internal: false },
];

Deno.test("parseIpv4() reads dotted quads only", () => {
  equal(parseIpv4("0.0.0.0"), 0);
  equal(parseIpv4("255.255.255.255"), 0xffffffff);
  equal(parseIpv4("192.168.1.5"), 0xc0a80105);
  for (const text of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", " 1.2.3.4", "a.b.c.d"]) {
    equal(parseIpv4(text), undefined, text);
  }
});

Deno.test("isLoopback() is true for 127.0.0.0/8 only", () => {
  equal(isLoopback("127.0.0.1"), true);
  equal(isLoopback("127.255.0.9"), true);
  equal(isLoopback("128.0.0.1"), false);
  equal(isLoopback("localhost"), false);
});

Deno.test("multicastInterfaces() gives loopback and one address per other interface", () => {
  deepEqual(multicastInterfaces(LOCALS), ["127.0.0.1", "192.168.1.5", "10.0.7.2"]);
  deepEqual(multicastInterfaces([]), ["127.0.0.1"]);
});

Deno.test("hostForAsker() answers loopback to this host", () => {
  equal(hostForAsker("127.0.0.1", LOCALS), "127.0.0.1");
  equal(hostForAsker("127.0.1.1", LOCALS), "127.0.0.1");
  equal(hostForAsker("192.168.1.6", LOCALS), "127.0.0.1");
});

Deno.test("hostForAsker() answers the address on the asker's subnet", () => {
  equal(hostForAsker("192.168.1.77", LOCALS), "192.168.1.5");
  equal(hostForAsker("10.0.200.3", LOCALS), "10.0.7.2");
});

Deno.test("hostForAsker() leaves the host empty for an asker on no subnet of this host", () => {
  equal(hostForAsker("172.16.0.9", LOCALS), "");
  equal(hostForAsker("not an address", LOCALS), "");
});
