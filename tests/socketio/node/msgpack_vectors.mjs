// Golden vectors of socket.io-msgpack-parser: each packet as the npm Encoder writes it.
//
// Usage: node msgpack_vectors.mjs > ../msgpack_vectors.json
// Packets are written with their keys in the order socket.io builds them (type, data, nsp,
// id); {"$bin": "<base64>"} stands for a Buffer. "client" packets carry the
// options socket.io-client adds to every packet, which a decoder must ignore.

import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Encoder, Decoder } = require("socket.io-msgpack-parser");

const bin = (text) => ({ $bin: Buffer.from(text).toString("base64") });
const PACKETS = [
  { name: "connect", packet: { type: 0, data: { sid: "abc", pid: "p1" }, nsp: "/" } },
  { name: "connect_no_data", packet: { type: 0, nsp: "/admin" } },
  { name: "disconnect", packet: { type: 1, nsp: "/admin" } },
  {
    name: "event",
    packet: { type: 2, data: ["chat", "hi", 1, 1.5, true, false, null, { a: [1, 2] }], nsp: "/" },
  },
  { name: "event_with_id", packet: { type: 2, data: ["echo", "x"], nsp: "/", id: 7 } },
  { name: "event_numbers", packet: { type: 2, data: ["n", -1, -33, -200, 255, 65536, 2 ** 40, -(2 ** 40), 0.1], nsp: "/" } },
  {
    name: "event_strings",
    packet: { type: 2, data: ["s", "ünïcødé ✓ 漢字 🚀", "x".repeat(40), "y".repeat(300), ""], nsp: "/chat" },
  },
  {
    name: "event_binary",
    packet: { type: 2, data: ["file", bin("\x01\x02\x03"), { nested: [bin(""), bin("abc")] }], nsp: "/" },
  },
  { name: "ack", packet: { type: 3, data: ["ok"], nsp: "/", id: 12 } },
  { name: "ack_binary", packet: { type: 3, data: [bin("done"), 2], nsp: "/admin", id: 70000 } },
  { name: "ack_empty", packet: { type: 3, data: [], nsp: "/", id: 0 } },
  {
    name: "connect_error",
    packet: { type: 4, data: { message: "Invalid namespace" }, nsp: "/nope" },
  },
  { name: "connect_error_text", packet: { type: 4, data: "not authorized", nsp: "/" } },
  {
    name: "client_event",
    client: true,
    packet: { type: 2, data: ["echo", 1], options: { compress: true }, id: 3, nsp: "/" },
  },
  {
    name: "client_connect",
    client: true,
    packet: { type: 0, data: { token: "t", pid: "p", offset: "1-0" }, nsp: "/" },
  },
  {
    name: "client_connect_undefined",
    client: true,
    packet: { type: 0, data: undefined, nsp: "/" },
  },
  {
    name: "client_event_undefined",
    client: true,
    packet: { type: 2, data: ["e", undefined, { a: undefined, b: 1 }], nsp: "/", id: undefined },
  },
];

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

const encoder = new Encoder();
const vectors = PACKETS.map(({ name, client, packet }) => {
  const [message] = encoder.encode(fromWire(packet));
  // the npm decoder takes it back: the vector is a valid packet for it
  const decoder = new Decoder();
  let decoded = null;
  decoder.on("decoded", (p) => (decoded = p));
  decoder.add(message);
  if (decoded === null) throw new Error(`${name}: not decoded`);
  // what the packet means: undefined properties absent, undefined elements null
  const { options: _, ...expected } = JSON.parse(JSON.stringify(packet));
  return { name, client: Boolean(client), packet: expected, hex: Buffer.from(message).toString("hex") };
});
process.stdout.write(JSON.stringify(vectors, null, 1) + "\n");
