// lmrec web page: plain JS against the JSON API (no build step).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  user: localStorage.getItem("lmrec.user") || "web-" + Math.random().toString(36).slice(2, 8),
  key: "",
  keyStorage: "memory", // "local" only when the operator opts in (setting web_key_storage)
  readsUser: null, // whether the key may read the user's recommendations (learnt from the first answer)
  liked: new Set(), // this tab's likes, oldest first: the anonymous session's history
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
  const res = await fetch(path, Object.assign({}, options, { headers }));
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

function itemRow(item, opts = {}) {
  const li = document.createElement("li");
  li.dataset.itemId = item.id;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.textContent = item.title;
  open.addEventListener("click", () => openItem(item.id));
  li.appendChild(open);
  const like = document.createElement("button");
  like.type = "button";
  like.className = "like";
  like.textContent = state.liked.has(item.id) ? "Liked" : "Like";
  like.setAttribute("aria-pressed", state.liked.has(item.id) ? "true" : "false");
  like.setAttribute("aria-label", "Like " + item.title);
  like.addEventListener("click", () => likeItem(item.id, item.title));
  li.appendChild(like);
  if (opts.explain && item.explanation) {
    const why = document.createElement("p");
    why.className = "why";
    why.textContent = item.explanation.text;
    li.appendChild(why);
  }
  return li;
}

function fill(list, items, opts) {
  list.replaceChildren(...items.map((it) => itemRow(it, opts)));
  if (!items.length) {
    const li = document.createElement("li");
    li.textContent = "Nothing to show.";
    list.appendChild(li);
  }
}

async function search(q) {
  say("Searching…");
  try {
    const res = await api("/search?k=10&q=" + encodeURIComponent(q));
    fill($("search-results"), res.items);
    say(res.items.length + " results for “" + q + "”.");
  } catch (e) { say("Search failed: " + e.message, true); }
}

async function openItem(id) {
  try {
    const item = await api("/items/" + encodeURIComponent(id));
    const sim = await api("/items/" + encodeURIComponent(id) + "/similar?k=5");
    state.current = item;
    $("item-h").textContent = item.title;
    $("item-text").textContent = item.text;
    $("item-cats").textContent = item.categories.length ? "Categories: " + item.categories.join(", ") : "";
    $("item-like").textContent = state.liked.has(item.id) ? "Liked" : "Like";
    fill($("similar"), sim.items);
    $("item-panel").hidden = false;
    $("item-h").setAttribute("tabindex", "-1");
    $("item-h").focus();
  } catch (e) { say("Cannot open item: " + e.message, true); }
}

async function likeItem(id, title) {
  state.liked.delete(id);
  state.liked.add(id);
  document.querySelectorAll('li[data-item-id="' + CSS.escape(id) + '"] button.like').forEach((b) => {
    b.textContent = "Liked"; b.setAttribute("aria-pressed", "true");
  });
  let note = "";
  if (state.key) {
    try {
      const key = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
      await api("/events", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: JSON.stringify({ events: [{ user_id: state.user, type: "like", item_id: id }] }),
      });
    } catch (e) { note = " (kept in this tab only: " + e.message + ")"; }
  }
  say("You liked “" + title + "”" + note + ". Recommendations updated.", Boolean(note));
  await loadRecs();
}

async function sessionRecs() {
  // the anonymous session's likes as an item list: a catalog read, no key needed
  return api("/recommendations", {
    method: "POST",
    body: JSON.stringify({ items: Array.from(state.liked), k: 10, explain: true }),
  });
}

async function loadRecs() {
  try {
    let res = null;
    if (state.key && state.readsUser !== false) {
      try {
        res = await api("/users/" + encodeURIComponent(state.user) + "/recommendations?k=10&explain=true");
        state.readsUser = true;
      } catch (e) {
        if (e.status !== 403) throw e;
        state.readsUser = false; // the key has no read scope: recommend from this tab's likes
      }
    }
    if (res === null) res = await sessionRecs();
    fill($("recs"), res.items, { explain: true });
  } catch (e) { say("Cannot load recommendations: " + e.message, true); }
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
  $("item-like").addEventListener("click", () => state.current && likeItem(state.current.id, state.current.title));
  $("refresh").addEventListener("click", loadRecs);
  loadRecs();
});
