// The benchmark's Node socket.io 4.8 server: the same three handlers as the Python ones.
// --recovery: connectionStateRecovery with maxDisconnectionDuration 120 s (in memory: the
// default adapter keeps the packets and sessions in this process).
import { createServer } from "node:http";
import { Server } from "socket.io";

const ROOM = "bench";
const portIndex = process.argv.indexOf("--port");
const port = Number(process.argv[portIndex + 1]);
// --deflate: permessage-deflate on, as bench/deflate.py compares it
const deflate = process.argv.includes("--deflate");

const httpServer = createServer();
const recovery = process.argv.includes("--recovery");
const io = new Server(httpServer, {
  serveClient: false,
  perMessageDeflate: deflate ? { threshold: 1024 } : false,
  ...(recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 120000 } } : {}),
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("fan", (data) => {
    io.to(ROOM).emit("m", data);
  });
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
});

httpServer.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
