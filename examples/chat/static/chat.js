// The chat page: plain JavaScript on top of the official Socket.IO browser client
// (`io` comes from /socket.io/socket.io.js, served by roomcast).
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"),
  error: $("error"),
  joinForm: $("join-form"),
  name: $("name"),
  room: $("room"),
  roomTitle: $("room-title"),
  messages: $("messages"),
  sendForm: $("send-form"),
  message: $("message"),
  send: $("send"),
  privateTo: $("private-to"),
  privateToLabel: $("private-to-label"),
  privateCancel: $("private-cancel"),
  users: $("users"),
};

let socket = null; // the Socket.IO client, once a name was given
let room = null; // the room we are in (or asked to join)
let privateTarget = null; // {id, name} while composing a private message

// -- connecting and joining ----------------------------------------------------------

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  room = ui.room.value.trim() || "lobby";
  if (socket === null) {
    connect(ui.name.value.trim()); // joins on "connect"
  } else if (socket.connected) {
    socket.emit("join-room", room);
  }
});

function connect(name) {
  showError(null);
  setStatus("Connecting…");
  socket = io({ auth: { name } });

  socket.on("connect", () => {
    setStatus(`Connected as ${name}`);
    ui.name.disabled = true;
    ui.name.classList.remove("invalid");
    socket.emit("join-room", room); // also after a reconnection: the server forgot us
  });

  socket.on("connect_error", (err) => {
    if (socket.active) {
      setStatus(`Connection lost (${err.message}), retrying…`);
      return; // a network problem: the client retries by itself
    }
    // Refused by the server's middleware: err.message and err.data come from it.
    showError(`Could not connect: ${err.message}`);
    setStatus("Not connected");
    if (err.data && err.data.field === "name") {
      ui.name.classList.add("invalid");
      ui.name.focus();
    }
    socket = null; // let the user fix the name and try again
  });

  socket.on("disconnect", (reason) => {
    setStatus(`Disconnected (${reason})`);
    setComposerEnabled(false);
  });

  socket.on("new-message", (msg) => {
    const line = addLine("message");
    line.append(stamp(msg.time), span("name", msg.name), span("text", msg.message));
  });

  socket.on("notice", (note) => {
    addLine("notice").append(stamp(note.time), span("text", note.text));
  });

  socket.on("private-message", (msg) => {
    const line = addLine("private incoming");
    line.append(stamp(Date.now()), span("name", `${msg.name} (private)`), span("text", msg.message));
  });

  socket.on("users", (list) => {
    if (list.room !== room) return;
    ui.roomTitle.textContent = `# ${list.room}`;
    setComposerEnabled(true);
    renderUsers(list.users);
  });
}

// -- sending ---------------------------------------------------------------------------

ui.sendForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const message = ui.message.value.trim();
  if (!message || socket === null) return;
  if (privateTarget !== null) {
    socket.emit("private-message", { to: privateTarget.id, message });
    const line = addLine("private outgoing");
    line.append(stamp(Date.now()), span("name", `to ${privateTarget.name}`), span("text", message));
  } else {
    socket.emit("chat-message", { room, message });
  }
  ui.message.value = "";
  ui.message.focus();
});

ui.privateCancel.addEventListener("click", () => setPrivateTarget(null));

function setPrivateTarget(target) {
  privateTarget = target;
  showPrivateTarget();
  ui.message.focus();
}

function showPrivateTarget() {
  const target = privateTarget;
  ui.privateTo.hidden = target === null;
  ui.privateToLabel.textContent = target === null ? "" : `Private to ${target.name}`;
  ui.message.placeholder = target === null ? `Message # ${room}` : `Private message to ${target.name}`;
  for (const item of ui.users.children) {
    item.classList.toggle("selected", target !== null && item.dataset.id === target.id);
  }
}

// -- rendering ------------------------------------------------------------------------------

function renderUsers(users) {
  ui.users.replaceChildren();
  for (const user of users) {
    const item = document.createElement("li");
    item.dataset.id = user.id;
    item.textContent = user.name;
    if (user.id === socket.id) {
      item.classList.add("me");
      item.title = "You";
    } else {
      item.tabIndex = 0;
      item.title = `Send ${user.name} a private message`;
      const choose = () => setPrivateTarget(privateTarget?.id === user.id ? null : user);
      item.addEventListener("click", choose);
      item.addEventListener("keydown", (e) => e.key === "Enter" && choose());
    }
    ui.users.append(item);
  }
  if (privateTarget !== null && !users.some((u) => u.id === privateTarget.id)) {
    privateTarget = null; // they left
  }
  showPrivateTarget();
}

function addLine(kind) {
  const line = document.createElement("li");
  line.className = kind;
  ui.messages.append(line);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  return line;
}

function span(kind, text) {
  const el = document.createElement("span");
  el.className = kind;
  el.textContent = text;
  return el;
}

function stamp(ms) {
  const el = document.createElement("time");
  const date = new Date(ms);
  el.dateTime = date.toISOString();
  el.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return el;
}

function setComposerEnabled(enabled) {
  ui.message.disabled = !enabled;
  ui.send.disabled = !enabled;
}

function setStatus(text) {
  ui.status.textContent = text;
}

function showError(text) {
  ui.error.hidden = text === null;
  ui.error.textContent = text ?? "";
}
