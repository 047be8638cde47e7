// The benchmark's Node server for plain WebSocket endpoints: ws 8 on one http server, the
// same two paths as servers/roomcast_plain.py. /echo sends each message back as it came;
// /fan sends each message to every other client of /fan, as ws's README broadcasts
// (client.send for each open client). perMessageDeflate off (ws's server default).
import { createServer } from "node:http";
import { WebSocket, WebSocketServer } from "ws";

const portIndex = process.argv.indexOf("--port");
const port = Number(process.argv[portIndex + 1]);

const echo = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const fan = new WebSocketServer({ noServer: true, perMessageDeflate: false });

echo.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});

fan.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    for (const client of fan.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    }
  });
});

const httpServer = createServer((req, res) => {
  res.writeHead(426).end();
});
httpServer.on("upgrade", (request, socket, head) => {
  const path = request.url.split("?", 1)[0];
  const wss = path === "/echo" ? echo : path === "/fan" ? fan : null;
  if (wss === null) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
});

httpServer.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
