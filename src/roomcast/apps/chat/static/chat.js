// The page of `roomcast chat`: a client of docs/chat-protocol.md over the official
// Socket.IO browser client. User text is only ever put in the page as text (textContent,
// text nodes), never as HTML.
"use strict";

const TYPING_EVERY_MS = 2000; // the protocol: typing true at most every 2 s
const TYPING_SHOWN_MS = 7000; // a safety net: the server says false after 5 s itself
const ACK_TIMEOUT_MS = 10000;
const AUTH_CODES = ["token_missing", "token_invalid", "token_expired", "session_ended"];

const $ = (id) => document.getElementById(id);
const state = {
  token: localStorage.getItem("token"),
  user: null,
  socket: null,
  rooms: new Map(), // id -> Membership
  publicRooms: [],
  current: Number(sessionStorage.getItem("room")) || null,
  shown: new Map(), // message id -> <li>
  before: null,
  more: false,
  loadingOlder: false,
  typing: new Map(), // user id -> {name, timer}
  lastTypingSent: 0,
  notes: [],
  unreadNotes: 0,
  editing: null, // {id, back: "composer" | "button"}: the message edited in place
  opening: null, // {room, early: [Message]}: a room asked for, its messages meanwhile
};

// ---------------------------------------------------------------- small helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function isError(answer) {
  return answer !== null && typeof answer === "object" && "_rc_error" in answer;
}

function errorText(answer) {
  return isError(answer) ? answer._rc_error.message : String(answer);
}

function timeText(ms) {
  const date = new Date(ms);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : date.toLocaleString();
}

// Text with its http(s) links made clickable, as text nodes and <a> elements only.
function linkified(text) {
  const fragment = document.createDocumentFragment();
  const pattern = /https?:\/\/[^\s<>"']+/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    fragment.append(document.createTextNode(text.slice(last, match.index)));
    fragment.append(el("a", { href: match[0], target: "_blank", rel: "noopener noreferrer nofollow", text: match[0] }));
    last = match.index + match[0].length;
  }
  fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

async function call(event, payload) {
  const socket = state.socket;
  if (!socket || !socket.connected) return { _rc_error: { code: "offline", message: "not connected" } };
  try {
    return payload === undefined
      ? await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event)
      : await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  } catch {
    return { _rc_error: { code: "timeout", message: "no answer from the server" } };
  }
}

async function api(path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method: "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

// ---------------------------------------------------------------- log in and out

function showLogin(message = "") {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("login-name").focus();
}

async function submitCredentials(path) {
  const name = $("login-name").value.trim();
  const password = $("login-password").value;
  const { status, body } = await api(path, { name, password });
  if (status !== 200 && status !== 201) {
    const error = body._rc_error;
    const detail = error.code === "validation_failed" && error.details?.[0]?.loc?.[0] === "password"
      ? "the password needs at least 8 characters" : error.message;
    $("login-error").textContent = detail;
    return;
  }
  state.token = body.token;
  localStorage.setItem("token", body.token);
  $("login-password").value = "";
  start();
}

async function logout(message = "") {
  const token = state.token;
  state.token = null;
  localStorage.removeItem("token");
  if (state.socket) {
    state.socket.disconnect();
    state.socket = null;
  }
  if (token && !message) await api("/api/logout", undefined, token).catch(() => {});
  showLogin(message);
}

// ---------------------------------------------------------------- connection

function setConnection(name) {
  const badge = $("state");
  badge.textContent = name;
  badge.className = `state ${name}`;
  const live = name === "live";
  $("text").disabled = state.current === null;
  $("send").disabled = state.current === null;
  document.body.dataset.connection = name;
  if (live) flushOutbox();
}

function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  setConnection("connecting");
  // WebSocket first (one connection, held by one worker), long-polling when it fails
  const socket = io({ auth: (cb) => cb({ token: state.token }), transports: ["websocket", "polling"], tryAllTransports: true });
  state.socket = socket;
  socket.on("connect", async () => {
    setConnection("live");
    if (!socket.recovered) await refresh();
    else flushOutbox();
  });
  socket.on("connect_error", (err) => {
    if (AUTH_CODES.includes(err.data?.code)) logout(`Please log in again (${err.data.code.replace("_", " ")}).`);
    else setConnection("reconnecting");
  });
  socket.on("disconnect", (reason) => {
    setConnection(reason === "io client disconnect" ? "offline" : "reconnecting");
    if (reason === "io server disconnect" && state.token) socket.connect(); // logout elsewhere: refused next
  });
  socket.io.on("reconnect_attempt", () => setConnection("reconnecting"));
  socket.on("unauthorized", () => logout("Your session has expired: please log in again."));
  socket.on("message", onMessage);
  socket.on("message-edited", (message) => {
    const li = state.shown.get(message.id);
    if (li && state.editing?.id === message.id) li._message = message; // shown when the editor closes
    else if (li) li.replaceWith(renderMessage(message));
  });
  socket.on("message-deleted", ({ id }) => {
    const li = state.shown.get(id);
    if (state.editing?.id === id) state.editing = null;
    if (li) li.replaceWith(renderMessage({ ...li._message, text: "", deleted: true }));
  });
  socket.on("typing", onTyping);
  socket.on("presence", ({ room, online }) => { if (room === state.current) showOnline(online); });
  socket.on("room-added", (membership) => {
    state.rooms.set(membership.id, membership);
    renderRooms();
  });
  socket.on("public-room", (room) => {
    state.publicRooms = [...state.publicRooms.filter((r) => r.id !== room.id), room]
      .sort((a, b) => a.name.localeCompare(b.name));
    const membership = state.rooms.get(room.id);
    if (membership) membership.members = room.members;
    renderRooms();
  });
  socket.on("room-removed", ({ room }) => {
    state.rooms.delete(room);
    if (room === state.current) closeRoom();
    refreshRooms();
  });
  socket.on("room-read", ({ room, unread, last_read }) => {
    const membership = state.rooms.get(room);
    if (membership) Object.assign(membership, { unread, last_read });
    renderRooms();
  });
  socket.on("notification", (note) => {
    state.notes.unshift(note);
    setUnreadNotes(note.unread);
    renderNotes();
  });
  socket.on("notifications-read", ({ ids, unread }) => {
    for (const note of state.notes) if (ids === null || ids.includes(note.id)) note.read = true;
    setUnreadNotes(unread);
    renderNotes();
  });
  socket.on("rc:rejected", (rejection) => console.warn("refused:", rejection));
}

async function refresh() {
  const me = await call("me");
  if (isError(me)) return;
  state.user = me.user;
  $("me").textContent = me.user.name;
  state.rooms = new Map(me.rooms.map((r) => [r.id, r]));
  state.publicRooms = me.public;
  setUnreadNotes(me.notifications.unread);
  renderRooms();
  loadNotes();
  if (state.current !== null && state.rooms.has(state.current)) await openRoom(state.current);
  else if (state.current !== null) closeRoom();
}

async function refreshRooms() {
  const answer = await call("rooms");
  if (isError(answer)) return;
  state.rooms = new Map(answer.rooms.map((r) => [r.id, r]));
  state.publicRooms = answer.public;
  renderRooms();
}

// ---------------------------------------------------------------- rooms

function roomButton(room, { unread, onclick, current }) {
  const label = `${{ direct: "@", private: "•", public: "#" }[room.kind]} ${room.name}`;
  const button = el("button", { type: "button", onclick },
    el("span", { class: "name", text: label }),
    unread ? el("span", { class: "unread", text: String(unread), "aria-label": `${unread} unread` }) : null,
    unread === undefined ? el("span", { class: "count", text: `(${room.members})`, "aria-label": `${room.members} members` }) : null);
  if (room.kind === "private") button.title = "private room";
  if (current) button.setAttribute("aria-current", "true");
  return el("li", {}, button);
}

function renderRooms() {
  const mine = $("my-rooms");
  mine.replaceChildren(...[...state.rooms.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((room) => roomButton(room, { unread: room.unread, current: room.id === state.current, onclick: () => openRoom(room.id) })));
  const others = state.publicRooms.filter((room) => !state.rooms.has(room.id));
  $("public-rooms").replaceChildren(...others.map((room) => roomButton(room, { onclick: () => openRoom(room.id) })));
  const total = [...state.rooms.values()].reduce((sum, room) => sum + room.unread, 0);
  document.title = `${total ? `(${total}) ` : ""}roomcast chat`;
}

async function openRoom(id) {
  $("side-error").textContent = "";
  const opening = { room: id, early: [] };
  state.opening = opening;
  const answer = await call("join-room", { room: id });
  if (state.opening === opening) state.opening = null;
  if (isError(answer)) {
    $("side-error").textContent = errorText(answer);
    opening.early.forEach(onMessage);
    return;
  }
  const room = answer.room;
  state.rooms.set(room.id, room);
  state.current = room.id;
  sessionStorage.setItem("room", String(room.id));
  state.shown.clear();
  state.editing = null;
  clearTyping();
  $("messages").replaceChildren();
  showPage(answer.history, { older: false });
  showOnline(answer.online);
  $("title").textContent = room.kind === "direct" ? `@ ${room.name}` : room.name;
  $("invite").hidden = room.kind === "direct";
  $("leave").hidden = room.kind === "direct";
  $("text").disabled = false;
  $("send").disabled = false;
  $("sidebar").classList.remove("open");
  $("menu").setAttribute("aria-expanded", "false");
  opening.early.forEach(onMessage); // sent while the history was read: shown once, by id
  renderRooms();
  renderOutbox();
  markRead();
  $("text").focus();
}

function closeRoom() {
  state.current = null;
  sessionStorage.removeItem("room");
  state.shown.clear();
  state.editing = null;
  $("messages").replaceChildren();
  $("title").textContent = "roomcast chat";
  $("online").textContent = "";
  $("invite").hidden = true;
  $("leave").hidden = true;
  $("text").disabled = true;
  $("send").disabled = true;
  renderRooms();
}

function showOnline(users) {
  $("online").textContent = users.length ? `online: ${users.map((u) => u.name).join(", ")}` : "";
}

// ---------------------------------------------------------------- messages

function renderMessage(message) {
  const mine = state.user && message.author.id === state.user.id;
  const li = el("li", { class: `message${mine ? " mine" : ""}${message.deleted ? " deleted" : ""}`, "data-id": String(message.id) });
  const meta = el("div", { class: "meta" },
    el("span", { class: "author", text: message.author.name }),
    el("time", { datetime: new Date(message.time).toISOString(), text: timeText(message.time) }),
    message.edited && !message.deleted ? el("span", { text: "(edited)" }) : null);
  if (mine && !message.deleted) {
    meta.append(el("span", { class: "actions" },
      el("button", { type: "button", text: "edit", "aria-label": "edit this message", onclick: () => startEdit(message.id, "button") }),
      el("button", { type: "button", text: "delete", "aria-label": "delete this message", onclick: () => deleteMessage(message) })));
  }
  const text = el("div", { class: "text" });
  if (message.deleted) text.textContent = "message deleted";
  else text.append(linkified(message.text));
  li.append(meta, text);
  li._message = message;
  state.shown.set(message.id, li);
  return li;
}

function nearBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function showPage(page, { older }) {
  const list = $("messages");
  const fresh = page.messages.filter((m) => !state.shown.has(m.id));
  const items = fresh.map(renderMessage);
  list.querySelector(".top-note")?.remove();
  if (older) {
    const height = list.scrollHeight;
    list.prepend(...items);
    list.scrollTop += list.scrollHeight - height; // stay where the reader was
  } else {
    list.append(...items);
    list.scrollTop = list.scrollHeight;
  }
  state.before = page.before;
  state.more = page.more;
  if (!page.more) list.prepend(el("li", { class: "top-note", text: "the beginning of the conversation" }));
}

async function loadOlder() {
  if (!state.more || state.loadingOlder || state.current === null) return;
  state.loadingOlder = true;
  const room = state.current;
  const page = await call("history", { room, before: state.before });
  state.loadingOlder = false;
  if (!isError(page) && room === state.current) showPage(page, { older: true });
}

function onMessage(message) {
  if (message.room === state.opening?.room) return state.opening.early.push(message);
  const mine = state.user && message.author.id === state.user.id;
  if (message.room === state.current) {
    if (state.shown.has(message.id)) return; // already in the history page
    const list = $("messages");
    const follow = mine || nearBottom(list);
    list.append(renderMessage(message));
    if (follow) list.scrollTop = list.scrollHeight;
    removeTyping(message.author.id);
    markRead();
  } else if (!mine) {
    const membership = state.rooms.get(message.room);
    if (membership) membership.unread += 1;
    renderRooms();
  }
}

function markRead() {
  if (state.current === null || document.visibilityState !== "visible") return;
  const ids = [...state.shown.keys()];
  if (!ids.length) return;
  const newest = Math.max(...ids);
  const membership = state.rooms.get(state.current);
  if (membership && membership.last_read >= newest && membership.unread === 0) return;
  call("mark-read", { room: state.current, id: newest });
}

// Editing in place: the message's text becomes a text box; Enter saves (Shift+Enter: a new
// line), Escape cancels, and the focus goes back where it came from (the message's edit
// button, or the composer for Arrow Up).
function startEdit(id, back) {
  const li = state.shown.get(id);
  if (!li || li._message.deleted) return;
  if (state.editing) endEdit();
  const box = el("textarea", { class: "edit-text", rows: "1", maxlength: "4000", "aria-label": "Edit the message" });
  box.value = li._message.text;
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "edit" }, box,
    el("div", { class: "edit-actions" },
      el("span", { class: "hint", text: "Enter to save, Escape to cancel" }),
      el("button", { type: "button", text: "Cancel", onclick: () => endEdit() }),
      el("button", { type: "submit", text: "Save" })),
    error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveEdit(id, box.value, error);
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      endEdit();
    }
  });
  box.addEventListener("input", () => fitHeight(box));
  state.editing = { id, back };
  li.classList.add("editing");
  li.querySelector(".text").replaceWith(form);
  fitHeight(box);
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

// Close the editor: the message shown as it is now (`message`, when the server answered).
function endEdit(message) {
  const editing = state.editing;
  if (!editing) return;
  state.editing = null;
  const li = state.shown.get(editing.id);
  if (!li) return;
  const fresh = renderMessage(message ?? li._message);
  li.replaceWith(fresh);
  if (editing.back === "composer") $("text").focus();
  else fresh.querySelector(".actions button")?.focus();
}

async function saveEdit(id, text, error) {
  const li = state.shown.get(id);
  if (!li) return;
  if (text.trim() === li._message.text) return endEdit();
  if (!text.trim()) {
    error.textContent = "a message cannot be empty (delete it instead)";
    return;
  }
  const answer = await call("edit-message", { id, text });
  if (state.editing?.id !== id) return; // closed meanwhile
  if (isError(answer)) error.textContent = errorText(answer);
  else endEdit(answer);
}

function lastOwnMessage() {
  const mine = [...state.shown.values()].filter((li) => li._message.author.id === state.user?.id && !li._message.deleted);
  return mine.length ? mine.reduce((a, b) => (a._message.id > b._message.id ? a : b))._message.id : null;
}

function fitHeight(box) {
  box.style.height = "auto";
  box.style.height = `${box.scrollHeight}px`;
}

async function deleteMessage(message) {
  if (!window.confirm("Delete this message?")) return;
  const answer = await call("delete-message", { id: message.id });
  if (isError(answer)) window.alert(errorText(answer));
}

// ---------------------------------------------------------------- sending, and the outbox

// Messages written while offline wait in localStorage, shown greyed, and go out in order
// once the connection is live again. Each has a key made here: a message sent again (its
// answer was lost with the connection) is stored once, the server knowing the key.
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // (randomUUID needs https)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function outbox() {
  return JSON.parse(localStorage.getItem("outbox") || "[]");
}

function saveOutbox(items) {
  localStorage.setItem("outbox", JSON.stringify(items));
}

function renderOutbox() {
  const list = $("messages");
  list.querySelectorAll(".pending").forEach((li) => li.remove());
  for (const item of outbox()) {
    if (item.room !== state.current) continue;
    list.append(el("li", { class: "message mine pending" },
      el("div", { class: "meta", text: "waiting for the connection…" }),
      el("div", { class: "text", text: item.text })));
  }
  list.scrollTop = list.scrollHeight;
}

let flushing = false;
async function flushOutbox() {
  if (flushing) return;
  flushing = true;
  try {
    let items = outbox();
    if (items.some((item) => !item.key)) {
      items = items.map((item) => (item.key ? item : { ...item, key: newKey() }));
      saveOutbox(items);
    }
    while (items.length && state.socket?.connected) {
      const item = items[0];
      const answer = await call("send-message", item);
      if (isError(answer) && ["offline", "timeout"].includes(answer._rc_error.code)) break;
      if (isError(answer) && answer._rc_error.code === "rate_limited") {
        await new Promise((resolve) => setTimeout(resolve, 1000 * (answer._rc_error.details?.retry_after ?? 1)));
        continue;
      }
      items = outbox().filter((other) => other.key !== item.key);
      saveOutbox(items);
    }
  } finally {
    flushing = false;
    renderOutbox();
  }
}

async function send(text) {
  const room = state.current;
  if (room === null || !text.trim()) return;
  stopTyping();
  const item = { room, text, key: newKey() };
  if (!state.socket?.connected || outbox().length) { // after those waiting, in order
    saveOutbox([...outbox(), item]);
    renderOutbox();
    if (state.socket?.connected) flushOutbox();
    return;
  }
  const answer = await call("send-message", item);
  if (isError(answer)) {
    if (["offline", "timeout"].includes(answer._rc_error.code)) {
      saveOutbox([...outbox(), item]);
      renderOutbox();
      if (state.socket?.connected) flushOutbox(); // timed out, still connected: try again
    } else {
      window.alert(errorText(answer));
    }
  }
}

// ---------------------------------------------------------------- typing

function stopTyping() {
  if (state.lastTypingSent && state.current !== null) state.socket?.emit("typing", { room: state.current, typing: false });
  state.lastTypingSent = 0;
}

function onInput() {
  const text = $("text");
  text.style.height = "auto";
  text.style.height = `${text.scrollHeight}px`;
  if (!text.value.trim()) return stopTyping();
  const now = Date.now();
  if (state.current !== null && state.socket?.connected && now - state.lastTypingSent >= TYPING_EVERY_MS) {
    state.socket.emit("typing", { room: state.current, typing: true });
    state.lastTypingSent = now;
  }
}

function onTyping({ room, user, typing }) {
  if (room !== state.current) return;
  removeTyping(user.id);
  if (typing) state.typing.set(user.id, { name: user.name, timer: setTimeout(() => removeTyping(user.id), TYPING_SHOWN_MS) });
  showTyping();
}

function removeTyping(userId) {
  const entry = state.typing.get(userId);
  if (entry) clearTimeout(entry.timer);
  state.typing.delete(userId);
  showTyping();
}

function clearTyping() {
  for (const userId of [...state.typing.keys()]) removeTyping(userId);
}

function showTyping() {
  const names = [...state.typing.values()].map((entry) => entry.name);
  $("typing").textContent = names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

// ---------------------------------------------------------------- notifications

function setUnreadNotes(count) {
  state.unreadNotes = count;
  const badge = $("badge");
  badge.textContent = String(count);
  badge.hidden = count === 0;
  $("bell").setAttribute("aria-label", `Notifications (${count} unread)`);
}

async function loadNotes() {
  const page = await call("notifications", {});
  if (isError(page)) return;
  state.notes = page.items;
  setUnreadNotes(page.unread);
  renderNotes();
}

function renderNotes() {
  $("notes").replaceChildren(...state.notes.map((note) => {
    const title = note.url
      ? el("a", { class: "title", href: note.url, target: "_blank", rel: "noopener noreferrer nofollow", text: note.title })
      : el("span", { class: "title", text: note.title });
    return el("li", { class: note.read ? "" : "unread", "data-id": String(note.id) },
      title, el("div", { text: note.body }), el("time", { text: timeText(note.time) }));
  }));
}

function toggleNotes() {
  const panel = $("notifications");
  panel.hidden = !panel.hidden;
  $("bell").setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) $("read-all").focus();
}

// ---------------------------------------------------------------- the page's controls

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submitCredentials("/api/login");
});
$("signup-button").addEventListener("click", () => {
  if ($("login-form").reportValidity()) submitCredentials("/api/signup");
});
$("logout").addEventListener("click", () => logout());
$("menu").addEventListener("click", () => {
  const open = $("sidebar").classList.toggle("open");
  $("menu").setAttribute("aria-expanded", String(open));
});
$("bell").addEventListener("click", toggleNotes);
$("read-all").addEventListener("click", () => call("notifications-read", {}));
$("new-room").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await call("create-room", { name: $("new-room-name").value.trim(), private: $("new-room-private").checked });
  if (isError(answer)) {
    $("side-error").textContent = errorText(answer);
    return;
  }
  $("new-room-name").value = "";
  state.rooms.set(answer.id, answer);
  openRoom(answer.id);
});
$("new-direct").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await call("direct", { user: $("new-direct-user").value.trim() });
  if (isError(answer)) {
    $("side-error").textContent = errorText(answer);
    return;
  }
  $("new-direct-user").value = "";
  state.rooms.set(answer.id, answer);
  openRoom(answer.id);
});
$("invite").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await call("invite", { room: state.current, user: $("invite-user").value.trim() });
  if (isError(answer)) window.alert(errorText(answer));
  else $("invite-user").value = "";
});
$("leave").addEventListener("click", async () => {
  const answer = await call("leave-room", { room: state.current });
  if (isError(answer)) window.alert(errorText(answer));
});
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  $("text").value = "";
  onInput();
  send(text);
});
$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  } else if (event.key === "ArrowUp" && !$("text").value && lastOwnMessage() !== null) {
    event.preventDefault(); // like other chats: edit one's last message
    startEdit(lastOwnMessage(), "composer");
  }
});
$("text").addEventListener("input", onInput);
$("text").addEventListener("blur", stopTyping);
$("messages").addEventListener("scroll", () => {
  if ($("messages").scrollTop < 60) loadOlder();
});
document.addEventListener("visibilitychange", markRead);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    $("notifications").hidden = true;
    $("bell").setAttribute("aria-expanded", "false");
    $("sidebar").classList.remove("open");
  }
});

if (state.token) start();
else showLogin();
