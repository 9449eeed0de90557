// Transit's port mapping and trickled candidates: onLateCandidate,
// addPeerCandidate, and the deletion at close. Against a fake gateway on
// loopback only (lib/net/testdata/fake_gateway.ts).

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { deriveSessionKeys } from "../crypto/keys.ts";
import { fakeGateway } from "../net/testdata/fake_gateway.ts";
import { Transit } from "./punch.ts";

/** A rendezvous nobody answers: reflection fails at once, LAN candidates remain. */
const NO_SERVER = "http://127.0.0.1:1";
/** A candidate that refuses every dial. */
const NOWHERE = "127.0.0.1:1";

Deno.test("Transit.open() waits for no port mapping: NAT-PMP's grant trickles in once, UPnP's same address is not handed on again, and close() deletes every grant", async () => {
  const gateway = await fakeGateway({ natpmp: true, upnp: true, ssdpDelayMs: 300 });
  try {
    const late: string[] = [];
    const first = Promise.withResolvers<void>();
    const started = Date.now();
    const transit = await Transit.open({
      server: NO_SERVER,
      side: "sender",
      portMapping: {
        gateway: "127.0.0.1",
        natpmpPort: gateway.natpmpPort,
        pcpPort: gateway.pcpPort,
        ssdpAddress: "127.0.0.1",
        ssdpPort: gateway.ssdpPort,
      },
      onLateCandidate: (address) => {
        late.push(address);
        first.resolve();
      },
    });
    ok(Date.now() - started < 300, `open() took ${Date.now() - started} ms`);
    const port = transit.candidates.port;
    // NAT-PMP's grant comes after open() resolved, as a late candidate, and
    // becomes this side's forwarded one.
    await Promise.race([first.promise, new Promise((r) => setTimeout(r, 1500))]);
    deepEqual(late, [`45.0.0.21:${port}`]);
    equal(transit.candidates.forwarded, `45.0.0.21:${port}`);
    ok(transit.candidates.candidates.includes(`45.0.0.21:${port}`));
    const count = transit.candidates.candidates.length;
    // UPnP's grant comes later (its SSDP answer is 300 ms late), for the
    // same public address as NAT-PMP's: a candidate already, so it is not
    // handed on again (the next test has a new one).
    await new Promise((r) => setTimeout(r, 1000));
    deepEqual(late, [`45.0.0.21:${port}`]);
    equal(transit.candidates.candidates.length, count);
    deepEqual(transit.portMappings.map((r) => r.protocol).toSorted(), ["natpmp", "pcp", "upnp"]);
    await transit.close();
    ok(gateway.log.includes(`natpmp map ${port} 0`), String(gateway.log));
    ok(gateway.log.includes(`upnp DeletePortMapping ${port}`), String(gateway.log));
  } finally {
    await gateway.close();
  }
});

Deno.test("Transit.open() hands a mapping granted after it resolved to onLateCandidate", async () => {
  const gateway = await fakeGateway({ upnp: true, ssdpDelayMs: 300 });
  try {
    const late = Promise.withResolvers<string>();
    const transit = await Transit.open({
      server: NO_SERVER,
      side: "receiver",
      portMapping: {
        gateway: "127.0.0.1",
        natpmpPort: gateway.natpmpPort,
        pcpPort: gateway.pcpPort,
        ssdpAddress: "127.0.0.1",
        ssdpPort: gateway.ssdpPort,
      },
      onLateCandidate: (address) => late.resolve(address),
    });
    const port = transit.candidates.port;
    equal(transit.candidates.forwarded, null);
    ok(!transit.candidates.candidates.some((c) => c.startsWith("45.0.0.21:")));
    equal(await late.promise, `45.0.0.21:${port}`);
    // Added to this side's candidates, and its forwarded one.
    equal(transit.candidates.forwarded, `45.0.0.21:${port}`);
    equal(transit.candidates.candidates.at(-1), `45.0.0.21:${port}`);
    await transit.close();
    equal(gateway.log.at(-1), `upnp DeletePortMapping ${port}`);
  } finally {
    await gateway.close();
  }
});

Deno.test("Transit.open() closed before a late grant deletes it and hands nothing on", async () => {
  const gateway = await fakeGateway({ upnp: true, ssdpDelayMs: 300 });
  try {
    let handed = 0;
    const transit = await Transit.open({
      server: NO_SERVER,
      side: "sender",
      portMapping: {
        gateway: "127.0.0.1",
        natpmpPort: gateway.natpmpPort,
        pcpPort: gateway.pcpPort,
        ssdpAddress: "127.0.0.1",
        ssdpPort: gateway.ssdpPort,
      },
      onLateCandidate: () => handed++,
    });
    await transit.close();
    await new Promise((r) => setTimeout(r, 500)); // past the SSDP answer
    equal(handed, 0);
    equal(gateway.log.filter((l) => l.includes("AddPortMapping")).length, 0, String(gateway.log));
  } finally {
    await gateway.close();
  }
});

Deno.test("Transit.addPeerCandidate() makes a running punch() dial one more candidate", async () => {
  const isk = crypto.getRandomValues(new Uint8Array(64));
  const [senderKeys, receiverKeys] = await Promise.all([
    deriveSessionKeys(isk, "sender"),
    deriveSessionKeys(isk, "receiver"),
  ]);
  const [sender, receiver] = await Promise.all([
    Transit.open({ server: NO_SERVER, side: "sender", portMapping: false }),
    Transit.open({ server: NO_SERVER, side: "receiver", portMapping: false }),
  ]);
  // Neither side's list leads anywhere: only the trickled candidate can.
  const nowhere = (transit: Transit) => ({ ...transit.candidates, candidates: [NOWHERE] });
  const punching = Promise.all([
    sender.punch(nowhere(receiver), { keys: senderKeys, windowMs: 5_000 }),
    receiver.punch(nowhere(sender), { keys: receiverKeys, windowMs: 5_000 }),
  ]);
  await new Promise((r) => setTimeout(r, 300));
  const trickled = `127.0.0.1:${receiver.candidates.port}`;
  equal(sender.addPeerCandidate(trickled), true);
  equal(sender.addPeerCandidate(trickled), false, "known already");
  throws(() => sender.addPeerCandidate("nowhere:1"), TypeError);
  const [s, r] = await punching;
  equal(s.connection === null ? s.reason : s.address, trickled);
  ok(r.connection !== null, r.connection === null ? r.reason : "");
  equal(sender.addPeerCandidate("127.0.0.1:2"), false, "the punching is over");
  await Promise.allSettled([s.connection?.writable.close(), r.connection?.writable.close()]);
  await Promise.all([sender.close(), receiver.close()]);
});
