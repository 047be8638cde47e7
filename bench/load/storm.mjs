// The reconnect storm's clients (driven by bench/recovery_storm.py over stdin/stdout).
//
//   node bench/load/storm.mjs --port P --n 1000 [--missed 10] [--deadline 300]
//
// Commands, one a line on stdin; each answers one JSON line on stdout:
//   start   connect n raw clients, note their sid and pid, join room "bench"; a sender
//           broadcasts `missed` events and every client notes the offset of the last one
//   missed  (server restarted, clients away) a fresh sender broadcasts `missed` more events
//   storm   all n reconnect at once with 40{"pid","offset"}: who got their old sid back,
//           when, and whether the missed events were replayed
import { connectMany, ROOM, sleep, WsClient } from "./sio.mjs";
import readline from "node:readline";

const opts = { port: 0, n: 1000, missed: 10, deadline: 300 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "");
  if (!(key in opts)) throw new Error(`unknown option ${process.argv[i]}`);
  opts[key] = Number(process.argv[i + 1]);
}
setTimeout(() => {
  console.error(`storm: deadline of ${opts.deadline}s passed`);
  process.exit(3);
}, opts.deadline * 1000).unref();

const say = (obj) => console.log(JSON.stringify(obj));
let clients = []; // { client, sid, pid, offset, events }

/** The arguments of an EVENT packet from s to e: ["m", data, offset]. */
function eventArgs(buf, s, e) {
  return JSON.parse(buf.toString("utf8", s + 2, e));
}

async function waitUntil(cond, ms) {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(5);
  return cond();
}

async function broadcast(count) {
  const { clients: senders } = await connectMany(opts.port, 1, 1, true);
  if (!senders.length) throw new Error("the sender failed to connect");
  for (let i = 0; i < count; i++) senders[0].emit("fan", `|${i}|0|missed`);
  await senders[0].emitWithAck("echo", "sync"); // handled after the fans on this connection
  return senders[0];
}

async function start() {
  const { clients: raw, failed } = await connectMany(opts.port, opts.n, 64, true);
  clients = raw.map((client) => {
    const answer = JSON.parse(client.answer || "{}");
    const entry = { client, sid: answer.sid, pid: answer.pid, offset: null, events: 0 };
    client.onEventAt = (buf, s, e) => {
      const args = eventArgs(buf, s, e);
      entry.events += 1;
      if (args.length >= 3) entry.offset = args[args.length - 1];
    };
    return entry;
  });
  for (let i = 0; i < clients.length; i += 200) {
    await Promise.all(clients.slice(i, i + 200).map((c) => c.client.emitWithAck("join", ROOM)));
  }
  const sender = await broadcast(opts.missed);
  const all = await waitUntil(() => clients.every((c) => c.events >= opts.missed), 15000);
  sender.terminate();
  say({
    phase: "ready",
    connected: clients.length,
    failed,
    with_pid: clients.filter((c) => c.pid).length,
    with_offset: clients.filter((c) => c.offset).length,
    all_received: all,
  });
}

async function missed() {
  await waitUntil(() => clients.every((c) => c.client.closed), 10000);
  const sender = await broadcast(opts.missed);
  sender.terminate();
  say({ phase: "missed", closed: clients.filter((c) => c.client.closed).length });
}

async function storm() {
  const t0 = performance.now();
  const times = [];
  let recovered = 0;
  let failed = 0;
  const fresh = [];
  await Promise.all(
    clients.map(async (c) => {
      const client = new WsClient(opts.port, true);
      const got = { events: 0 };
      fresh.push({ client, got, c });
      client.onEventAt = () => {
        got.events += 1;
      };
      client.connectPacket = `40${JSON.stringify({ pid: c.pid, offset: c.offset })}`;
      try {
        await client.connect(30000);
      } catch {
        failed += 1;
        return;
      }
      const answer = JSON.parse(client.answer || "{}");
      if (answer.sid === c.sid) {
        recovered += 1;
        times.push(performance.now() - t0);
      }
    }),
  );
  const allMs = performance.now() - t0;
  await sleep(500); // replayed events come before the CONNECT answer; stragglers anyway
  times.sort((a, b) => a - b);
  const at = (q) => (times.length ? times[Math.min(times.length - 1, Math.floor(q * times.length))] : null);
  const replayed = fresh.filter((f) => f.got.events >= opts.missed).length;
  // recovered clients by how many of the missed events they were replayed
  const replayedCounts = {};
  for (const f of fresh) {
    if (JSON.parse(f.client.answer || "{}").sid !== f.c.sid) continue;
    replayedCounts[f.got.events] = (replayedCounts[f.got.events] || 0) + 1;
  }
  for (const f of fresh) f.client.terminate();
  say({
    phase: "storm",
    n: clients.length,
    recovered,
    failed,
    all_done_ms: allMs,
    all_recovered_ms: recovered === clients.length ? at(1) : null,
    p50_ms: at(0.5),
    p99_ms: at(0.99),
    replayed_ok: replayed,
    replayed_counts: replayedCounts,
  });
}

const commands = { start, missed, storm };
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const command = commands[line.trim()];
  if (command === undefined) {
    say({ error: `unknown command ${line}` });
    continue;
  }
  try {
    await command();
  } catch (err) {
    say({ error: String(err?.stack || err) });
  }
}
process.exit(0);
