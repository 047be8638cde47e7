// A Node `ws` 8 client driven by the WebSocket tests.
//
// Usage: node ws_peer.mjs <url> <script-json>
// The script: {"protocols": [...], "send": [{"text": "..."} | {"bin": "<base64>"}],
//              "expect": N, "close": [code, reason], "deflate": false | true | {options}}
// ("deflate": ws's perMessageDeflate option; off unless given).
// It opens the WebSocket, sends the messages, waits for N messages, closes with the code,
// then prints one JSON line: {"protocol", "extensions", "messages": [{"text"}|{"bin"}],
// "close": [code, reason]} or {"error": ..., "status": ...} when the handshake is refused.
import WebSocket from "ws";

const [url, raw] = process.argv.slice(2);
const script = JSON.parse(raw);
const ws = new WebSocket(url, script.protocols ?? [], {
  perMessageDeflate: script.deflate ?? false,
});
const messages = [];
let done = false;
const finish = (record) => {
  if (done) return;
  done = true;
  process.stdout.write(JSON.stringify(record) + "\n", () => process.exit(0));
};
setTimeout(() => finish({ error: "timeout", messages }), 10000);
ws.on("unexpected-response", (req, res) => {
  let body = "";
  res.on("data", (chunk) => (body += chunk));
  res.on("end", () => finish({ error: "refused", status: res.statusCode, body }));
});
ws.on("error", (err) => finish({ error: err.message }));
ws.on("open", () => {
  for (const m of script.send ?? []) ws.send(m.text ?? Buffer.from(m.bin, "base64"));
  if ((script.expect ?? 0) === 0 && script.close) ws.close(...script.close);
});
ws.on("message", (data, isBinary) => {
  messages.push(isBinary ? { bin: data.toString("base64") } : { text: data.toString() });
  if (messages.length === script.expect && script.close) ws.close(...script.close);
});
ws.on("close", (code, reason) =>
  finish({
    protocol: ws.protocol,
    extensions: ws.extensions,
    messages,
    close: [code, reason.toString()],
  }),
);
