// The console's behaviour, in one static file (no inline script: a Content-Security-Policy can forbid it).
// Pages mark what a control does with data-* attributes; every change goes to the JSON API with the
// session's CSRF token. No browser dialogs (in-app webviews block them): confirmations are in the page.
"use strict";
const csrf = document.querySelector('meta[name="csrf"]')?.content || "";
const words = document.body.dataset;

function toast(msg) {
  const t = document.getElementById("toast");
  if (!t) return;
  t.textContent = msg; t.style.display = "block";
  clearTimeout(toast.timer); toast.timer = setTimeout(() => (t.style.display = "none"), 4000);
}

async function api(path, body, method = "POST") {
  const r = await fetch("/api" + path, { method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
                                         body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const known = { stale: words.msgStale, not_found: words.msgNotFound, closed: words.msgClosedAlready,
                    invalid: words.msgInvalid, blocked: words.msgBlocked, needs_override: words.msgReason };
    const msg = data.code === "template" ? data.detail : (known[data.code] || words.msgError);
    toast(msg); throw new Error(msg);
  }
  return data;
}

function markDone(el, label) {
  const card = el.closest("[data-item]");
  if (!card) return;
  card.classList.add("done");
  card.querySelectorAll("button, textarea, input").forEach((b) => (b.disabled = true));
  const state = card.querySelector("[data-state]");
  if (state && label) state.textContent = label;
}

function show(id, on = true) { const el = document.getElementById(id); if (el) el.hidden = !on; return el; }

function reloadSoon() { setTimeout(() => location.reload(), 600); }

const actions = {
  // in-page confirmation: show the box named by data-target (its own buttons do the work)
  ask: (el) => { const box = show(el.dataset.target); box?.querySelector("input, textarea, button")?.focus(); },
  dismiss: (el) => show(el.dataset.target, false),
  "approve-draft": async (el) => {
    // a draft with warnings: approved with the manager's reason (a quick one, or written)
    const written = el.dataset.reasonInput ? document.getElementById(el.dataset.reasonInput).value.trim() : "";
    const reason = el.dataset.reasonText || written;
    if (el.dataset.reasonInput && !reason) { toast(words.msgReason); return; }
    await api(`/drafts/${el.dataset.id}/approve`, reason ? { override_reason: reason } : undefined);
    markDone(el, words.msgApproved); toast(words.msgApproved);
  },
  "approve-all": async (el) => {
    const d = await api(`/campaigns/${el.dataset.campaign}/approve-all`, { expected: Number(el.dataset.count) });
    toast(`${d.count} ${words.msgApproved}`); reloadSoon();
  },
  "approve-reminders": async (el) => {
    const d = await api("/today/approve-reminders", { expected: Number(el.dataset.count) });
    toast(`${d.count} ${words.msgApproved}`); reloadSoon();
  },
  "reject-all": async (el) => {
    const reason = document.getElementById(el.dataset.reason).value.trim();
    if (!reason) { toast(words.msgReason); return; }
    const d = await api(`/campaigns/${el.dataset.campaign}/reject-all`, { expected: Number(el.dataset.count), reason });
    toast(`${d.count} ${words.msgRejected}`); reloadSoon();
  },
  "reject-draft": async (el) => {
    const reason = el.dataset.reasonText || document.getElementById(`reason-${el.dataset.id}`).value.trim();
    if (!reason) { toast(words.msgReason); return; }
    await api(`/drafts/${el.dataset.id}/reject`, { reason }); markDone(el, words.msgRejected); toast(words.msgRejected);
  },
  "save-draft": async (el) => {
    const text = document.getElementById(`text-${el.dataset.id}`).value;
    const d = await api(`/drafts/${el.dataset.id}/edit`, { text });
    document.getElementById(`shown-${el.dataset.id}`).textContent = d.text;
    show(`edit-${el.dataset.id}`, false);
    toast(d.flags.length ? `${words.msgSaved} ⚑ ${d.flag_labels.join("; ")}` : words.msgSaved);
  },
  "save-template": async (el) => {
    // one language at a time: only that language's drafts are re-rendered (and checked first)
    const template = document.getElementById(el.dataset.target).value;
    const d = await api(`/campaigns/${el.dataset.campaign}/template`, { template, language: el.dataset.language });
    toast(`${d.count} ${words.msgRerendered}`); reloadSoon();
  },
  canned: (el) => {
    const box = document.getElementById(el.dataset.target);
    box.value = el.dataset.text; box.focus();
  },
  reply: async (el) => {
    const box = document.getElementById(`reply-${el.dataset.ticket}`);
    const text = box.value.trim();
    if (!text) { toast(words.msgEmpty); return; }
    await api(`/tickets/${el.dataset.ticket}/reply`, { text });
    box.value = ""; toast(words.msgSent); refreshChat(el.dataset.ticket);
  },
  "close-ticket": async (el) => {
    await api(`/tickets/${el.dataset.ticket}/close`); markDone(el, words.msgClosed); toast(words.msgClosed);
  },
  "take-ticket": async (el) => { await api(`/tickets/${el.dataset.ticket}/take`); toast(words.msgTaken); reloadSoon(); },
  "cancel-message": async (el) => {
    await api(`/outbox/${el.dataset.id}/cancel`); markDone(el, words.msgCancelled); toast(words.msgCancelled);
  },
  invite: async (el) => {
    const d = await api(`/clients/${el.dataset.client}/invite`);
    const out = document.getElementById("invite-result");
    out.hidden = false;
    out.querySelector("[data-link]").textContent = d.link;
    out.querySelector("[data-until]").textContent = d.expires_label;
  },
  "save-settings": async (el) => {
    const form = el.closest("form");
    const body = {
      language: form.elements.language.value,
      signature_zh: form.elements.signature_zh.value,
      signature_en: form.elements.signature_en.value,
      auto_approve_reminders: form.elements.auto_approve_reminders.checked,
      canned_replies: form.elements.canned_replies.value.split("\n").map((s) => s.trim()).filter(Boolean),
    };
    await api("/settings", body); toast(words.msgSaved); reloadSoon();
  },
  "remove-doc": async (el) => {
    await api(`/documents/${encodeURIComponent(el.dataset.name)}`, undefined, "DELETE"); reloadSoon();
  },
  upload: async (el) => {
    const form = el.closest("form");
    const r = await fetch("/api/documents", { method: "POST", headers: { "X-CSRF-Token": csrf }, body: new FormData(form) });
    const d = await r.json(); document.getElementById("upload-result").textContent = JSON.stringify(d, null, 2);
  },
  toggle: (el) => { const box = document.getElementById(el.dataset.target); if (box) box.hidden = !box.hidden; },
};

document.addEventListener("click", async (event) => {
  const el = event.target.closest("[data-action]");
  if (!el || el.disabled) return;
  const run = actions[el.dataset.action];
  if (!run) return;
  event.preventDefault();
  el.disabled = true;
  try { await run(el); } catch (e) { /* the toast told the manager */ } finally {
    if (!el.closest(".done")) el.disabled = false;
  }
});

// The live conversation of a ticket: new turns appear without a reload.
async function refreshChat(ticket) {
  const box = document.querySelector(`[data-live="${ticket}"]`);
  if (!box) return;
  const r = await fetch(`/api/tickets/${ticket}/messages`);
  if (!r.ok) return;
  const d = await r.json();
  box.replaceChildren(...d.messages.map((m) => {
    const div = document.createElement("div");
    div.className = `bubble ${m.author}`;
    const who = document.createElement("div"); who.className = "muted"; who.textContent = `${m.author_label} · ${m.time}`;
    const text = document.createElement("div"); text.className = "text"; text.textContent = m.text;
    div.append(who, text); return div;
  }));
  const state = document.querySelector(`[data-ticket-state="${ticket}"]`);
  if (state) { state.textContent = d.state_label; state.className = `pill ${d.state === "replied" ? "ok" : "warn"}`; }
}
document.querySelectorAll("[data-live]").forEach((box) => setInterval(() => refreshChat(box.dataset.live), 15000));

// Opened as a Telegram Mini App: Telegram passes the signed init data in the URL fragment.
const initData = new URLSearchParams(location.hash.slice(1)).get("tgWebAppData");
if (initData && document.body.dataset.page === "login") {
  fetch("/webapp/login", { method: "POST", headers: { "Content-Type": "application/json" },
                           body: JSON.stringify({ init_data: initData }) })
    .then((r) => (r.ok ? (location.href = "/") : r.json().then((d) => toast(d.detail))));
}
