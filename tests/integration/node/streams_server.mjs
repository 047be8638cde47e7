// A real Node socket.io@4.8 server with @socket.io/redis-streams-adapter and
// connection-state recovery, for the mixed Python/Node recovery tests: it shares a Redis
// stream and the session keys with roomcast servers.
//
// Usage: node streams_server.mjs <port> <options-json> [max-seconds]
//   port 0 picks a free port; the first record says which: {"type":"listening","port":N}.
//   options: {"redis": "redis://127.0.0.1:6379/0", "streamName": "socket.io",
//             "sessionKeyPrefix": "sio:session:" (optional: the adapter's default)}
//   connectionStateRecovery: {maxDisconnectionDuration: 120000, skipMiddlewares: true}.
//
// Same conventions as client.mjs: JSON commands on stdin, one per line; JSON records on
// stdout, one per line.
//
// Events on "/" (the same as examples/recovery/app.py):
//   join(room, ack)              joins the room, acks {rooms: [...]} (sorted)
//   publish({room, text}, ack)   io.to(room).emit("message", {room, text}), acks {offset}
//                                once the adapter has appended it to the stream
//   whoami(ack)                  acks {id, rooms: [...], recovered}
// Commands:
//   {"cmd":"publish","req":"r1","room":..,"text":..}   the same as the publish event,
//                                                      -> {"type":"result","req":..,"offset":..}
//   {"cmd":"close"}                                    io.close(), then exit
// Records: listening, connect {sid, recovered, rooms}, disconnect {sid, reason}, result,
// redis_error, bad_command, lifetime_exceeded.

import { createServer } from "node:http";
import readline from "node:readline";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? "0");
const options = JSON.parse(process.argv[3] ?? "{}");
const maxMs = Number(process.argv[4] ?? "120") * 1000;

function out(record) {
  process.stdout.write(JSON.stringify(record) + "\n");
}

function exit(code) {
  process.stdout.write("", () => process.exit(code));
}

const redis = createClient({ url: options.redis ?? "redis://127.0.0.1:6379/0" });
redis.on("error", (err) => out({ type: "redis_error", message: String(err) }));
await redis.connect();

const adapterOptions = { streamName: options.streamName ?? "socket.io" };
if (options.sessionKeyPrefix !== undefined) adapterOptions.sessionKeyPrefix = options.sessionKeyPrefix;

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter: createAdapter(redis, adapterOptions),
  connectionStateRecovery: { maxDisconnectionDuration: 120000, skipMiddlewares: true },
});

// The offset of the last broadcast sent from here: the adapter appends the packet to the
// stream, pushes the entry's id as its last argument, then sends it to the local clients.
// (Entries of other nodes come through ClusterAdapter.onMessage, which calls the base
// class's broadcast, not this one.)
const adapter = io.of("/").adapter;
const broadcast = adapter.broadcast.bind(adapter);
let lastBroadcast = Promise.resolve(null);
adapter.broadcast = (packet, opts) => {
  const done = broadcast(packet, opts);
  lastBroadcast = Promise.resolve(done).then(() => packet.data[packet.data.length - 1]);
  return done;
};

function publish(room, text) {
  io.to(room).emit("message", { room, text });
  return lastBroadcast;
}

const sortedRooms = (socket) => [...socket.rooms].sort();

io.on("connection", (socket) => {
  out({ type: "connect", sid: socket.id, recovered: socket.recovered, rooms: sortedRooms(socket) });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack({ rooms: sortedRooms(socket) });
  });
  socket.on("publish", async (message, ack) => {
    const offset = await publish(message.room, message.text);
    if (typeof ack === "function") ack({ offset });
  });
  socket.on("whoami", (ack) => {
    ack({ id: socket.id, rooms: sortedRooms(socket), recovered: socket.recovered });
  });
  socket.on("disconnect", (reason) => out({ type: "disconnect", sid: socket.id, reason }));
});

async function handle(cmd) {
  switch (cmd.cmd) {
    case "publish":
      out({ type: "result", req: cmd.req, offset: await publish(cmd.room, cmd.text) });
      return;
    case "close":
      io.close(() => exit(0));
      return;
    default:
      out({ type: "bad_command", cmd, message: "unknown command" });
  }
}

setTimeout(() => {
  out({ type: "lifetime_exceeded", seconds: maxMs / 1000 });
  exit(3);
}, maxMs).unref();

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() === "") return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    out({ type: "bad_command", line, message: String(err) });
    return;
  }
  handle(cmd).catch((err) => out({ type: "bad_command", cmd, message: String(err?.stack ?? err) }));
});
lines.on("close", () => io.close(() => exit(0)));

httpServer.listen(port, "127.0.0.1", () => {
  out({ type: "listening", port: httpServer.address().port });
});
