import { deepEqual, equal, ok } from "node:assert/strict";
import { PortMapper, type PortMapperOptions, releasePortMappings } from "./portmap.ts";
import { type FakeGateway, fakeGateway, MINIUPNPD } from "./testdata/fake_gateway.ts";

/** A mapper of TCP 41234 that asks `gateway` (on loopback) with every protocol. */
function mapperOf(gateway: FakeGateway, options: PortMapperOptions = {}): PortMapper {
  return new PortMapper(41234, {
    gateway: "127.0.0.1",
    natpmpPort: gateway.natpmpPort,
    pcpPort: gateway.pcpPort,
    clientAddress: "127.0.0.1",
    ssdpAddress: "127.0.0.1",
    ssdpPort: gateway.ssdpPort,
    ...options,
  });
}

Deno.test("PortMapper asks all three at once; quick() does not wait for UPnP; close() deletes every grant", async () => {
  const gateway = await fakeGateway({ natpmp: true, pcp: true, upnp: true, ssdpDelayMs: 300 });
  try {
    const late: string[] = [];
    const mapper = mapperOf(gateway, { onMapping: (m) => late.push(`${m.protocol} ${m.address}`) });
    const started = Date.now();
    await mapper.quick();
    ok(Date.now() - started < 250, "NAT-PMP and PCP answer at once");
    deepEqual(mapper.mappings.map((m) => m.protocol).toSorted(), ["natpmp", "pcp"]);
    await mapper.settled();
    equal(late.at(-1), "upnp 45.0.0.21:41234");
    deepEqual(mapper.results.map((r) => r.protocol).toSorted(), ["natpmp", "pcp", "upnp"]);
    await mapper.close();
    await mapper.close(); // once
    const deletions = gateway.log.filter((l) =>
      l === "natpmp map 41234 0" || l === "pcp map 41234 0" || l === "upnp DeletePortMapping 41234"
    );
    equal(deletions.length, 3, String(gateway.log));
  } finally {
    await gateway.close();
  }
});

Deno.test("PortMapper.quick() waits for a UPnP device that answered the search, a little", async () => {
  // A device that answers SSDP at once (as miniupnpd does, in 50–100 ms):
  // its grant is in by quick().
  const prompt = await fakeGateway({ upnp: true });
  // One that answers SSDP, then never answers the description: quick()
  // gives it 250 ms past NAT-PMP's and PCP's 100 ms, no more.
  const stuck = await fakeGateway({
    upnp: (request) => request.path === "/rootDesc.xml" ? null : MINIUPNPD(request),
  });
  try {
    const fast = mapperOf(prompt);
    await fast.quick();
    deepEqual(fast.mappings.map((m) => `${m.protocol} ${m.address}`), ["upnp 45.0.0.21:41234"]);
    await fast.close();
    const slow = mapperOf(stuck);
    const started = Date.now();
    await slow.quick();
    const waited = Date.now() - started;
    ok(waited >= 300 && waited < 600, `quick() took ${waited} ms`);
    deepEqual(slow.mappings, []);
    await slow.close();
  } finally {
    await Promise.all([prompt.close(), stuck.close()]);
  }
});

Deno.test("PortMapper.close() while UPnP is still searching stops it and hands nothing more on", async () => {
  const gateway = await fakeGateway({ upnp: true, ssdpDelayMs: 400 });
  try {
    const late: string[] = [];
    const mapper = mapperOf(gateway, { onMapping: (m) => late.push(m.address) });
    await mapper.quick();
    const started = Date.now();
    await mapper.close();
    ok(Date.now() - started < 300, `close took ${Date.now() - started} ms`);
    deepEqual(late, []);
    deepEqual(mapper.mappings, []);
    equal(gateway.log.filter((l) => l.includes("AddPortMapping")).length, 0);
    // Refusals, with their reasons: no NAT-PMP or PCP server answered, UPnP stopped.
    deepEqual(
      mapper.results.map((r) => [r.protocol, r.mapping === null ? r.reason : "granted"]).toSorted(),
      [
        ["natpmp", "no answer from 127.0.0.1 within 100 ms"],
        ["pcp", "no answer from 127.0.0.1 within 100 ms"],
        ["upnp", "stopped"],
      ],
    );
  } finally {
    await gateway.close();
  }
});

Deno.test("releasePortMappings() deletes what every mapper in the process still holds", async () => {
  const gateway = await fakeGateway({ natpmp: true, upnp: true });
  try {
    const mapper = mapperOf(gateway, { protocols: ["natpmp", "upnp"] });
    await mapper.settled();
    equal(mapper.mappings.length, 2);
    // The program leaves without closing the mapper (an interrupt).
    await releasePortMappings();
    ok(gateway.log.includes("natpmp map 41234 0"), String(gateway.log));
    ok(gateway.log.includes("upnp DeletePortMapping 41234"), String(gateway.log));
    const before = gateway.log.length;
    await mapper.close(); // deleted already: nothing is sent again
    await releasePortMappings();
    equal(gateway.log.length, before);
  } finally {
    await gateway.close();
  }
});

Deno.test("PortMapper with no protocols asks nothing", async () => {
  const gateway = await fakeGateway({ natpmp: true, pcp: true, upnp: true });
  try {
    const mapper = mapperOf(gateway, { protocols: [] });
    await mapper.settled();
    await mapper.close();
    deepEqual(gateway.log, []);
  } finally {
    await gateway.close();
  }
});

Deno.test("PortMapper turns a protocol that throws into its refusal, never a rejection", async () => {
  const gateway = await fakeGateway({ pcp: true });
  try {
    // A client address that is no IPv4 address: PCP's encoder throws.
    const mapper = mapperOf(gateway, { protocols: ["pcp"], clientAddress: "not-an-address" });
    await mapper.settled();
    deepEqual(mapper.results, [{
      protocol: "pcp",
      mapping: null,
      answered: false,
      reason: "failed: TypeError: Cannot encode PCP request: not-an-address is not an IPv4 address",
    }]);
    await mapper.close();
  } finally {
    await gateway.close();
  }
});
