// Chat Engine's reference web client: the public API only (docs/api.md), no framework, no build step.
// Replies are sent `resumable`, so a page reloaded mid-reply rejoins it (GET /messages/{id}/stream).
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "chatEngineToken";
const state = { token: localStorage.getItem(TOKEN_KEY) || "", session: null, streaming: null, sessions: [], readAfter: null };
const $ = (id) => document.getElementById(id);

// --- the API ------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// With read replicas, each write answers with a token; presenting the newest one makes every later read
// show this client's own writes (docs/api.md "Reading your own writes").
const READ_AFTER = "X-Chat-Engine-Read-After";

function headers(withBody) {
  const result = { Authorization: `Bearer ${state.token}` };
  if (withBody) result["Content-Type"] = "application/json";
  if (state.readAfter) result[READ_AFTER] = state.readAfter;
  return result;
}

function remember(readAfter) {
  if (readAfter) state.readAfter = readAfter;
}

async function call(method, path, body) {
  const response = await fetch(API + path, {
    method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body),
  });
  remember(response.headers.get(READ_AFTER));
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

// The lines of an NDJSON response, parsed, as they arrive.
async function* ndjson(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buffer.trim()) yield JSON.parse(buffer);
}

// --- signing in ---------------------------------------------------------------------------------------

async function signIn(token) {
  state.token = token.trim();
  try {
    await call("GET", "/sessions?limit=1");
  } catch (error) {
    state.token = "";
    setStatus(error.status === 401 ? "That token was refused." : `Could not sign in: ${error.message}`);
    return;
  }
  localStorage.setItem(TOKEN_KEY, state.token);
  $("sign-in").hidden = true;
  $("signed-in").hidden = false;
  $("app").hidden = false;
  $("who").textContent = `signed in as ${subjectOf(state.token)}`;
  setStatus("");
  await Promise.all([loadSessionTypes(), loadSessions()]);
}

function subjectOf(token) {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub || "?";
  } catch {
    return "?";
  }
}

function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  location.reload();
}

async function offerDemoToken() {
  const response = await fetch("/web/demo-token");
  if (!response.ok) return;
  const button = $("demo-token");
  button.hidden = false;
  button.addEventListener("click", async () => signIn((await response.clone().json()).token));
}

// --- sessions -----------------------------------------------------------------------------------------

async function loadSessionTypes() {
  const { session_types: types } = await call("GET", "/session-types");
  const select = $("session-type");
  select.replaceChildren(...types.map((type) => option(type.session_type_id, type.name)));
}

function option(value, label) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = label;
  return element;
}

async function loadSessions() {
  const { sessions } = await call("GET", "/sessions?limit=50");
  state.sessions = sessions;
  $("sessions").replaceChildren(...sessions.map((session) => {
    const item = document.createElement("li");
    item.textContent = titleOf(session);
    item.dataset.sessionId = session.session_id;
    item.className = state.session && state.session.session_id === session.session_id ? "current" : "";
    item.addEventListener("click", () => openSession(session.session_id));
    return item;
  }));
}

function titleOf(session) {
  const title = session.metadata && session.metadata.title;
  return typeof title === "string" && title ? title : `New chat, ${new Date(session.created_at).toLocaleString()}`;
}

async function newSession(event) {
  event.preventDefault();
  const created = await call("POST", "/sessions", { session_type_id: $("session-type").value });
  await openSession(created.session_id);
  await loadSessions();
}

async function openSession(sessionId) {
  state.session = await call("GET", `/sessions/${sessionId}`);
  $("toolbar").hidden = false;
  $("composer").hidden = false;
  $("title").textContent = titleOf(state.session);
  $("share-link").hidden = true;
  $("export-link").hidden = true;
  for (const item of $("sessions").children) {
    item.className = item.dataset.sessionId === sessionId ? "current" : "";
  }
  const path = await loadPath();
  const live = path.filter((m) => m.role === "assistant" && !m.is_complete && !(m.metadata || {}).stop_reason).pop();
  if (live) await follow("GET", `/messages/${live.message_id}/stream`);  // a reply still running: rejoin it
}

async function search(event) {
  event.preventDefault();
  const query = $("search-query").value.trim();
  if (!query) {
    $("search-results").replaceChildren();
    return;
  }
  const { results } = await call("GET", `/search?query=${encodeURIComponent(query)}`);
  $("search-results").replaceChildren(...results.flatMap((result) => result.matched_messages.map((hit) => {
    const item = document.createElement("li");
    item.textContent = hit.content.slice(0, 120);
    item.className = "search-hit";
    item.addEventListener("click", () => openSession(result.session_id));
    return item;
  })));
  if (!results.length) setStatus(`Nothing found for “${query}”.`);
}

// --- the conversation ---------------------------------------------------------------------------------

async function loadPath() {
  const messages = [];
  let cursor = null;
  do {
    const page = await call("GET", `/sessions/${state.session.session_id}/messages?limit=200` +
                                   (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    messages.push(...page.messages);
    cursor = page.next_cursor;
  } while (cursor);
  $("messages").replaceChildren(...messages.map(renderMessage));
  scrollDown();
  return messages;
}

function renderMessage(message) {
  const item = document.createElement("li");
  const metadata = message.metadata || {};
  item.className = `message ${message.role}` + (message.is_complete ? "" : " incomplete");
  item.dataset.messageId = message.message_id;
  item.append(span("role", message.role), renderContent(message.content || []));
  if (metadata.stop_reason) item.append(span("notice", `stopped: ${metadata.stop_reason}`));
  item.append(actionsOf(message));
  return item;
}

function span(className, text) {
  const element = document.createElement("div");
  element.className = className;
  element.textContent = text;
  return element;
}

function renderContent(parts) {
  const element = document.createElement("div");
  element.className = "content";
  for (const part of parts) appendPart(element, part.type, part.text ?? part.content ?? "");
  return element;
}

function appendPart(element, type, text) {
  if (type === "code") {
    const block = document.createElement("pre");
    block.textContent = text;
    element.append(block);
  } else if (type === "text") {
    element.append(document.createTextNode(text));
  } else {
    element.append(document.createTextNode(`[${type}]`));
  }
}

function button(label, className, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.className = className;
  element.addEventListener("click", guarded(onClick));
  return element;
}

function actionsOf(message) {
  const actions = document.createElement("div");
  actions.className = "actions";
  if (!message.message_id) return actions;  // shown before the engine has answered: nothing to act on yet
  const info = message.variant_info;
  if (info && info.total_variants > 1) {
    actions.append(
      button("‹", "previous-variant", () => switchVariant(message, -1)),
      span("variants", `${info.variant_index + 1} of ${info.total_variants}`),
      button("›", "next-variant", () => switchVariant(message, +1)));
  }
  if (message.role === "user") {
    actions.append(button("Edit", "edit", () => startEditing(message)));
  } else if (message.role === "assistant") {
    actions.append(button("Regenerate", "regenerate", () => {
      dropFrom(message.message_id);  // the new variant takes its place
      return follow("POST", `/messages/${message.message_id}/recreate`, { resumable: true });
    }));
    for (const [type, label] of [["like", "Like"], ["dislike", "Dislike"]]) {
      const chosen = message.my_reaction === type;
      actions.append(button(label, `react-${type}` + (chosen ? " chosen" : ""),
                            () => react(message, chosen ? "none" : type)));
    }
  }
  return actions;
}

// Remove a message and everything shown after it (a new variant is about to take its place).
function dropFrom(messageId) {
  const items = [...$("messages").children];
  const at = items.findIndex((item) => item.dataset.messageId === messageId);
  if (at >= 0) items.slice(at).forEach((item) => item.remove());
}

async function switchVariant(message, step) {
  const { variants } = await call("GET", `/messages/${message.message_id}/variants?limit=100`);
  const target = variants.find((v) => v.variant_index === message.variant_info.variant_index + step);
  if (!target) return;
  await call("POST", `/messages/${target.message_id}/activate`);
  await loadPath();
}

async function react(message, reactionType) {
  await call("POST", `/messages/${message.message_id}/reaction`, { reaction_type: reactionType });
  await loadPath();
}

function startEditing(message) {
  const item = document.querySelector(`[data-message-id="${message.message_id}"]`);
  const editor = document.createElement("textarea");
  editor.className = "editor";
  editor.value = (message.content || []).map((part) => part.text ?? "").join("");
  const save = button("Save and send", "save-edit", async () => {
    const content = editor.value;
    dropFrom(message.message_id);
    $("messages").append(renderMessage({ message_id: "", role: "user", content: [{ type: "text", text: content }],
                                         is_complete: true }));
    await follow("POST", "/messages/send", { session_id: state.session.session_id, content,
                                            edited_message_id: message.message_id, resumable: true });
  });
  item.replaceChildren(span("role", "user (editing)"), editor, save, button("Cancel", "cancel-edit", loadPath));
  editor.focus();
}

async function send(event) {
  event.preventDefault();
  const content = $("message-input").value.trim();
  if (!content || state.streaming) return;
  $("message-input").value = "";
  const provisional = renderMessage({ message_id: "", role: "user", content: [{ type: "text", text: content }],
                                      is_complete: true });
  $("messages").append(provisional);
  const first = $("messages").children.length === 1;
  await follow("POST", "/messages/send", { session_id: state.session.session_id, content, resumable: true });
  if (first) {  // the first message names the chat
    await call("PATCH", `/sessions/${state.session.session_id}`, { title: content.slice(0, 80) });
    state.session.metadata = { ...(state.session.metadata || {}), title: content.slice(0, 80) };
    $("title").textContent = titleOf(state.session);
    await loadSessions();
  }
}

// A stream of one reply (send, edit, recreate, rejoin): its chunks shown as they arrive; then the path
// is read again, so ids, variants and actions are the stored ones.
async function follow(method, path, body) {
  setStatus("");
  let response;
  try {
    response = await fetch(API + path, {
      method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    setStatus(`The engine could not be reached: ${error.message}`);
    return;
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    setStatus(problem.message || `HTTP ${response.status}`);
    await loadPath();
    return;
  }
  remember(response.headers.get(READ_AFTER));
  let item = null;
  let content = null;
  try {
    for await (const event of ndjson(response)) {
      if (event.type === "start") {
        item = document.querySelector(`[data-message-id="${event.message_id}"]`) ||
               renderMessage({ message_id: event.message_id, role: "assistant", content: [], is_complete: false });
        content = item.querySelector(".content");
        content.replaceChildren();
        item.className = "message assistant incomplete streaming";
        if (!item.isConnected) $("messages").append(item);
        state.streaming = event.message_id;
        $("stop").hidden = false;
      } else if (event.type === "chunk") {
        appendPart(content, event.chunk.type, event.chunk.content ?? "");
        scrollDown();
      } else if (event.type === "complete") {
        remember(event.metadata && event.metadata.read_after);
      } else if (event.type === "error") {
        setStatus(event.message);
      }
    }
  } finally {
    state.streaming = null;
    $("stop").hidden = true;
  }
  await loadPath();
}

async function stop() {
  if (state.streaming) await call("POST", `/messages/${state.streaming}/stop`);
}

async function share() {
  const created = await call("POST", `/sessions/${state.session.session_id}/share`, {});
  const link = $("share-link");
  link.href = created.share_url;
  link.textContent = created.share_url;
  link.hidden = false;
}

async function exportJson() {
  const ready = await call("POST", `/sessions/${state.session.session_id}/export`, { format: "json", scope: "all" });
  const link = $("export-link");
  link.href = ready.download_url;
  link.hidden = false;
}

function scrollDown() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
}

function setStatus(text) {
  $("status").textContent = text;
}

// Every handler reports its failure in the status line instead of failing silently.
function guarded(handler) {
  return async (...args) => {
    try {
      await handler(...args);
    } catch (error) {
      setStatus(error.message);
    }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await signIn($("token").value);
  }));
  $("sign-out").addEventListener("click", signOut);
  $("new-session").addEventListener("submit", guarded(newSession));
  $("search").addEventListener("submit", guarded(search));
  $("composer").addEventListener("submit", guarded(send));
  $("message-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", guarded(stop));
  $("share").addEventListener("click", guarded(share));
  $("export").addEventListener("click", guarded(exportJson));
  offerDemoToken().catch(() => {});
  if (state.token) guarded(signIn)(state.token);
});
