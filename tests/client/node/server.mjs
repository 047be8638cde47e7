// A real Node socket.io@4.8 server for the Python client tests.
//
// Usage: node server.mjs <port> [options-json] [max-seconds]
//   port 0 picks a free port; the first record says which: {"type":"listening","port":N}.
//   options: {"recovery": true} turns connectionStateRecovery on;
//            {"pingInterval": ms, "pingTimeout": ms} are passed on;
//            {"parser": "msgpack"} uses the npm socket.io-msgpack-parser.
//
// Commands arrive on stdin, one JSON object per line; what the server sees is reported on
// stdout, one JSON object per line. Binary values travel as {"$bin": "<base64>"}.
//
// Namespaces: "/" and "/admin" accept everyone; "/private" wants auth {"token":"secret"}
// and refuses others with Error("not authorized") and data {"code": 401}.
// Events every namespace handles:
//   echo(...args, ack)        acks with the same arguments
//   join(room, ack)           joins the room, acks with the socket's rooms
//   dedupe({id, drop}, ack)   processes each id once (record "processed"); does not ack the
//                             first `drop` deliveries of an id, acks the later ones "ok:<id>"
// Commands:
//   {"cmd":"emit","nsp":"/","sid":..,"event":..,"args":[..]}            socket.emit
//   {"cmd":"emit","nsp":"/","sid":..,"event":..,"args":[..],"req":"r1"} with an ack:
//        {"type":"ack","req":..,"args":[..]} or {"type":"ack_error","req":..,"message":..}
//   {"cmd":"broadcast","nsp":"/","room":..,"event":..,"args":[..]}      io.to(room).emit
//   {"cmd":"on_disconnect","broadcasts":[{"room":..,"event":..,"args":[..]}, ..]}
//        at the next disconnect, broadcast those (from the disconnect handler, so they are
//        missed by the client that left)
//   {"cmd":"disconnect","nsp":"/","sid":..}                             socket.disconnect()
//   {"cmd":"drop","nsp":"/","sid":..}         socket.conn.close(): the connection goes, the
//                                             client sees "transport close" and reconnects
//   {"cmd":"close"}                           io.close(), then exit
// Records: listening, connect, event, raw (each packet text of "dedupe"), processed,
// disconnect, ack, ack_error, bad_command, lifetime_exceeded.

import { createServer } from "node:http";
import { createRequire } from "node:module";
import readline from "node:readline";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? "0");
const options = JSON.parse(process.argv[3] ?? "{}");
const maxMs = Number(process.argv[4] ?? "120") * 1000;

function toWire(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(toWire);
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

const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: options.pingInterval ?? 25000,
  pingTimeout: options.pingTimeout ?? 20000,
  connectionStateRecovery: options.recovery
    ? { maxDisconnectionDuration: 60000, skipMiddlewares: true }
    : undefined,
  ...(options.parser === "msgpack"
    ? { parser: createRequire(import.meta.url)("socket.io-msgpack-parser") }
    : {}),
});

const seen = new Map(); // dedupe id -> deliveries
let onDisconnect = null;

function install(nsp) {
  nsp.on("connection", (socket) => {
    const sid = socket.id;
    const name = nsp.name;
    out({
      type: "connect",
      nsp: name,
      sid,
      recovered: socket.recovered,
      auth: socket.handshake.auth,
      query: socket.handshake.query,
      header: socket.handshake.headers["x-test"] ?? null,
      transport: socket.conn.transport.name,
    });
    socket.conn.on("packet", (packet) => {
      if (typeof packet.data === "string" && packet.data.includes('"dedupe"')) {
        out({ type: "raw", nsp: name, sid, data: packet.data });
      }
    });
    socket.onAny((event, ...args) => {
      const last = args.length > 0 ? args[args.length - 1] : undefined;
      const ack = typeof last === "function";
      out({ type: "event", nsp: name, sid, event, args: ack ? args.slice(0, -1) : args, ack });
    });
    socket.on("echo", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack([...socket.rooms].sort());
    });
    socket.on("dedupe", (msg, ack) => {
      const deliveries = (seen.get(msg.id) ?? 0) + 1;
      seen.set(msg.id, deliveries);
      if (deliveries === 1) out({ type: "processed", nsp: name, sid, id: msg.id });
      if (deliveries > (msg.drop ?? 0) && typeof ack === "function") ack(`ok:${msg.id}`);
    });
    socket.on("disconnect", (reason) => {
      out({ type: "disconnect", nsp: name, sid, reason });
      const broadcasts = onDisconnect ?? [];
      onDisconnect = null;
      for (const { room, event, args } of broadcasts) {
        io.of(name).to(room).emit(event, ...fromWire(args ?? []));
      }
    });
  });
}

install(io.of("/"));
install(io.of("/admin"));
const restricted = io.of("/private");
restricted.use((socket, next) => {
  if (socket.handshake.auth?.token === "secret") return next();
  const err = new Error("not authorized");
  err.data = { code: 401 };
  next(err);
});
install(restricted);

function socketOf(cmd) {
  return io.of(cmd.nsp ?? "/").sockets.get(cmd.sid);
}

function handle(cmd) {
  switch (cmd.cmd) {
    case "emit": {
      const socket = socketOf(cmd);
      if (socket === undefined) return out({ type: "bad_command", cmd, message: "no such socket" });
      const args = fromWire(cmd.args ?? []);
      if (cmd.req === undefined) return socket.emit(cmd.event, ...args);
      socket.timeout(cmd.timeout ?? 5000).emit(cmd.event, ...args, (err, ...res) => {
        if (err) out({ type: "ack_error", req: cmd.req, message: err.message });
        else out({ type: "ack", req: cmd.req, args: res });
      });
      return;
    }
    case "broadcast":
      io.of(cmd.nsp ?? "/").to(cmd.room).emit(cmd.event, ...fromWire(cmd.args ?? []));
      return;
    case "on_disconnect":
      onDisconnect = cmd.broadcasts;
      return;
    case "disconnect":
      socketOf(cmd)?.disconnect();
      return;
    case "drop":
      socketOf(cmd)?.conn.close();
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
  try {
    handle(JSON.parse(line));
  } catch (err) {
    out({ type: "bad_command", line, message: String(err?.stack ?? err) });
  }
});
lines.on("close", () => io.close(() => exit(0)));

httpServer.listen(port, "127.0.0.1", () => {
  out({ type: "listening", port: httpServer.address().port });
});
