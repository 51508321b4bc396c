// nudgebot console: live updates over one WebSocket, and forms sent in the background.
// Everything shown comes from the server as HTML it escaped; this script only places it.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const dot = document.getElementById("live");
  const queueRows = document.getElementById("queue-rows");
  const convo = document.getElementById("convo");
  const seen = new Set();
  let safe = Number(document.body.dataset.after || 0);
  let backoff = 500;

  async function fetchHtml(url) {
    const res = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (res.status === 401) { location.reload(); return null; }
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    return res.text();
  }

  function later(fn, ms) {
    let timer = null;
    return () => { if (!timer) timer = setTimeout(() => { timer = null; fn(); }, ms); };
  }

  // --- the queue -------------------------------------------------------------------------
  const refreshQueue = later(async () => {
    const table = document.getElementById("queue");
    const q = new URLSearchParams({ show: table.dataset.show, reason: table.dataset.reason });
    const html = await fetchHtml(`/console/queue/rows?${q}`);
    if (html !== null) queueRows.innerHTML = html;
  }, 100);

  // --- the conversation ------------------------------------------------------------------
  const timeline = document.getElementById("timeline");
  const wanted = { log: new Set(), note: new Set() };

  function order(el) { return [el.dataset.at || "", el.id.startsWith("note") ? 1 : 0, Number(el.id.split("-")[1] || 0)]; }
  function before(a, b) {
    const x = order(a), y = order(b);
    for (let i = 0; i < 3; i++) { if (x[i] < y[i]) return true; if (x[i] > y[i]) return false; }
    return false;
  }

  function place(items) {
    const nearBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
    timeline.querySelector(".empty")?.remove();
    for (const el of items) {
      const old = document.getElementById(el.id);
      if (old) { old.replaceWith(el); continue; }
      let next = null;
      for (const child of timeline.children) { if (before(el, child)) { next = child; break; } }
      timeline.insertBefore(el, next);
      el.classList.add("new");
    }
    if (nearBottom) timeline.scrollTop = timeline.scrollHeight;
  }

  const fetchItems = later(async () => {
    const q = new URLSearchParams();
    if (wanted.log.size) q.set("log", [...wanted.log].join(","));
    if (wanted.note.size) q.set("note", [...wanted.note].join(","));
    wanted.log.clear(); wanted.note.clear();
    const all = !q.toString();
    const html = await fetchHtml(`/console/tickets/${convo.dataset.ticket}/items${all ? "" : "?" + q}`);
    if (html === null) return;
    const box = document.createElement("ol");
    box.innerHTML = html;
    place([...box.children].filter((el) => el.id));
  }, 30);

  const refreshHead = later(async () => {
    const t = convo.dataset.ticket;
    const [head, file] = await Promise.all([fetchHtml(`/console/tickets/${t}/head`), fetchHtml(`/console/tickets/${t}/file`)]);
    if (head === null || file === null) return;
    const before = document.getElementById("ticket-head").firstElementChild?.dataset.mine;
    document.getElementById("ticket-head").innerHTML = head;
    document.getElementById("file").innerHTML = file;
    const now = document.getElementById("ticket-head").firstElementChild?.dataset.mine;
    // Holding the ticket or not changes the reply box: load the page again for it.
    if (before !== now) location.reload();
  }, 100);

  // --- the live connection ---------------------------------------------------------------
  function handle(event) {
    if (event.kind === "hello") { if (convo) fetchItems(); else if (queueRows) refreshQueue(); return; }
    if (seen.has(event.id)) return;
    seen.add(event.id);
    if (event.safe > safe) safe = event.safe;
    if (queueRows && (event.kind.startsWith("ticket_") || (event.kind === "message" && event.ticket_id))) refreshQueue();
    if (!convo) return;
    if (String(event.debtor_id) !== convo.dataset.debtor && String(event.ticket_id) !== convo.dataset.ticket) return;
    if (event.kind === "message" || event.kind === "delivery") { wanted.log.add(event.data.log_id); fetchItems(); }
    else if (event.kind === "note") { wanted.note.add(event.data.note_id); fetchItems(); }
    else if (event.kind.startsWith("ticket_")) refreshHead();
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/console/live?after=${safe}`);
    ws.onopen = () => { backoff = 500; dot?.classList.add("on"); };
    ws.onmessage = (m) => handle(JSON.parse(m.data));
    ws.onclose = (closed) => {
      dot?.classList.remove("on");
      // Signed out (here, elsewhere, or idle): the page reloads onto the sign-in form.
      if (closed.code === 1008) { location.reload(); return; }
      fetch("/console/queue/rows", { headers: { Accept: "application/json" } })
        .then((r) => { if (r.status === 401) location.reload(); }, () => {});
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }
  if (queueRows || convo) connect();

  // --- replying --------------------------------------------------------------------------
  const form = document.getElementById("reply-form");
  if (form) {
    const text = document.getElementById("reply-text");
    const status = document.getElementById("composer-status");
    const counter = document.getElementById("counter");
    let lastRenew = 0;
    text.addEventListener("input", () => {
      counter.textContent = `${text.value.length} / ${text.maxLength}`;
      if (Date.now() - lastRenew > 60000) {
        lastRenew = Date.now();
        post(`/console/tickets/${convo.dataset.ticket}/renew`, new FormData());
      }
    });
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(document.getElementById("send")); }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = e.submitter || document.getElementById("send");
      const body = new FormData(form);
      for (const b of form.querySelectorAll("button")) b.disabled = true;
      status.textContent = button.id === "add-note" ? "Saving note…" : "Sending…";
      status.className = "composer-status";
      try {
        const res = await post(button.getAttribute("formaction") || form.action, body);
        const answer = await res.json();
        status.textContent = answer.message;
        status.className = `composer-status ${answer.ok ? "ok" : "error"}`;
        if (answer.ok) { text.value = ""; form.elements.canned.value = ""; counter.textContent = `0 / ${text.maxLength}`; }
      } catch (err) {
        status.textContent = "That did not go through; check the connection and try again.";
        status.className = "composer-status error";
      } finally {
        for (const b of form.querySelectorAll("button")) b.disabled = false;
        text.focus();
      }
    });
    const canned = document.getElementById("canned");
    canned?.addEventListener("change", async () => {
      if (!canned.value) return;
      const res = await fetch(canned.dataset.url + canned.value, { credentials: "same-origin" });
      if (res.ok) {
        const picked = await res.json();
        text.value = picked.text;
        form.elements.canned.value = picked.template;  // the contact log names what it started from
        text.dispatchEvent(new Event("input"));
        text.focus();
      }
      canned.value = "";
    });
  }

  function post(url, body) {
    return fetch(url, { method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, Accept: "application/json" } });
  }

  // Acting for the debtor: sent in the background; the answer shows under the form (and, once
  // done, in the reply box's status line, as the side panel is redrawn by the change's event).
  document.addEventListener("submit", async (e) => {
    const f = e.target;
    if (!f.classList.contains("act")) return;
    e.preventDefault();
    const said = f.querySelector(".act-status");
    const buttons = f.querySelectorAll("button");
    for (const b of buttons) b.disabled = true;
    try {
      const url = e.submitter?.getAttribute("formaction") || f.action;
      const answer = await (await post(url, new FormData(f))).json();
      said.textContent = answer.message;
      said.className = `act-status ${answer.ok ? "ok" : "error"}`;
      const status = document.getElementById("composer-status");
      if (answer.ok && status) { status.textContent = answer.message; status.className = "composer-status ok"; }
    } catch (err) {
      said.textContent = "That did not go through; check the connection and try again.";
      said.className = "act-status error";
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });

  // A form is sent once: its buttons stay disabled until the next page (rows swapped in too).
  document.addEventListener("submit", (e) => {
    const f = e.target;
    if (f.id === "reply-form" || f.classList.contains("act") || f.method.toLowerCase() !== "post") return;
    setTimeout(() => { for (const b of f.querySelectorAll("button")) b.disabled = true; });
  });
  if (timeline) timeline.scrollTop = timeline.scrollHeight;
})();
