// Simulated users of `roomcast chat` (bench/chat_load.py drives it).
//
// Usage: node chat_users.mjs <url> <users.json> <seconds> <message interval s>
// users.json: [{"token": ..., "room": "<room name>", "creator": bool}, ...]: the creators
// make the rooms (or find them, on a second run), then everyone joins. Each user is one official client
// socket; it sends a message every <interval> seconds (random phase), preceded by two
// typing events, and measures the delivery latency of every message it receives (the
// sender's clock is the same: the text carries the send time). Notifications whose title
// is "t:<ms>" are measured too. Prints one JSON object at the end.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const [url, usersFile, secondsText, intervalText] = process.argv.slice(2);
const users = JSON.parse(readFileSync(usersFile, "utf8"));
const seconds = Number(secondsText);
const interval = Number(intervalText) * 1000;
const now = () => performance.timeOrigin + performance.now();

const latencies = [];
const noteLatencies = [];
let sent = 0;
let refused = 0;
let typing = 0;
const sockets = [];

function connect(user) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], auth: { token: user.token }, forceNew: true });
    socket.on("message", (message) => {
      const match = /^t:(\d+(\.\d+)?)/.exec(message.text);
      if (match) latencies.push(now() - Number(match[1]));
    });
    socket.on("typing", () => { typing += 1; });
    socket.on("notification", (note) => {
      const match = /^t:(\d+(\.\d+)?)/.exec(note.title);
      if (match) noteLatencies.push(now() - Number(match[1]));
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const started = now();
for (let i = 0; i < users.length; i += 50) {
  sockets.push(...(await Promise.all(users.slice(i, i + 50).map(connect))));
}
const roomIds = new Map();
const known = await sockets[0].timeout(30000).emitWithAck("rooms");
for (const room of known.public) roomIds.set(room.name, room.id);
await Promise.all(sockets.map(async (socket, i) => {
  const user = users[i];
  if (!user.creator || roomIds.has(user.room)) return;
  const room = await socket.timeout(30000).emitWithAck("create-room", { name: user.room });
  if (room._rc_error) throw new Error(`create-room: ${room._rc_error.message}`);
  roomIds.set(user.room, room.id);
}));
users.forEach((user) => { user.room = roomIds.get(user.room); });
await Promise.all(sockets.map((socket, i) => socket.timeout(30000).emitWithAck("join-room", { room: users[i].room })));
const connected = now() - started;
process.stdout.write(JSON.stringify({ ready: true, connect_ms: connected }) + "\n");

const timers = [];
const until = now() + seconds * 1000;
sockets.forEach((socket, i) => {
  const room = users[i].room;
  const tick = async () => {
    if (now() >= until) return;
    socket.emit("typing", { room, typing: true });
    socket.emit("typing", { room, typing: true });
    const answer = await socket.timeout(10000).emitWithAck("send-message", { room, text: `t:${now()} hello` }).catch(() => null);
    if (answer && !answer._rc_error) sent += 1;
    else refused += 1;
  };
  timers.push(setTimeout(() => {
    tick();
    timers.push(setInterval(tick, interval));
  }, Math.random() * interval));
});

await new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 3000));
for (const timer of timers) clearInterval(timer);
const result = {
  users: users.length,
  seconds,
  sent,
  refused,
  typing_events: typing,
  deliveries: latencies.length,
  p50_ms: percentile(latencies, 50),
  p99_ms: percentile(latencies, 99),
  max_ms: percentile(latencies, 100),
  notifications: noteLatencies.length,
  note_p50_ms: percentile(noteLatencies, 50),
  note_p99_ms: percentile(noteLatencies, 99),
};
process.stdout.write(JSON.stringify(result) + "\n");
for (const socket of sockets) socket.disconnect();
process.exit(0);
