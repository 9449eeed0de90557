import { equal } from "node:assert/strict";
import { parseIp } from "./_ip.ts";
import { openLibc } from "./_libc.ts";
import { openShared } from "./_socket.ts";
import { UNACKED_TIMEOUT_MS } from "./constants.ts";

const libc = openLibc();

Deno.test({
  name: "openShared() sockets give up on data unacknowledged for UNACKED_TIMEOUT_MS (Linux)",
  ignore: libc === null || libc.constants.TCP_USER_TIMEOUT === 0,
  fn() {
    const fd = openShared(libc!, parseIp("127.0.0.1")!, 0, false);
    if (typeof fd !== "number") throw new Error(`${fd.call}: errno ${fd.errno}`);
    try {
      const c = libc!.constants;
      equal(libc!.getInt(fd, c.IPPROTO_TCP, c.TCP_USER_TIMEOUT), UNACKED_TIMEOUT_MS);
    } finally {
      libc!.close(fd);
    }
  },
});
