// Minimal helpers: every change goes to the JSON API with the session's CSRF token.
const csrf = document.querySelector('meta[name="csrf"]')?.content || "";
function toast(msg) { const t = document.getElementById("toast"); t.textContent = msg; t.style.display = "block";
  setTimeout(() => (t.style.display = "none"), 4000); }
async function api(path, body, method = "POST") {
  const r = await fetch("/api" + path, { method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
                                         body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) { toast((data.problems || [data.detail]).join("; ")); throw new Error(data.detail); }
  return data;
}
async function approveAll(id, count) {
  if (!confirm(`Approve ${count} drafts? 批准 ${count} 条？`)) return;
  const d = await api(`/campaigns/${id}/approve-all`, { expected: count }); toast(`${d.count} approved`); location.reload();
}
async function rejectAll(id, count) {
  const reason = prompt(`Reject ${count} drafts: reason? 拒绝原因？`); if (!reason) return;
  const d = await api(`/campaigns/${id}/reject-all`, { expected: count, reason }); toast(`${d.count} rejected`); location.reload();
}
function editDraft(id) { document.getElementById(`edit-${id}`).hidden = false; }
async function saveDraft(id) {
  const text = document.getElementById(`text-${id}`).value;
  const d = await api(`/drafts/${id}/edit`, { text });
  document.getElementById(`shown-${id}`).textContent = d.text; document.getElementById(`edit-${id}`).hidden = true;
  toast("saved" + (d.flags.length ? " — flags: " + d.flags.join(", ") : ""));
}
async function approveOne(id) { await api(`/drafts/${id}/approve`); location.reload(); }
async function rejectOne(id) { const reason = prompt("Reason? 原因？"); if (!reason) return;
  await api(`/drafts/${id}/reject`, { reason }); location.reload(); }
async function saveTemplate(id) {
  const template = document.getElementById("template").value;
  const d = await api(`/campaigns/${id}/template`, { template }); toast(`${d.count} drafts re-rendered`); location.reload();
}
async function reply(id) { const text = document.getElementById(`reply-${id}`).value;
  await api(`/tickets/${id}/reply`, { text }); toast("sent"); location.reload(); }
async function closeTicket(id) { await api(`/tickets/${id}/close`); location.reload(); }
async function removeDoc(name) { if (!confirm(`Remove ${name}?`)) return;
  await api(`/documents/${encodeURIComponent(name)}`, undefined, "DELETE"); location.reload(); }
async function uploadDoc(form) {
  const r = await fetch("/api/documents", { method: "POST", headers: { "X-CSRF-Token": csrf }, body: new FormData(form) });
  const d = await r.json(); document.getElementById("upload-result").textContent = JSON.stringify(d, null, 2);
}
