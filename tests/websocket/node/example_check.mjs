// Checks examples/plain_ws.py as its contract says, with Node's ws and socket.io-client.
// Usage: node example_check.mjs <base-url: http(s)://host:port>
// Prints one JSON line: {"echo": [...], "chat": [...], "sio": ..., "extensions": {...}} or
// {"error": ...}. The ws clients offer permessage-deflate (but "plain", which does not).
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

const deflate = { perMessageDeflate: true };
const big = "compress me, ".repeat(1000);

try {
  const echo = new WebSocket(`${wsBase}/echo`, deflate);
  await opened(echo);
  echo.send("héllo");
  const first = await next(echo);
  echo.send(Buffer.from([0, 255, 1]));
  const second = await next(echo);
  echo.send(big);
  const bigEchoed = (await next(echo)).text === big;
  echo.close(1000);

  const plain = new WebSocket(`${wsBase}/echo`, { perMessageDeflate: false });
  await opened(plain);
  plain.send(big);
  const plainEchoed = (await next(plain)).text === big;
  plain.close(1000);

  const a = new WebSocket(`${wsBase}/chat`, deflate), b = new WebSocket(`${wsBase}/chat`, deflate);
  await Promise.all([opened(a), opened(b)]);
  let aGot = 0;
  a.on("message", () => aGot++);
  const bNext = next(b);
  a.send("from a");
  const chat = [await bNext];
  const bBin = next(b);
  a.send(Buffer.from([7, 7]));
  chat.push(await bBin);
  const chatBig = next(b);
  a.send(big);
  const chatBigRelayed = (await chatBig).text === big;
  a.close(); b.close();

  const socket = io(base, { transports: ["websocket"], forceNew: true });
  const sio = await socket.timeout(5000).emitWithAck("echo", { nested: [1, "two"] });
  const sioBig = (await socket.timeout(5000).emitWithAck("echo", big)) === big;
  const sioExtensions = socket.io.engine.transport.ws.extensions;
  socket.close();
  const polling = io(base, { transports: ["polling"], forceNew: true });
  const sioPolling = await polling.timeout(5000).emitWithAck("echo", "over polling");
  polling.close();
  process.stdout.write(
    JSON.stringify({
      echo: [first, second],
      chat,
      echoedToSender: aGot,
      sio,
      sioPolling,
      big: { echo: bigEchoed, plain: plainEchoed, chat: chatBigRelayed, sio: sioBig },
      extensions: {
        echo: echo.extensions,
        plain: plain.extensions,
        chat: [a.extensions, b.extensions],
        sio: sioExtensions,
      },
    }) + "\n",
    () => process.exit(0),
  );
} catch (err) {
  fail(err);
}
