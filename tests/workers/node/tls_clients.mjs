// Official socket.io-client sessions against `roomcast serve --certfile ... --workers N`.
// Usage: NODE_EXTRA_CA_CERTS=ca.pem node tls_clients.mjs <https-url> <count>
// Opens <count> sessions over wss:// and <count> over https:// long-polling upgraded to
// wss:// (the upgrade may land on another worker: it is piped to the one holding the
// session). Each asks "whoami" and "echo"; prints one JSON line:
// {"sessions": [{"transport", "pid", "echo"}...]} or {"error": ...}.
import { io } from "socket.io-client";

const [url, count] = process.argv.slice(2);
const fail = (error) =>
  process.stdout.write(JSON.stringify({ error: String(error) }) + "\n", () => process.exit(1));
setTimeout(() => fail("timeout"), 15000);

async function session(transports) {
  const socket = io(url, { transports, forceNew: true, reconnection: false });
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  if (transports.length > 1 && socket.io.engine.transport.name !== "websocket") {
    await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
  }
  const who = await socket.timeout(5000).emitWithAck("whoami");
  const echo = await socket.timeout(5000).emitWithAck("echo", "over TLS");
  const transport = socket.io.engine.transport.name;
  socket.close();
  return { transport, pid: who.pid, echo };
}

try {
  const runs = [];
  for (let i = 0; i < Number(count); i++) {
    runs.push(session(["websocket"]), session(["polling", "websocket"]));
  }
  process.stdout.write(JSON.stringify({ sessions: await Promise.all(runs) }) + "\n", () =>
    process.exit(0),
  );
} catch (err) {
  fail(err);
}
