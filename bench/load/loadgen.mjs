// The benchmark's load generator: one scenario against one running server, one JSON line out.
//
//   node bench/load/loadgen.mjs <scenario> --port P --server-pid PID [--key value ...]
//
// Scenarios: fanout, echo, idle, polling, slow (see bench/README.md). Every phase is bounded
// in time; the whole run exits by itself after --deadline seconds. ``--plain 1``: fanout and
// echo against plain WebSocket endpoints (/fan, /echo) instead of Socket.IO.
import {
  connectMany,
  cpuSeconds,
  nowUs,
  ownCpuSeconds,
  parseStampAt,
  payload,
  percentiles,
  PlainClient,
  PollClient,
  ROOM,
  rssBytes,
  sleep,
  stamp,
} from "./sio.mjs";

const scenario = process.argv[2];
const opts = {
  port: 0,
  "server-pid": 0,
  "store-pid": 0, // a store's own process (redis-server): its CPU per message too
  "clk-tck": 100,
  n: 1000,
  rate: 10000, // deliveries/s for the fixed-rate latency phase
  window: 32, // broadcasts in flight at saturation
  size: 100, // payload bytes
  warm: 1.5,
  measure: 5,
  latency: 5,
  concurrency: 64,
  slow: 30,
  deadline: 240,
  announce: 0, // print phase markers on stderr (for the profiler)
  hold: 0, // idle: seconds to hold the connections after measuring
  object: 0, // echo: send {"text": payload} instead of the payload string (validated echo)
  plain: 0, // fanout, echo: plain WebSocket endpoints /fan and /echo, messages the payload
};
for (let i = 3; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "");
  if (!(key in opts)) throw new Error(`unknown option ${process.argv[i]}`);
  opts[key] = Number(process.argv[i + 1]);
}
const pid = opts["server-pid"];
const storePid = opts["store-pid"];
const clk = opts["clk-tck"];
setTimeout(() => {
  console.error(`loadgen: deadline of ${opts.deadline}s passed`);
  process.exit(3);
}, opts.deadline * 1000).unref();

/** Tell the profiler (bench/run.py) which phase starts. */
function phase(name) {
  if (opts.announce) console.error(`phase:${name}`);
}

/** Server CPU, generator CPU and wall clock at one instant; diff two to get a window. */
function probe() {
  const [user, sys] = cpuSeconds(pid, clk);
  const store = storePid ? cpuSeconds(storePid, clk).reduce((x, y) => x + y) : 0;
  return { wall: performance.now() / 1000, server: user + sys, sys, own: ownCpuSeconds(), store };
}

function windowOf(a, b, count) {
  const wall = b.wall - a.wall;
  const server = b.server - a.server;
  return {
    per_s: count / wall,
    server_cpu_us_per_msg: count ? (server / count) * 1e6 : null,
    server_sys_us_per_msg: count ? ((b.sys - a.sys) / count) * 1e6 : null,
    server_cpu_pct: (100 * server) / wall,
    loadgen_cpu_pct: (100 * (b.own - a.own)) / wall,
    ...(storePid
      ? {
          store_cpu_us_per_msg: count ? ((b.store - a.store) / count) * 1e6 : null,
          store_cpu_pct: (100 * (b.store - a.store)) / wall,
        }
      : {}),
    seconds: wall,
    count,
  };
}

async function joinAll(clients) {
  for (let i = 0; i < clients.length; i += 200) {
    await Promise.all(clients.slice(i, i + 200).map((c) => c.emitWithAck("join", ROOM)));
  }
}

async function waitUntil(cond, ms) {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(5);
  return cond();
}

/**
 * A room of receivers and one sender (not in the room). Counts deliveries; at saturation keeps
 * ``window`` broadcasts in flight, a broadcast leaving the window once every counted receiver
 * has it. ``counted`` receivers: all but the slow one in the slow scenario.
 */
class Room {
  constructor(receivers, sender, counted) {
    this.sender = sender;
    this.target = counted;
    this.counts = new Uint32Array(1 << 16);
    this.sent = 0;
    this.completed = 0;
    this.received = 0;
    this.latencies = null; // an array while latencies are recorded
    this.first = null; // per broadcast: the earliest and latest delivery (fixed rate)
    this.last = null;
    this.seq0 = 0;
    this.skip = opts.plain ? 0 : 4; // where the stamp may start: past 42[" unless plain
    this.saturate = false;
    this.window = opts.window;
    const onEventAt = (buf, start) => this.onEvent(buf, start);
    for (const c of receivers) c.onEventAt = onEventAt;
  }

  onEvent(buf, start) {
    parseStampAt(buf, start, this.skip);
    this.received += 1;
    if (this.latencies !== null) {
      const lat = nowUs() - stamp.t;
      this.latencies.push(lat);
      const j = stamp.seq - this.seq0;
      if (j >= 0 && j < this.first.length) {
        if (lat < this.first[j]) this.first[j] = lat;
        if (lat > this.last[j]) this.last[j] = lat;
      }
    }
    const k = stamp.seq & 0xffff;
    if (++this.counts[k] === this.target) {
      this.counts[k] = 0;
      this.completed += 1;
      if (this.saturate) this.pump();
    }
  }

  sendOne() {
    this.sender.emit("fan", payload(this.sent, opts.size));
    this.sent += 1;
  }

  pump() {
    while (this.sent - this.completed < this.window) this.sendOne();
  }

  async drain(ms = 3000) {
    this.saturate = false;
    await waitUntil(() => this.completed >= this.sent, ms);
    // anything lost is forgotten so the next phase starts clean
    this.counts.fill(0);
    this.completed = this.sent;
  }

  /** Saturation: warm up, then measure deliveries/s over ``seconds``. */
  async saturation(seconds) {
    this.saturate = true;
    this.pump();
    await sleep(opts.warm * 1000);
    phase("saturation");
    const r0 = this.received;
    const a = probe();
    await sleep(seconds * 1000);
    const b = probe();
    const result = windowOf(a, b, this.received - r0);
    await this.drain();
    return result;
  }

  /** A fixed rate of broadcasts (``msgRate`` per second): latency of every delivery. */
  async fixedRate(msgRate, seconds) {
    const run = async (record) => {
      const length = record ? seconds : Math.min(2, seconds);
      const start = performance.now();
      const sent0 = this.sent;
      const r0 = this.received;
      const a = probe();
      this.latencies = record ? [] : null;
      const broadcasts = Math.ceil(msgRate * length) + 2;
      this.first = new Float64Array(broadcasts).fill(Number.POSITIVE_INFINITY);
      this.last = new Float64Array(broadcasts);
      this.seq0 = this.sent;
      if (record) phase("latency");
      while (performance.now() - start < length * 1000) {
        const due = Math.floor(((performance.now() - start) / 1000) * msgRate) + 1;
        while (this.sent - sent0 < due) this.sendOne();
        await sleep(1);
      }
      await waitUntil(() => this.completed >= this.sent, 3000);
      const b = probe();
      const lat = this.latencies;
      this.latencies = null;
      const sentHere = Math.min(this.sent - sent0, this.first.length);
      const first = Array.from(this.first.subarray(0, sentHere)).filter(Number.isFinite);
      const last = Array.from(this.last.subarray(0, sentHere)).filter((x) => x > 0);
      await this.drain();
      return { ...windowOf(a, b, this.received - r0), lat, first, last };
    };
    await run(false); // warm-up
    const w = await run(true);
    return {
      rate_per_s: msgRate * this.target,
      ...percentiles(w.lat),
      first_delivery_p50_ms: percentiles(w.first).p50_ms,
      last_delivery_p50_ms: percentiles(w.last).p50_ms,
      last_delivery_p99_ms: percentiles(w.last).p99_ms,
      server_cpu_us_per_msg: w.server_cpu_us_per_msg,
      server_sys_us_per_msg: w.server_sys_us_per_msg,
      server_cpu_pct: w.server_cpu_pct,
      loadgen_cpu_pct: w.loadgen_cpu_pct,
      store_cpu_us_per_msg: w.store_cpu_us_per_msg,
    };
  }
}

async function setupRoom(n) {
  if (opts.plain) return setupPlainRoom(n);
  const { clients, failed } = await connectMany(opts.port, n, opts.concurrency, true);
  if (failed) throw new Error(`${failed} of ${n} clients failed to connect`);
  await joinAll(clients);
  const { clients: senders } = await connectMany(opts.port, 1, 1, false);
  if (!senders.length) throw new Error("the sender failed to connect");
  return { clients, sender: senders[0] };
}

/** Plain WebSocket: every client of /fan gets what another sends there; nothing to join. */
async function setupPlainRoom(n) {
  const make = () => new PlainClient(opts.port, "/fan");
  const { clients, failed } = await connectMany(opts.port, n, opts.concurrency, make);
  if (failed) throw new Error(`${failed} of ${n} clients failed to connect`);
  const { clients: senders } = await connectMany(opts.port, 1, 1, make);
  if (!senders.length) throw new Error("the sender failed to connect");
  return { clients, sender: senders[0] };
}

async function fanout() {
  const { clients, sender } = await setupRoom(opts.n);
  const room = new Room(clients, sender, clients.length);
  const latency = await room.fixedRate(opts.rate / opts.n, Math.min(opts.latency, 30));
  const saturation = await room.saturation(opts.measure);
  for (const c of [...clients, sender]) c.terminate();
  return { n: opts.n, saturation, latency };
}

async function echo() {
  // raw frames: at ~100k acks/s ws's per-message machinery took the generator over 90%
  if (opts.plain) return plainEcho();
  const { clients, failed } = await connectMany(opts.port, opts.n, opts.concurrency, true);
  if (failed) throw new Error(`${failed} clients failed to connect`);
  let running = true;
  let acks = 0;
  let latencies = null;
  for (const c of clients) {
    let sentAt = 0;
    let id = 0;
    const send = () => {
      id += 1;
      sentAt = nowUs();
      const text = `"${payload(id, opts.size)}"`;
      c.sendRaw(`42${id}["echo",${opts.object ? `{"text":${text}}` : text}]`);
    };
    c.onAck = () => {
      acks += 1;
      if (latencies !== null) latencies.push(nowUs() - sentAt);
      if (running) send();
    };
    send();
  }
  await sleep(opts.warm * 1000);
  phase("measure");
  const a0 = acks;
  const a = probe();
  latencies = [];
  await sleep(opts.measure * 1000);
  const b = probe();
  const lat = latencies;
  latencies = null;
  running = false;
  const result = { n: clients.length, ...windowOf(a, b, acks - a0), ...percentiles(lat) };
  await sleep(200);
  for (const c of clients) c.terminate();
  return result;
}

/** Echo on a plain endpoint: each client sends the payload, and the next one when it is back. */
async function plainEcho() {
  const make = () => new PlainClient(opts.port, "/echo");
  const { clients, failed } = await connectMany(opts.port, opts.n, opts.concurrency, make);
  if (failed) throw new Error(`${failed} clients failed to connect`);
  let running = true;
  let acks = 0;
  let latencies = null;
  for (const c of clients) {
    let sentAt = 0;
    let id = 0;
    const send = () => {
      id += 1;
      sentAt = nowUs();
      c.sendRaw(payload(id, opts.size));
    };
    c.onEventAt = () => {
      acks += 1;
      if (latencies !== null) latencies.push(nowUs() - sentAt);
      if (running) send();
    };
    send();
  }
  await sleep(opts.warm * 1000);
  phase("measure");
  const a0 = acks;
  const a = probe();
  latencies = [];
  await sleep(opts.measure * 1000);
  const b = probe();
  const lat = latencies;
  latencies = null;
  running = false;
  const result = { n: clients.length, ...windowOf(a, b, acks - a0), ...percentiles(lat) };
  await sleep(200);
  for (const c of clients) c.terminate();
  return result;
}

async function idle() {
  const rss0 = rssBytes(pid);
  const a = probe();
  phase("connect");
  const { clients, failed } = await connectMany(opts.port, opts.n, opts.concurrency, true, 150000);
  const b = probe();
  await sleep(3000); // let the server settle (timers, GC)
  const rss1 = rssBytes(pid);
  const connected = clients.length;
  const lost = clients.filter((c) => c.closed).length;
  if (opts.hold) {
    phase("held");
    await sleep(opts.hold * 1000);
  }
  for (const c of clients) c.terminate();
  return {
    n: opts.n,
    connected,
    failed,
    lost_while_idle: lost,
    connects_per_s: connected / (b.wall - a.wall),
    server_cpu_us_per_connect: ((b.server - a.server) / Math.max(1, connected)) * 1e6,
    server_sys_us_per_connect: ((b.sys - a.sys) / Math.max(1, connected)) * 1e6,
    server_cpu_pct: (100 * (b.server - a.server)) / (b.wall - a.wall),
    loadgen_cpu_pct: (100 * (b.own - a.own)) / (b.wall - a.wall),
    rss_before: rss0,
    rss_after: rss1,
    bytes_per_conn: (rss1 - rss0) / Math.max(1, connected),
  };
}

async function polling() {
  const clients = [];
  let acks = 0;
  let latencies = null;
  let running = true;
  for (let i = 0; i < opts.n; i++) clients.push(new PollClient(opts.port));
  const opened = await Promise.allSettled(clients.map((c) => c.open()));
  const failed = opened.filter((r) => r.status === "rejected").length;
  if (failed) throw new Error(`${failed} polling clients failed the handshake`);
  if (!(await waitUntil(() => clients.every((c) => c.connected), 15000))) {
    throw new Error("polling clients did not all join the namespace");
  }
  for (const c of clients) {
    let sentAt = 0;
    let id = 0;
    const send = () => {
      id += 1;
      sentAt = nowUs();
      c.send(`42${id}["echo","${payload(id, opts.size)}"]`);
    };
    c.onAck = () => {
      acks += 1;
      if (latencies !== null) latencies.push(nowUs() - sentAt);
      if (running) send();
    };
    send();
  }
  await sleep(opts.warm * 1000);
  phase("measure");
  const a0 = acks;
  const a = probe();
  latencies = [];
  await sleep(opts.measure * 1000);
  const b = probe();
  const lat = latencies;
  latencies = null;
  running = false;
  const errors = clients.reduce((s, c) => s + c.errors, 0);
  const result = { n: clients.length, errors, ...windowOf(a, b, acks - a0), ...percentiles(lat) };
  for (const c of clients) c.close();
  return result;
}

async function slow() {
  const { clients, sender } = await setupRoom(opts.n);
  const slowOne = clients[0];
  const room = new Room(clients.slice(1), sender, clients.length - 1);
  const baseline = await room.saturation(opts.measure);
  slowOne.pause();
  const slowBytes0 = slowOne.bytes;
  // the slow phase: saturation for opts.slow seconds, one sample a second
  room.saturate = true;
  room.pump();
  const samples = [];
  const a = probe();
  const r0 = room.received;
  let last = { ...a, received: r0 };
  for (let s = 0; s < opts.slow; s++) {
    await sleep(1000);
    const now = { ...probe(), received: room.received };
    samples.push({
      t: Math.round(now.wall - a.wall),
      per_s: (now.received - last.received) / (now.wall - last.wall),
      rss: rssBytes(pid),
    });
    last = now;
  }
  const b = probe();
  const whole = windowOf(a, b, room.received - r0);
  await room.drain();
  const tail = samples.slice(-10);
  const tailRate = tail.reduce((s, x) => s + x.per_s, 0) / tail.length;
  const rss = samples.map((x) => x.rss);
  // wake the slow client: did the server keep its data, or disconnect it?
  const before = slowOne.bytes;
  slowOne.resume();
  await sleep(2000);
  const result = {
    n: opts.n,
    size: opts.size,
    baseline,
    slow: whole,
    others_rate_ratio: whole.per_s / baseline.per_s,
    others_tail_rate_ratio: tailRate / baseline.per_s,
    rss_start: rss[0],
    rss_max: Math.max(...rss),
    rss_end: rss[rss.length - 1],
    samples,
    slow_client_bytes_before_pause: slowBytes0,
    slow_client_bytes_after_resume: slowOne.bytes - before,
    slow_client_disconnected: slowOne.closed,
  };
  for (const c of [...clients, sender]) c.terminate();
  return result;
}

const scenarios = { fanout, echo, idle, polling, slow };
if (!(scenario in scenarios)) {
  console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
try {
  const result = await scenarios[scenario]();
  console.log(JSON.stringify({ scenario, ok: true, ...result }));
  process.exit(0);
} catch (err) {
  console.log(JSON.stringify({ scenario, ok: false, error: String(err?.stack || err) }));
  process.exit(1);
}
