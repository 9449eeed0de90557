import { deepEqual, equal, throws } from "node:assert/strict";
import { formatHostPort, formatPeerAddress, parseHostPort } from "./address.ts";
import { parseIp, parseIPv4, parseIPv6 } from "./_ip.ts";

Deno.test("parseHostPort() splits IPv4, bracketed IPv6 and names", () => {
  deepEqual(parseHostPort("192.0.2.7:4000"), { hostname: "192.0.2.7", port: 4000 });
  deepEqual(parseHostPort("[2001:db8::7]:80"), { hostname: "2001:db8::7", port: 80 });
  deepEqual(parseHostPort("punch.example:443"), { hostname: "punch.example", port: 443 });
});

Deno.test("parseHostPort() rejects what is not host:port", () => {
  for (const text of ["192.0.2.7", "2001:db8::7:80", "host:65536", ":80", "host:", "[::1:80"]) {
    throws(() => parseHostPort(text), SyntaxError, text);
  }
});

Deno.test("formatHostPort() brackets IPv6", () => {
  equal(formatHostPort("::1", 5), "[::1]:5");
  equal(formatHostPort("127.0.0.1", 5), "127.0.0.1:5");
});

Deno.test("formatPeerAddress() reads IPv4-mapped IPv6 as IPv4 and brackets the rest", () => {
  equal(formatPeerAddress("::ffff:192.0.2.7", 4000), "192.0.2.7:4000");
  equal(formatPeerAddress("::FFFF:10.0.0.1", 1), "10.0.0.1:1");
  equal(formatPeerAddress("2001:db8::7", 4000), "[2001:db8::7]:4000");
  equal(formatPeerAddress("192.0.2.7", 80), "192.0.2.7:80");
});

Deno.test("parseIp() reads IPv4 and IPv6 literals to bytes", () => {
  deepEqual(parseIPv4("192.0.2.255"), new Uint8Array([192, 0, 2, 255]));
  deepEqual(parseIPv6("::1"), new Uint8Array([...new Array(15).fill(0), 1]));
  deepEqual(
    parseIPv6("2001:db8::"),
    new Uint8Array([0x20, 1, 0x0d, 0xb8, ...new Array(12).fill(0)]),
  );
  deepEqual(
    parseIPv6("::ffff:192.0.2.1"),
    new Uint8Array([...new Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 1]),
  );
  deepEqual(parseIPv6("1:2:3:4:5:6:7:8")?.[15], 8);
  deepEqual(parseIp("[::]"), { family: 6, bytes: new Uint8Array(16) });
  for (
    const text of [
      "256.0.0.1",
      "1.2.3",
      "01.2.3.4",
      "localhost",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "fe80::1%eth0",
      "1:2:3:4:5:6:7::8",
    ]
  ) {
    equal(parseIp(text), null, text);
  }
});
