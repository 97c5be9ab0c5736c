// Approved answers (标准话术): save from the form or from a declined question in one step; remove.
"use strict";
(() => {
  const token = document.querySelector('meta[name="csrf"]')?.content || "";
  const texts = document.getElementById("curated-texts")?.dataset || {};  // in the console's language
  async function call(path, body, method) {
    const r = await fetch("/api" + path, { method, headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
                                           body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await r.json().catch(() => ({}));
    const t = document.getElementById("toast");
    if (t) { t.textContent = r.ok ? texts.saved : (data.detail || texts.error); t.style.display = "block"; }
    if (!r.ok) throw new Error(data.detail || r.status);
    return data;
  }
  document.querySelectorAll("form[data-curated-save]").forEach((form) => form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    await call("/curated", { question: f.get("question"), answer: f.get("answer"), source: f.get("source") || "" }, "POST");
    location.reload();
  }));
  document.querySelectorAll("[data-curated-remove]").forEach((b) => b.addEventListener("click", async () => {
    if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = b.dataset.confirmText; return; }
    await call(`/curated/${encodeURIComponent(b.dataset.curatedRemove)}`, undefined, "DELETE");
    location.reload();
  }));
})();
