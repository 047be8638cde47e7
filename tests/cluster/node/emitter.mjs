// Node's @socket.io/redis-emitter, run once: a process that holds no connections emits to
// a Socket.IO cluster through Redis, then exits.
//
// Usage: node emitter.mjs <redis-url> <key> <json list of operations>
// Operations (run in order):
//   {"op":"emit","nsp":"/","rooms":[..],"except":[..],"event":"ev","args":[..]}
//   {"op":"socketsJoin","nsp":"/","rooms":[..],"join":[..]}
//   {"op":"socketsLeave","nsp":"/","rooms":[..],"leave":[..]}
//   {"op":"disconnectSockets","nsp":"/","rooms":[..],"close":false}
//   {"op":"serverSideEmit","nsp":"/","event":"ev","args":[..]}
// Prints {"type":"done","count":n} once every PUBLISH is acknowledged by Redis.

import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

const [redisUrl, key, opsJson] = process.argv.slice(2);
const ops = JSON.parse(opsJson ?? "[]");
const client = createClient({ url: redisUrl });
await client.connect();
const root = new Emitter(client, { key });

function target(op) {
  let emitter = root.of(op.nsp ?? "/");
  let target = emitter;
  if (op.rooms && op.rooms.length) target = target.to(op.rooms);
  if (op.except && op.except.length) target = target.except(op.except);
  return { emitter, target };
}

for (const op of ops) {
  const { emitter, target: t } = target(op);
  switch (op.op) {
    case "emit":
      t.emit(op.event, ...(op.args ?? []));
      break;
    case "socketsJoin":
      t.socketsJoin(op.join);
      break;
    case "socketsLeave":
      t.socketsLeave(op.leave);
      break;
    case "disconnectSockets":
      t.disconnectSockets(Boolean(op.close));
      break;
    case "serverSideEmit":
      emitter.serverSideEmit(op.event, ...(op.args ?? []));
      break;
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}
await client.ping(); // commands are pipelined in order: every PUBLISH went before this answer
process.stdout.write(JSON.stringify({ type: "done", count: ops.length }) + "\n");
await client.quit();
