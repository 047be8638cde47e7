// General-purpose driver for the official socket.io-client, used by the Python
// integration tests.
//
// Usage: node client.mjs <server-url> [max-seconds]
//
// Commands arrive on stdin, one JSON object per line; everything that happens is
// reported on stdout, one JSON object per line. Binary values travel in both
// directions as {"$bin": "<base64>"} and become Buffers on this side.
//
// Commands ("id" names one client socket created by "connect"):
//   {"cmd":"connect","id":"a","nsp":"/","opts":{...},"acks":{...}}
//       opts go to io(); defaults: forceNew true, reconnection false.
//       "parser":"msgpack" in opts uses the npm socket.io-msgpack-parser.
//       "authQueue":[{...},...] makes opts.auth a callback handing out these auths in
//       order (the last one again once they run out), reporting {"type":"auth",...};
//       "reconnectOnServerDisconnect":true calls socket.connect() after an
//       "io server disconnect" (the pattern socket.io's docs give).
//       acks says how to answer server events that ask for an ack:
//       {"ev": "echo"} (default: ack with the same arguments),
//       {"ev": {"reply": [...]}} (ack with these arguments), {"ev": "never"}.
//   {"cmd":"acks","id":"a","acks":{...}}          replace the ack policies
//   {"cmd":"emit","id":"a","event":"ev","args":[...]}
//   {"cmd":"emit","id":"a","event":"ev","args":[...],"ack":true,"req":"r1"[,"timeout":ms]}
//       callback form; reports {"type":"ack","req":..,"args":[...]} or
//       {"type":"ack_error","req":..,"message":..}
//   {"cmd":"emitWithAck","id":"a","event":"ev","args":[...],"req":"r1"[,"timeout":ms]}
//       promise form; reports {"type":"ack","req":..,"args":[value]} or ack_error
//   {"cmd":"transport","id":"a","req":"r1"}     -> {"type":"result","req":..,"transport":..}
//   {"cmd":"disconnect","id":"a"}
//   {"cmd":"cut","id":"a"[,"pause":true][,"url":"http://..."]}
//       closes the Engine.IO connection under the socket (socket.io.engine.close()): the
//       client sees "forced close", the server "transport close"; with reconnection on,
//       the client reconnects by itself
//       (sending pid and offset when the server offers recovery). "pause": it does not
//       reconnect until "resume"; "url": it reconnects to that server instead.
//   {"cmd":"resume","id":"a"}                    reconnect after a paused cut
//   {"cmd":"state","id":"a","req":"r1"}
//       -> {"type":"result","req":..,"sid":..,"pid":..,"offset":..,"recovered":..}
//   {"cmd":"exit"}
//
// The connect record carries "recovered" (socket.recovered).
//
// Records: ready, open, upgrade, ping (a heartbeat from the server), connect,
// connect_error, disconnect, event, ack, ack_error, result, bad_command,
// lifetime_exceeded.

import readline from "node:readline";
import { createRequire } from "node:module";
import { io } from "socket.io-client";

const require = createRequire(import.meta.url);

const baseUrl = process.argv[2];
const maxMs = Number(process.argv[3] ?? "60") * 1000;
if (!baseUrl) {
  process.stderr.write("usage: node client.mjs <server-url> [max-seconds]\n");
  process.exit(64);
}

const clients = new Map();

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

function errorRecord(type, id, err, extra = {}) {
  return {
    type,
    id,
    message: err?.message ?? String(err),
    data: err?.data ?? null,
    description: err?.description === undefined ? null : String(err.description),
    ...extra,
  };
}

function answer(client, event, args, ackFn) {
  const policy = client.acks[event] ?? "echo";
  if (policy === "never") return;
  if (policy === "echo") ackFn(...args);
  else ackFn(...fromWire(policy.reply ?? []));
}

function connect(cmd) {
  const nsp = cmd.nsp ?? "/";
  const opts = { forceNew: true, reconnection: false, ...(cmd.opts ?? {}) };
  if (opts.parser === "msgpack") opts.parser = require("socket.io-msgpack-parser");
  if (cmd.authQueue) {
    const queue = [...cmd.authQueue];
    opts.auth = (cb) => {
      const auth = queue.length > 1 ? queue.shift() : queue[0];
      out({ type: "auth", id: cmd.id, auth });
      cb(auth);
    };
  }
  const socket = io(baseUrl + nsp, opts);
  const client = { socket, acks: cmd.acks ?? {}, reconnection: opts.reconnection !== false };
  clients.set(cmd.id, client);
  const id = cmd.id;
  const manager = socket.io;
  manager.on("ping", () => out({ type: "ping", id }));
  manager.on("open", () => {
    const engine = manager.engine;
    out({ type: "open", id, transport: engine.transport.name });
    engine.on("upgrade", (transport) => out({ type: "upgrade", id, transport: transport.name }));
  });
  socket.on("connect", () => {
    out({
      type: "connect",
      id,
      sid: socket.id,
      transport: manager.engine.transport.name,
      recovered: socket.recovered === true,
    });
  });
  socket.on("connect_error", (err) => out(errorRecord("connect_error", id, err)));
  socket.on("disconnect", (reason, details) => {
    out({
      type: "disconnect",
      id,
      reason,
      description: details?.description === undefined ? null : String(details.description),
    });
    if (reason === "io server disconnect" && cmd.reconnectOnServerDisconnect) socket.connect();
  });
  socket.onAny((event, ...args) => {
    const last = args.length > 0 ? args[args.length - 1] : undefined;
    const ackFn = typeof last === "function" ? args.pop() : null;
    out({ type: "event", id, event, args, ack: ackFn !== null });
    if (ackFn !== null) answer(client, event, args, ackFn);
  });
}

function emit(cmd, client) {
  const args = fromWire(cmd.args ?? []);
  const { id, req } = cmd;
  if (!cmd.ack) {
    client.socket.emit(cmd.event, ...args);
    return;
  }
  if (cmd.timeout !== undefined) {
    client.socket.timeout(cmd.timeout).emit(cmd.event, ...args, (err, ...ackArgs) => {
      if (err) out(errorRecord("ack_error", id, err, { req }));
      else out({ type: "ack", id, req, args: ackArgs });
    });
  } else {
    client.socket.emit(cmd.event, ...args, (...ackArgs) => out({ type: "ack", id, req, args: ackArgs }));
  }
}

async function emitWithAck(cmd, client) {
  const args = fromWire(cmd.args ?? []);
  const { id, req } = cmd;
  const target = cmd.timeout !== undefined ? client.socket.timeout(cmd.timeout) : client.socket;
  try {
    const value = await target.emitWithAck(cmd.event, ...args);
    out({ type: "ack", id, req, args: [value] });
  } catch (err) {
    out(errorRecord("ack_error", id, err, { req }));
  }
}

// Exit once everything written to stdout is flushed: process.exit() alone can cut
// a big record short when stdout is a pipe.
function exit(code) {
  process.stdout.write("", () => process.exit(code));
}

function handle(cmd) {
  if (cmd.cmd === "exit") {
    for (const { socket } of clients.values()) socket.disconnect();
    exit(0);
    return;
  }
  if (cmd.cmd === "connect") return connect(cmd);
  const client = clients.get(cmd.id);
  if (client === undefined) {
    out({ type: "bad_command", cmd, message: `unknown client ${cmd.id}` });
    return;
  }
  switch (cmd.cmd) {
    case "acks":
      client.acks = cmd.acks ?? {};
      return;
    case "emit":
      return emit(cmd, client);
    case "emitWithAck":
      return emitWithAck(cmd, client);
    case "transport":
      out({ type: "result", id: cmd.id, req: cmd.req, transport: client.socket.io.engine?.transport?.name ?? null });
      return;
    case "disconnect":
      client.socket.disconnect();
      return;
    case "cut": {
      const manager = client.socket.io;
      if (cmd.pause) manager.reconnection(false);
      if (cmd.url) manager.uri = cmd.url;
      manager.engine?.close();
      return;
    }
    case "resume":
      client.socket.io.reconnection(client.reconnection);
      client.socket.connect();
      return;
    case "state":
      out({
        type: "result",
        id: cmd.id,
        req: cmd.req,
        sid: client.socket.id ?? null,
        pid: client.socket._pid ?? null,
        offset: client.socket._lastOffset ?? null,
        recovered: client.socket.recovered === true,
      });
      return;
    default:
      out({ type: "bad_command", cmd, message: "unknown command" });
  }
}

setTimeout(() => {
  out({ type: "lifetime_exceeded", seconds: maxMs / 1000 });
  exit(3);
}, maxMs);

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
  try {
    handle(cmd);
  } catch (err) {
    out({ type: "bad_command", cmd, message: String(err?.stack ?? err) });
  }
});
lines.on("close", () => exit(0));

out({ type: "ready", pid: process.pid });
