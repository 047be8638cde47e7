// Checks examples/plain_ws.py as its contract says, with Node's ws and socket.io-client.
// Usage: node example_check.mjs <base-url: http(s)://host:port>
// Prints one JSON line: {"echo": [...], "chat": [...], "sio": ...} or {"error": ...}.
import WebSocket from "ws";
import { io } from "socket.io-client";

const base = process.argv[2];
const wsBase = base.replace(/^http/, "ws");
const fail = (error) => {
  process.stdout.write(JSON.stringify({ error: String(error) }) + "\n", () => process.exit(1));
};
setTimeout(() => fail("timeout"), 10000);
const opened = (ws) =>
  new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
const next = (ws) =>
  new Promise((resolve) =>
    ws.once("message", (data, isBinary) =>
      resolve(isBinary ? { bin: data.toString("base64") } : { text: data.toString() })));

try {
  const echo = new WebSocket(`${wsBase}/echo`);
  await opened(echo);
  echo.send("héllo");
  const first = await next(echo);
  echo.send(Buffer.from([0, 255, 1]));
  const second = await next(echo);
  echo.close(1000);

  const a = new WebSocket(`${wsBase}/chat`), b = new WebSocket(`${wsBase}/chat`);
  await Promise.all([opened(a), opened(b)]);
  let aGot = 0;
  a.on("message", () => aGot++);
  const bNext = next(b);
  a.send("from a");
  const chat = [await bNext];
  const bBin = next(b);
  a.send(Buffer.from([7, 7]));
  chat.push(await bBin);
  a.close(); b.close();

  const socket = io(base, { transports: ["websocket"], forceNew: true });
  const sio = await socket.timeout(5000).emitWithAck("echo", { nested: [1, "two"] });
  socket.close();
  const polling = io(base, { transports: ["polling"], forceNew: true });
  const sioPolling = await polling.timeout(5000).emitWithAck("echo", "over polling");
  polling.close();
  process.stdout.write(
    JSON.stringify({ echo: [first, second], chat, echoedToSender: aGot, sio, sioPolling }) + "\n",
    () => process.exit(0),
  );
} catch (err) {
  fail(err);
}
