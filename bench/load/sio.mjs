// Minimal Socket.IO v5 / Engine.IO v4 clients for the load generator: raw WebSocket frames
// (ws) and raw HTTP/1.1 long-polling (net). Only what the benchmark needs, nothing per
// message beyond a few byte comparisons, so the generator stays far from its own limit.
import net from "node:net";
import { readFileSync } from "node:fs";
import WebSocket from "ws";

export const ROOM = "bench";
const PIPE = 0x7c; // '|'

/** Microseconds on the generator's clock; the timestamp carried in each payload. */
export const nowUs = () => Math.round(performance.now() * 1000);

/**
 * A ~size-byte string payload: "|<seq>|<send time, µs>|" then padding.
 */
export function payload(seq, size) {
  const head = `|${seq}|${nowUs()}|`;
  return size > head.length ? head + padding(size - head.length) : head;
}

const paddings = new Map();
function padding(n) {
  let pad = paddings.get(n);
  if (pad === undefined) paddings.set(n, (pad = "x".repeat(n)));
  return pad;
}

/** Filled by parseStampAt(): the sequence number and send time of one delivery. */
export const stamp = { seq: 0, t: 0 };

/**
 * Read "|<seq>|<t>|" from a payload like 42["m","|12|345|xx"] at ``start`` in ``buf``. With
 * recovery on the server adds the offset as a last argument (42["m","|12|345|xx","17"]):
 * only the first '|' after the event name is looked for, so it is never read. ``skip``: the
 * bytes before the payload's first '|' may start (0 for a plain WebSocket message, which is
 * the payload itself).
 */
export function parseStampAt(buf, start, skip = 4) {
  let i = buf.indexOf(PIPE, start + skip) + 1;
  let seq = 0;
  for (let c = buf[i]; c !== PIPE; c = buf[++i]) seq = seq * 10 + (c - 48);
  i += 1;
  let t = 0;
  for (let c = buf[i]; c !== PIPE; c = buf[++i]) t = t * 10 + (c - 48);
  stamp.seq = seq;
  stamp.t = t;
}

/** The ack id of an ACK packet string/buffer "43<id>[...]". */
function ackId(buf, start) {
  let id = 0;
  for (let i = start; i < buf.length; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) break;
    id = id * 10 + (c - 48);
  }
  return id;
}

/** A cheap, non-cryptographic 32-bit generator for client frame mask keys. */
let maskState = 0x9e3779b9;
function nextMask() {
  maskState ^= maskState << 13;
  maskState ^= maskState >>> 17;
  maskState ^= maskState << 5;
  return maskState >>> 0;
}

/** A masked client frame (RFC 6455 section 5.3): text, or ``first`` with a Buffer body. */
function clientFrame(text, first = 0x81) {
  const n = typeof text === "string" ? Buffer.byteLength(text) : text.length;
  const h = n < 126 ? 6 : n < 65536 ? 8 : 14;
  const frame = Buffer.allocUnsafe(h + n);
  const data = frame.subarray(h);
  if (typeof text === "string") data.write(text);
  else text.copy(data);
  frame[0] = first;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  frame.writeUInt32BE(nextMask(), h - 4);
  const m0 = frame[h - 4];
  const m1 = frame[h - 3];
  const m2 = frame[h - 2];
  const m3 = frame[h - 1];
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    data[i] ^= m0;
    data[i + 1] ^= m1;
    data[i + 2] ^= m2;
    data[i + 3] ^= m3;
  }
  for (; i < n; i++) data[i] ^= frame[h - 4 + (i & 3)];
  return frame;
}

/** The upgrade request for ``path`` (the key is fixed: the server's answer is not checked). */
const upgradeRequest = (path) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
  "Sec-WebSocket-Key: cm9vbWNhc3QtYmVuY2gtaw==\r\n\r\n";
const UPGRADE = upgradeRequest("/socket.io/?EIO=4&transport=websocket");

/**
 * One Socket.IO client over one WebSocket.
 *
 * Two ways to drive the same protocol: ``raw: false`` uses the ``ws`` package (the
 * senders); ``raw: true`` writes the upgrade request and scans frames straight off a ``net``
 * socket (the fan-out receivers, the echo clients and the idle connections), because there
 * the generator has to take in well over a million frames per second, answer ~100k acks per
 * second, or open thousands of connections per second, on one core, and ws's per-message
 * stream machinery, or its http.request-based handshake, would make the generator the
 * bottleneck.
 */
export class WsClient {
  constructor(port, raw = false) {
    this.port = port;
    this.raw = raw;
    this.ws = null;
    this.sock = null;
    this.onEventAt = null; // (buf, start, end) => void, for EVENT packets
    this.connectPacket = "40"; // sent on OPEN: '40{"pid":"…","offset":"…"}' to recover
    this.answer = null; // the CONNECT answer's payload, e.g. '{"sid":"…","pid":"…"}'
    this.onAck = null; // (id) => void, for ACK packets nobody awaits
    this.closed = false;
    this.bytes = 0;
    this.events = 0;
    this._acks = new Map();
    this._nextAck = 1;
    this._connected = null;
    this.upgrade = UPGRADE;
  }

  /** Open the WebSocket and join the main namespace; resolves on the CONNECT answer. */
  connect(timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => finish(new Error("connect timeout")), timeoutMs);
      const finish = (err) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          this.terminate();
          reject(err);
        } else resolve(this);
      };
      this._connected = finish;
      if (this.raw) this._openRaw(finish);
      else this._openWs(finish, timeoutMs);
    });
  }

  _openWs(finish, timeoutMs) {
    const url = `ws://127.0.0.1:${this.port}/socket.io/?EIO=4&transport=websocket`;
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: timeoutMs,
    });
    this.ws = ws;
    ws.on("error", (err) => finish(err));
    ws.on("close", () => {
      this.closed = true;
      finish(new Error("closed before connect"));
    });
    ws.on("message", (buf) => {
      this.bytes += buf.length;
      this._onPacket(buf, 0, buf.length);
    });
  }

  _openRaw(finish) {
    const sock = net.connect(this.port, "127.0.0.1");
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on("error", (err) => finish(err));
    sock.on("close", () => {
      this.closed = true;
      finish(new Error("closed before connect"));
    });
    sock.on("connect", () => sock.write(this.upgrade));
    let head = null;
    const onHead = (chunk) => {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      if (head.toString("latin1", 9, 12) !== "101") {
        finish(new Error(`upgrade refused: ${head.toString("latin1", 0, end)}`));
        return;
      }
      sock.removeListener("data", onHead);
      this._readFrames();
      this._upgraded();
      if (head.length > end + 4) sock.emit("data", head.subarray(end + 4));
    };
    sock.on("data", onHead);
  }

  /** Scan server frames (unmasked) off the raw socket. */
  _readFrames() {
    const sock = this.sock;
    let carry = null;
    sock.on("data", (chunk) => {
      const buf = carry === null ? chunk : Buffer.concat([carry, chunk]);
      carry = null;
      const n = buf.length;
      let i = 0;
      while (i + 2 <= n) {
        let len = buf[i + 1] & 0x7f;
        let h = 2;
        if (len === 126) {
          if (i + 4 > n) break;
          len = buf.readUInt16BE(i + 2);
          h = 4;
        } else if (len === 127) {
          if (i + 10 > n) break;
          len = Number(buf.readBigUInt64BE(i + 2));
          h = 10;
        }
        const s = i + h;
        if (s + len > n) break;
        const op = buf[i] & 0x0f;
        this.bytes += h + len;
        if (op === 1) this._onPacket(buf, s, s + len);
        else if (op === 9) sock.write(clientFrame(buf.subarray(s, s + len), 0x8a)); // pong
        else if (op === 8) this.closed = true;
        i = s + len;
      }
      if (i < n) carry = buf.subarray(i);
    });
  }

  /** The server accepted the WebSocket: Socket.IO waits for Engine.IO's OPEN. */
  _upgraded() {}

  /** One Engine.IO packet from ``s`` to ``e`` in ``buf``. */
  _onPacket(buf, s, e) {
    const c0 = buf[s];
    if (c0 === 0x34) {
      const c1 = buf[s + 1];
      if (c1 === 0x32) {
        this.events += 1;
        if (this.onEventAt !== null) this.onEventAt(buf, s, e);
      } else if (c1 === 0x33) {
        const id = ackId(buf, s + 2);
        const cb = this._acks.get(id);
        if (cb !== undefined) {
          this._acks.delete(id);
          cb();
        } else if (this.onAck !== null) this.onAck(id);
      } else if (c1 === 0x30) {
        this.answer = buf.toString("utf8", s + 2, e);
        this._connected(null);
      }
      else if (c1 === 0x34) this._connected(new Error("connect_error"));
    } else if (c0 === 0x32) this.sendRaw("3");
    else if (c0 === 0x30) this.sendRaw(this.connectPacket);
  }

  /** Send one Engine.IO packet as a text frame. */
  sendRaw(text) {
    if (this.raw) this.sock.write(clientFrame(text));
    else this.ws.send(text);
  }

  emit(event, data) {
    this.sendRaw(`42${JSON.stringify([event, data])}`);
  }

  /** Emit with an ack id; resolves when the ACK arrives. */
  emitWithAck(event, data, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const id = this._nextAck++;
      const timer = setTimeout(() => {
        this._acks.delete(id);
        reject(new Error(`no ack for ${event}`));
      }, timeoutMs);
      this._acks.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.sendRaw(`42${id}${JSON.stringify([event, data])}`);
    });
  }

  _socket() {
    return this.raw ? this.sock : this.ws._socket;
  }

  /** Stop reading: the server's data piles up in the kernel and then in the server. */
  pause() {
    this._socket().pause();
  }

  resume() {
    this._socket().resume();
  }

  terminate() {
    if (this.raw) {
      if (this.sock !== null) this.sock.destroy();
    } else if (this.ws !== null) this.ws.terminate();
  }
}

/**
 * A client of a plain WebSocket endpoint at ``path``, on raw frames as WsClient's: every text
 * message goes to ``onEventAt(buf, start, end)``; ``emit(_, data)`` sends ``data`` as one
 * text message (so Room in loadgen.mjs drives it as it drives a Socket.IO sender).
 */
export class PlainClient extends WsClient {
  constructor(port, path) {
    super(port, true);
    this.upgrade = upgradeRequest(path);
  }

  _upgraded() {
    this._connected(null); // no protocol on top: connected once upgraded
  }

  _onPacket(buf, s, e) {
    this.events += 1;
    if (this.onEventAt !== null) this.onEventAt(buf, s, e);
  }

  emit(_event, data) {
    this.sendRaw(data);
  }
}

/**
 * Connect ``count`` clients with at most ``concurrency`` handshakes in flight.
 * Returns the connected clients and the number that failed (bounded by ``deadlineMs``).
 * ``raw`` as WsClient's, or a function that makes an unconnected client.
 */
export async function connectMany(port, count, concurrency, raw, deadlineMs = 120000) {
  const clients = [];
  let failed = 0;
  let next = 0;
  const end = Date.now() + deadlineMs;
  const worker = async () => {
    while (next < count && Date.now() < end) {
      next += 1;
      const c = typeof raw === "function" ? raw() : new WsClient(port, raw);
      try {
        await c.connect();
        clients.push(c);
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { clients, failed };
}

// -- raw HTTP long-polling ----------------------------------------------------------------

/** One keep-alive HTTP/1.1 connection; one request at a time. */
class HttpConn {
  constructor(port) {
    this.port = port;
    this.buf = Buffer.alloc(0);
    this.waiting = null;
    this.sock = net.connect(port, "127.0.0.1");
    this.sock.setNoDelay(true);
    this.sock.on("data", (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this._parse();
    });
    const fail = (err) => {
      const w = this.waiting;
      this.waiting = null;
      if (w !== null) w.reject(err || new Error("connection closed"));
    };
    this.sock.on("error", fail);
    this.sock.on("close", () => fail(null));
  }

  request(method, path, body) {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n`;
      if (body !== undefined) {
        const n = Buffer.byteLength(body);
        head += `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${n}\r\n\r\n${body}`;
      } else head += "\r\n";
      this.sock.write(head);
    });
  }

  _parse() {
    const buf = this.buf;
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = buf.toString("latin1", 0, end).toLowerCase();
    const status = Number(head.slice(9, 12));
    let body;
    let rest;
    const m = /content-length:\s*(\d+)/.exec(head);
    if (m !== null) {
      const n = Number(m[1]);
      if (buf.length < end + 4 + n) return;
      body = buf.toString("utf8", end + 4, end + 4 + n);
      rest = buf.subarray(end + 4 + n);
    } else if (head.includes("transfer-encoding: chunked")) {
      const parts = [];
      let i = end + 4;
      for (;;) {
        const lineEnd = buf.indexOf("\r\n", i);
        if (lineEnd < 0) return;
        const size = parseInt(buf.toString("latin1", i, lineEnd), 16);
        if (buf.length < lineEnd + 2 + size + 2) return;
        if (size === 0) {
          i = lineEnd + 4;
          break;
        }
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        i = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts).toString("utf8");
      rest = buf.subarray(i);
    } else {
      body = "";
      rest = buf.subarray(end + 4);
    }
    this.buf = rest;
    const w = this.waiting;
    this.waiting = null;
    if (w !== null) w.resolve({ status, body });
  }

  close() {
    this.sock.destroy();
  }
}

/**
 * A polling-only Socket.IO client in a closed echo loop: one GET always waiting, one POST at
 * a time. ``onAck(id)`` is called for each ACK packet that arrives.
 */
export class PollClient {
  constructor(port) {
    this.port = port;
    this.get = new HttpConn(port);
    this.post = new HttpConn(port);
    this.sid = "";
    this.running = false;
    this.connected = false;
    this.onAck = null;
    this.onConnect = null;
    this.errors = 0;
    this._outbox = [];
    this._posting = false;
  }

  path() {
    return `/socket.io/?EIO=4&transport=polling&sid=${this.sid}`;
  }

  async open() {
    const r = await this.get.request("GET", "/socket.io/?EIO=4&transport=polling");
    if (r.status !== 200 || r.body[0] !== "0") throw new Error(`handshake: ${r.status}`);
    this.sid = JSON.parse(r.body.slice(1)).sid;
    this.running = true;
    this.send("40");
    this._getLoop();
  }

  send(packet) {
    this._outbox.push(packet);
    if (!this._posting) this._flush();
  }

  async _flush() {
    this._posting = true;
    while (this._outbox.length && this.running) {
      const body = this._outbox.join("\x1e");
      this._outbox = [];
      try {
        const r = await this.post.request("POST", this.path(), body);
        if (r.status !== 200) this.errors += 1;
      } catch {
        this.errors += 1;
        this.running = false;
      }
    }
    this._posting = false;
  }

  async _getLoop() {
    while (this.running) {
      let r;
      try {
        r = await this.get.request("GET", this.path());
      } catch {
        this.errors += 1;
        this.running = false;
        return;
      }
      if (r.status !== 200) {
        this.errors += 1;
        this.running = false;
        return;
      }
      for (const p of r.body.split("\x1e")) {
        if (p.startsWith("43")) {
          if (this.onAck !== null) this.onAck(ackId(Buffer.from(p.slice(0, 12)), 2));
        } else if (p === "2") this.send("3");
        else if (p.startsWith("40")) {
          this.connected = true;
          if (this.onConnect !== null) this.onConnect();
        } else if (p === "1" || p.startsWith("44")) {
          this.errors += 1;
          this.running = false;
        }
      }
    }
  }

  close() {
    this.running = false;
    this.get.close();
    this.post.close();
  }
}

// -- the server process, read from /proc -------------------------------------------------

/** [user, system] CPU seconds of process ``pid`` (all its threads). */
export function cpuSeconds(pid, clkTck) {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(fields[11]) / clkTck, Number(fields[12]) / clkTck];
}

/** Resident set size of ``pid`` in bytes. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "latin1");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** This process's CPU seconds (user+system). */
export function ownCpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** p50/p99/max of a list of microsecond samples, in milliseconds. */
export function percentiles(samples) {
  if (!samples.length) return { p50_ms: null, p99_ms: null, max_ms: null, samples: 0 };
  const s = Float64Array.from(samples).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))] / 1000;
  return { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: s[s.length - 1] / 1000, samples: s.length };
}
