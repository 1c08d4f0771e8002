// lmrec web page: plain JS against the JSON API (no build step).
// Views: the catalog (search, recommendations, likes) at "/" and an item page at "/item/<id>" (history API:
// Back, reload and shared links work). Likes and "not interested" live in the server-side anonymous session
// (an HttpOnly cookie); an API key is optional (developers).
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 10;
const state = {
  user: localStorage.getItem("lmrec.user") || "web-" + Math.random().toString(36).slice(2, 8),
  key: "",
  keyStorage: "memory", // "local" only when the operator opts in (setting web_key_storage)
  readsUser: null, // whether the key may read the user's recommendations (learnt from the first answer)
  likes: new Map(), // id -> title, oldest first (the session's likes, from the server)
  rejected: new Set(), // ids marked "not interested"
  query: "",
  offset: 0,
  current: null,
};

function say(msg, isError = false) {
  const s = $("status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (state.key) headers.Authorization = "Bearer " + state.key;
  if (options.body) headers["Content-Type"] = "application/json";
  const res = await fetch(path, Object.assign({ credentials: "same-origin" }, options, { headers }));
  if (!res.ok) {
    let detail = res.statusText;
    try {
      const body = await res.json();
      detail = typeof body.detail === "string" ? body.detail : body.detail.map((d) => d.loc.join(".") + ": " + d.msg).join("; ");
    } catch (e) { /* not JSON */ }
    const err = new Error(res.status + " " + detail);
    err.status = res.status;
    throw err;
  }
  return res.status === 204 ? null : res.json();
}

const itemUrl = (id) => "/item/" + encodeURIComponent(id);
const fmt = (x, digits = 2) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));

function metaText(item) {
  const parts = [];
  if (item.year) parts.push(String(item.year));
  if (item.categories && item.categories.length) parts.push(item.categories.join(", "));
  return parts.join(" · ");
}

function setPressed(button, on, onText, offText) {
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.textContent = on ? onText : offText;
}

// the two buttons of an item: its class, the session set it shows, pressed / unpressed text, aria label, action
const ACTIONS = [
  { cls: "like", set: () => state.likes, on: "Liked", off: "Like", label: "Like ",
    toggle: (i) => toggleLike(i.id, i.title) },
  { cls: "reject", set: () => state.rejected, on: "Not interested ✓", off: "Not interested",
    label: "Not interested in ", toggle: (i) => toggleReject(i.id, i.title) },
];

// every Like / Not interested button of an item shows the session's state
function syncButtons(id) {
  document.querySelectorAll("button[data-item]").forEach((b) => {
    if (b.dataset.item !== id) return;
    const a = ACTIONS.find((x) => b.classList.contains(x.cls));
    if (a) setPressed(b, a.set().has(id), a.on, a.off);
  });
}

function actionButtons(item) {
  return ACTIONS.map((a) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = a.cls;
    b.dataset.item = item.id;
    b.setAttribute("aria-label", a.label + item.title);
    setPressed(b, a.set().has(item.id), a.on, a.off);
    b.addEventListener("click", () => a.toggle(item));
    return b;
  });
}

function itemRow(item, opts = {}) {
  const li = document.createElement("li");
  li.dataset.itemId = item.id;
  const a = document.createElement("a");
  a.href = itemUrl(item.id);
  a.className = "title";
  a.textContent = item.title;
  li.appendChild(a);
  const meta = metaText(item);
  if (meta) {
    const m = document.createElement("span");
    m.className = "meta";
    m.textContent = meta;
    li.appendChild(m);
  }
  const nums = document.createElement("span");
  nums.className = "score";
  nums.textContent = item.similarity !== null && item.similarity !== undefined
    ? "similarity " + fmt(item.similarity) : "score " + fmt(item.score, 3);
  nums.title = "score: the share of the catalog the ranking places below this item";
  li.appendChild(nums);
  if (opts.explain && item.explanation) {
    const why = document.createElement("p");
    why.className = "why";
    why.textContent = item.explanation.text;
    li.appendChild(why);
  }
  const actions = document.createElement("div");
  actions.className = "actions";
  actions.append(...actionButtons(item));
  li.appendChild(actions);
  return li;
}

function fill(list, items, opts, append = false) {
  const rows = items.map((it) => itemRow(it, opts));
  if (append) list.append(...rows);
  else list.replaceChildren(...rows);
  if (!list.children.length) {
    const li = document.createElement("li");
    li.textContent = "Nothing to show.";
    list.appendChild(li);
  }
}

// -- search -------------------------------------------------------------------------------------------
async function search(q, more = false) {
  state.query = q;
  state.offset = more ? state.offset + PAGE : 0;
  say("Searching…");
  try {
    const res = await api("/search?k=" + PAGE + "&offset=" + state.offset + "&q=" + encodeURIComponent(q));
    const none = !more && !res.items.length;
    $("no-match").hidden = !none;
    $("no-match").textContent = none ? "No good match for “" + q + "”. Try other words." : "";
    if (none) $("search-results").replaceChildren();
    else fill($("search-results"), res.items, {}, more);
    $("more").hidden = !res.more;
    const shown = $("search-results").querySelectorAll("li[data-item-id]").length;
    say(none ? "No good match." : shown + " results for “" + q + "”" + (res.more ? " (more available)." : "."));
  } catch (e) { say("Search failed: " + e.message, true); }
}

// -- the session: likes and "not interested" -----------------------------------------------------------
function applySession(s) {
  state.likes = new Map(s.likes.map((x) => [x.id, x.title]));
  state.rejected = new Set(s.not_interested.map((x) => x.id));
  const list = $("likes");
  list.replaceChildren(...s.likes.map((x) => {
    const li = document.createElement("li");
    li.dataset.itemId = x.id;
    const a = document.createElement("a");
    a.href = itemUrl(x.id);
    a.textContent = x.title;
    const unlike = document.createElement("button");
    unlike.type = "button";
    unlike.className = "secondary small";
    unlike.textContent = "Unlike";
    unlike.setAttribute("aria-label", "Unlike " + x.title);
    unlike.addEventListener("click", () => toggleLike(x.id, x.title));
    li.append(a, unlike);
    return li;
  }));
  if (!s.likes.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "Nothing liked yet.";
    list.appendChild(li);
  }
  document.querySelectorAll("button[data-item]").forEach((b) => syncButtons(b.dataset.item));
}

async function loadSession() {
  try { applySession(await api("/session")); } catch (e) { say("Cannot load your likes: " + e.message, true); }
}

async function toggleLike(id, title) {
  const was = state.likes.has(id);
  try {
    applySession(await api("/session/likes/" + encodeURIComponent(id), { method: was ? "DELETE" : "PUT" }));
  } catch (e) { say("Cannot save: " + e.message, true); return; }
  let note = "";
  if (!was && state.key) {
    try {
      const key = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
      await api("/events", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: JSON.stringify({ events: [{ user_id: state.user, type: "like", item_id: id }] }),
      });
    } catch (e) { note = " (not stored as an event: " + e.message + ")"; }
  }
  say((was ? "You unliked “" : "You liked “") + title + "”" + note + ". Recommendations updated.", Boolean(note));
  await loadRecs();
}

async function toggleReject(id, title) {
  const was = state.rejected.has(id);
  try {
    applySession(await api("/session/not-interested/" + encodeURIComponent(id), { method: was ? "DELETE" : "PUT" }));
  } catch (e) { say("Cannot save: " + e.message, true); return; }
  say(was ? "“" + title + "” can be recommended again." : "Noted: not interested in “" + title + "”. Recommendations updated.");
  await loadRecs();
}

// -- recommendations ------------------------------------------------------------------------------------
async function loadRecs() {
  try {
    let res = null;
    if (state.key && state.readsUser !== false) {
      try {
        res = await api("/users/" + encodeURIComponent(state.user) + "/recommendations?k=10&explain=true");
        state.readsUser = true;
      } catch (e) {
        if (e.status !== 403) throw e;
        state.readsUser = false; // the key has no read scope: recommend from the session's likes
      }
    }
    if (res === null) res = await api("/session/recommendations?k=10&explain=true");
    fill($("recs"), res.items, { explain: true });
  } catch (e) { say("Cannot load recommendations: " + e.message, true); }
}

// -- item pages -------------------------------------------------------------------------------------------
async function showItem(id) {
  $("home-view").hidden = true;
  $("item-view").hidden = false;
  try {
    const item = await api("/items/" + encodeURIComponent(id));
    state.current = item;
    document.title = item.title + " — lmrec";
    $("item-h").textContent = item.title;
    $("item-meta").textContent = metaText(item);
    // the description; else the item's text when it says more than the title and genres shown above
    const more = item.text && !item.text.startsWith(item.title) ? item.text : "";
    $("item-description").textContent = item.description || more;
    const img = $("item-image");
    img.hidden = !item.image_url;
    if (item.image_url) { img.src = item.image_url; img.alt = "Picture of " + item.title; }
    for (const b of [$("item-like"), $("item-reject")]) { b.dataset.item = item.id; }
    $("item-like").setAttribute("aria-label", "Like " + item.title);
    $("item-reject").setAttribute("aria-label", "Not interested in " + item.title);
    syncButtons(item.id);
    const sim = await api("/items/" + encodeURIComponent(id) + "/similar?k=5");
    fill($("similar"), sim.items);
    $("item-h").focus();
  } catch (e) {
    state.current = null;
    document.title = "Not found — lmrec";
    $("item-h").textContent = e.status === 404 ? "No such item" : "Cannot open the item";
    $("item-meta").textContent = "";
    $("item-description").textContent = e.message;
    $("similar").replaceChildren();
    $("item-h").focus();
  }
}

function showHome() {
  document.title = "lmrec — catalog and recommendations";
  $("item-view").hidden = true;
  $("home-view").hidden = false;
}

function route() {
  const m = location.pathname.match(/^\/item\/(.+)$/);
  if (m) showItem(decodeURIComponent(m[1]));
  else showHome();
}

function go(url) {
  history.pushState({}, "", url);
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  state.keyStorage = document.body.dataset.keyStorage === "local" ? "local" : "memory";
  if (state.keyStorage === "local") state.key = localStorage.getItem("lmrec.key") || "";
  else localStorage.removeItem("lmrec.key"); // a key stored by an older page: not kept unless opted in
  $("user-id").value = state.user;
  $("api-key").value = state.key;
  $("who").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.user = $("user-id").value.trim() || state.user;
    state.key = $("api-key").value.trim();
    state.readsUser = null;
    localStorage.setItem("lmrec.user", state.user);
    if (state.keyStorage === "local") localStorage.setItem("lmrec.key", state.key);
    say(state.keyStorage === "local" ? "Saved." : "Saved (the key is kept until you leave the page).");
    loadRecs();
  });
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search($("q").value); });
  $("more").addEventListener("click", () => search(state.query, true));
  $("item-like").addEventListener("click", () => state.current && toggleLike(state.current.id, state.current.title));
  $("item-reject").addEventListener("click", () => state.current && toggleReject(state.current.id, state.current.title));
  $("refresh").addEventListener("click", loadRecs);
  // in-page links to item pages and home use the history API (a new tab or a shared link loads the URL)
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[href]");
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !(url.pathname === "/" || url.pathname.startsWith("/item/"))) return;
    ev.preventDefault();
    go(url.pathname);
  });
  window.addEventListener("popstate", route);
  route();
  loadSession().then(loadRecs);
});
