// A real Node socket.io server with @socket.io/redis-adapter, driven by the Python
// mixed-cluster tests: it joins a roomcast cluster through Redis.
//
// Usage: node server.mjs <redis-url> <key> [requests-timeout-ms] [max-seconds]
//
// Same conventions as tests/integration/node/client.mjs: JSON commands on stdin, one per
// line; JSON records on stdout, one per line; binary as {"$bin": "<base64>"}.
//
// Records: ready {port}, connection {sid}, disconnect {sid, reason}, server_side {event,
// args, ack}, result {req, ...}, error {req, message, responses}, bad_command.
// Socket handlers: "join" (rooms) -> sorted rooms, "echo" (...args) -> args.
// Server-side handlers: "who" (arg) -> {node: "node", arg}, any other event is recorded.
//
// Commands ("req" names the answer record):
//   {"cmd":"emit","rooms":[..],"except":[..],"event":"ev","args":[..]}
//   {"cmd":"emitWithAck","req":"r1","rooms":[..],"event":"ev","args":[..],"timeout":ms}
//   {"cmd":"fetchSockets","req":"r1","rooms":[..]}   -> result {sockets: [{id, rooms, data, handshake}]}
//   {"cmd":"remoteEmit","req":"r1","sid":"..","event":"ev","args":[..]}  via fetchSockets
//   {"cmd":"serverSideEmit","event":"ev","args":[..]}
//   {"cmd":"serverSideEmitWithAck","req":"r1","event":"ev","args":[..]} -> result {responses}
//   {"cmd":"socketsJoin","req":"r1","rooms":[..],"join":[..]}
//   {"cmd":"disconnectSockets","req":"r1","rooms":[..],"close":false}
//   {"cmd":"allRooms","req":"r1"}                     -> result {rooms}
//   {"cmd":"serverCount","req":"r1"}                  -> result {count}
//   {"cmd":"exit"}

import { createServer } from "node:http";
import readline from "node:readline";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const [redisUrl, key, timeoutArg, maxArg] = process.argv.slice(2);
if (!redisUrl || !key) {
  process.stderr.write("usage: node server.mjs <redis-url> <key> [requests-timeout-ms] [max-seconds]\n");
  process.exit(64);
}
const requestsTimeout = Number(timeoutArg ?? "2000");
const maxMs = Number(maxArg ?? "60") * 1000;

function toWire(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(toWire);
  if (value instanceof Set) return [...value].map(toWire);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value === undefined ? null : value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

function out(record) {
  process.stdout.write(JSON.stringify(toWire(record)) + "\n");
}

function exit(code) {
  process.stdout.write("", () => process.exit(code));
}

const pub = createClient({ url: redisUrl });
const sub = pub.duplicate();
pub.on("error", (err) => out({ type: "redis_error", message: String(err) }));
sub.on("error", (err) => out({ type: "redis_error", message: String(err) }));
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub, { key, requestsTimeout }) });

io.on("connection", (socket) => {
  out({ type: "connection", sid: socket.id });
  socket.on("join", (rooms, cb) => {
    socket.join(rooms);
    if (typeof cb === "function") cb([...socket.rooms].sort());
  });
  socket.on("echo", (...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (cb) cb(...args);
  });
  socket.on("disconnect", (reason) => out({ type: "disconnect", sid: socket.id, reason }));
});

io.on("who", (arg, cb) => {
  out({ type: "server_side", event: "who", args: [arg], ack: typeof cb === "function" });
  if (typeof cb === "function") cb({ node: "node", arg });
});
io.on("note", (...args) => {
  const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
  out({ type: "server_side", event: "note", args, ack: cb !== null });
});

function target(cmd) {
  let op = io.of(cmd.nsp ?? "/");
  if (cmd.rooms && cmd.rooms.length) op = op.to(cmd.rooms);
  if (cmd.except && cmd.except.length) op = op.except(cmd.except);
  return op;
}

function describe(socket) {
  const { headers, ...handshake } = socket.handshake;
  return { id: socket.id, rooms: [...socket.rooms].sort(), data: socket.data, handshake };
}

async function handle(cmd) {
  const { req } = cmd;
  const args = fromWire(cmd.args ?? []);
  switch (cmd.cmd) {
    case "emit":
      target(cmd).emit(cmd.event, ...args);
      return out({ type: "result", req });
    case "emitWithAck": {
      try {
        const responses = await target(cmd).timeout(cmd.timeout ?? 2000).emitWithAck(cmd.event, ...args);
        return out({ type: "result", req, responses });
      } catch (err) {
        return out({ type: "error", req, message: String(err?.message ?? err), responses: err?.responses ?? null });
      }
    }
    case "fetchSockets": {
      const sockets = await target(cmd).fetchSockets();
      return out({ type: "result", req, sockets: sockets.map(describe) });
    }
    case "remoteEmit": {
      const sockets = await io.fetchSockets();
      const socket = sockets.find((s) => s.id === cmd.sid);
      if (socket) socket.emit(cmd.event, ...args);
      return out({ type: "result", req, found: socket !== undefined });
    }
    case "serverSideEmit":
      io.serverSideEmit(cmd.event, ...args);
      return out({ type: "result", req });
    case "serverSideEmitWithAck": {
      try {
        const responses = await io.serverSideEmitWithAck(cmd.event, ...args);
        return out({ type: "result", req, responses });
      } catch (err) {
        return out({ type: "error", req, message: String(err?.message ?? err), responses: err?.responses ?? null });
      }
    }
    case "socketsJoin":
      target(cmd).socketsJoin(cmd.join);
      return out({ type: "result", req });
    case "disconnectSockets":
      target(cmd).disconnectSockets(Boolean(cmd.close));
      return out({ type: "result", req });
    case "allRooms": {
      const rooms = await io.of("/").adapter.allRooms();
      return out({ type: "result", req, rooms: [...rooms].sort() });
    }
    case "serverCount": {
      const count = await io.of("/").adapter.serverCount();
      return out({ type: "result", req, count });
    }
    case "exit":
      io.close();
      await Promise.allSettled([pub.quit(), sub.quit()]);
      return exit(0);
    default:
      return out({ type: "bad_command", cmd, message: "unknown command" });
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
lines.on("close", () => exit(0));

// The adapter subscribed in its constructor without waiting; Redis answers a connection's
// commands in order, so once this later SUBSCRIBE is confirmed, the adapter's are too.
await sub.subscribe(`${key}-probe`, () => {});
http.listen(0, "127.0.0.1", () => out({ type: "ready", port: http.address().port, pid: process.pid }));
