// The official socket.io-client (Node) against a server with compression: permessage-deflate
// over WebSocket, or HTTP compression over long-polling (engine.io-client's Fetch transport:
// Node's fetch asks for gzip/deflate and inflates the answers).
//
// Usage: node sio_deflate.mjs <url> <websocket|polling> <size>
// Emits "echo" with a string of <size> characters (acked back), waits for one "big"
// broadcast, then prints one JSON line: {"acked": <length>, "big": <length>,
// "extensions": <ws.extensions>, "encodings": [Content-Encoding of each polling GET]}.
import { io } from "socket.io-client";
import { Fetch } from "engine.io-client";

const [url, transport, size] = process.argv.slice(2);
const encodings = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (...args) => {
  const res = await realFetch(...args);
  if ((args[1]?.method ?? "GET") === "GET") encodings.push(res.headers.get("content-encoding"));
  return res;
};
const fail = (error) =>
  process.stdout.write(JSON.stringify({ error: String(error) }) + "\n", () => process.exit(1));
setTimeout(() => fail("timeout"), 10000);

const socket = io(url, {
  transports: transport === "polling" ? [Fetch] : ["websocket"],
  forceNew: true,
  perMessageDeflate: { threshold: 1024 },
});
try {
  const big = new Promise((resolve) => socket.once("big", resolve));
  const payload = "hello world, ".repeat(Math.ceil(size / 13)).slice(0, size);
  const acked = await socket.timeout(5000).emitWithAck("echo", payload);
  if (acked !== payload) throw new Error("the ack differs from what was sent");
  socket.emit("ready");
  const got = await big;
  const ws = socket.io.engine.transport.ws;
  process.stdout.write(
    JSON.stringify({
      acked: acked.length,
      big: got.length,
      extensions: ws ? ws.extensions : null,
      encodings,
    }) + "\n",
    () => process.exit(0),
  );
} catch (err) {
  fail(err);
}
