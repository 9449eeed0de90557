// Promise wrappers around node:dgram, which works in Deno without
// --unstable-net (Deno.listenDatagram needs it).

import { createSocket, type Socket } from "node:dgram";

/**
 * Opens an IPv4 UDP socket on 0.0.0.0:`port` (0 for any). With `reuseAddr`,
 * several sockets on one host share the port and each gets every multicast
 * datagram sent to it (SO_REUSEADDR on Linux and Windows, SO_REUSEPORT on
 * macOS and the BSDs).
 */
export function bindUdp(port: number, reuseAddr: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: "udp4", reuseAddr });
    const onError = (error: Error) => {
      socket.removeListener("error", onError);
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      reject(error);
    };
    socket.on("error", onError);
    socket.bind(port, "0.0.0.0", () => {
      socket.removeListener("error", onError);
      // A late send error must not become an uncaught exception.
      socket.on("error", () => {});
      resolve(socket);
    });
  });
}

/** Sends one datagram; rejects if the system refuses it. */
export function sendUdp(socket: Socket, bytes: Uint8Array, port: number, host: string) {
  return new Promise<void>((resolve, reject) => {
    socket.send(bytes, port, host, (error) => error ? reject(error) : resolve());
  });
}

/** Closes the socket and waits until it is released. */
export function closeUdp(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
