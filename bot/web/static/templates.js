// The template editor: line numbers, highlighted problems, inserting variables, and the live
// preview the server renders with the real sandboxed renderer as the admin types.
"use strict";
(function () {
  const form = document.getElementById("tpl-form");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const body = document.getElementById("body");
  const backdrop = document.getElementById("backdrop");
  const gutter = document.getElementById("gutter");
  const debtor = document.getElementById("debtor");
  let findings = [];
  let asked = 0;
  let timer = null;

  function escapeHtml(text) {
    return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }

  // The backdrop repeats the text line by line, with <mark> where a check points; the gutter
  // puts each line's number beside where that line starts (lines wrap).
  function paint() {
    const text = body.value;
    const marks = findings
      .filter((f) => f.start !== null && f.end !== null && f.end > f.start)
      .sort((a, b) => a.start - b.start);
    const badLines = new Set(findings.filter((f) => f.line).map((f) => f.line));
    let html = "";
    let line = 1;
    let lineHtml = "";
    let m = 0;
    let open = false;
    for (let i = 0; i <= text.length; i++) {
      while (open && m < marks.length && marks[m].end === i) { lineHtml += "</mark>"; open = false; m++; }
      if (!open && m < marks.length && marks[m].start === i) { lineHtml += '<mark class="' + marks[m].check + '">'; open = true; }
      if (i === text.length) break;
      const c = text[i];
      if (c === "\n") {
        if (open) lineHtml += "</mark>";
        html += '<div class="ln' + (badLines.has(line) ? " bad" : "") + '">' + (lineHtml || " ") + "</div>";
        lineHtml = open ? '<mark class="' + marks[m].check + '">' : "";
        line++;
      } else {
        lineHtml += escapeHtml(c);
      }
    }
    if (open) lineHtml += "</mark>";
    html += '<div class="ln' + (badLines.has(line) ? " bad" : "") + '">' + (lineHtml || " ") + "</div>";
    backdrop.innerHTML = html;
    numbers();
  }

  function numbers() {
    const lines = backdrop.querySelectorAll(".ln");
    let html = "";
    lines.forEach((ln, i) => {
      const top = ln.offsetTop - body.scrollTop;
      html += '<span class="' + (ln.classList.contains("bad") ? "bad" : "") + '" style="top:' + top + 'px">' + (i + 1) + "</span>";
    });
    gutter.innerHTML = html;
    backdrop.scrollTop = body.scrollTop;
  }

  function where(f) {
    if (!f.line) return "";
    return '<span class="where">Line ' + f.line + (f.column ? ", column " + f.column : "") + "</span> ";
  }

  function show(data) {
    findings = data.findings;
    const bubble = document.getElementById("bubble");
    bubble.innerHTML = data.html !== null ? data.html
      : '<span class="muted">Cannot be shown until the problems below are fixed.</span>';
    document.getElementById("kb").innerHTML = data.buttons.map((row) =>
      '<div class="kb-row">' + row.map((b) => '<span class="kb-button">' + escapeHtml(b) + "</span>").join("") + "</div>").join("");
    const length = document.getElementById("length");
    length.textContent = data.length;
    document.getElementById("meter").classList.toggle("over", data.length > data.limit);
    document.getElementById("reader-name").textContent = "As " + data.reader + " would see it.";
    document.getElementById("notes").innerHTML = data.notes.map((n) => "<li>" + escapeHtml(n) + "</li>").join("");
    document.getElementById("checks").innerHTML = data.findings.length
      ? data.findings.map((f) => '<li class="finding" data-check="' + escapeHtml(f.check) + '">' + where(f) + escapeHtml(f.message) + "</li>").join("")
      : '<li class="pass">Every check passes: it can go live.</li>';
    const verdict = document.getElementById("verdict");
    const count = data.findings.length;
    verdict.textContent = count ? count + (count === 1 ? " problem" : " problems") + " to fix before it can go live" : "";
    paint();
  }

  async function refresh() {
    const mine = ++asked;
    const data = new FormData();
    data.append("body", body.value);
    data.append("debtor", debtor ? debtor.value : "");
    try {
      const res = await fetch(form.dataset.preview, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      });
      if (res.status === 401) { location.reload(); return; }
      if (!res.ok) throw new Error(res.status);
      const shown = await res.json();
      if (mine === asked) show(shown);
    } catch (err) {
      if (mine === asked) document.getElementById("verdict").textContent = "The preview could not be refreshed; it will try again as you type.";
    }
  }

  body.addEventListener("input", () => {
    paint();
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  });
  body.addEventListener("scroll", numbers);
  window.addEventListener("resize", numbers);
  // Tab indents inside the editor instead of leaving it.
  body.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      insert("  ");
    }
  });

  function insert(snippet) {
    const start = body.selectionStart;
    const end = body.selectionEnd;
    body.setRangeText(snippet, start, end, "end");
    body.focus();
    body.dispatchEvent(new Event("input"));
  }
  document.querySelectorAll("button.var").forEach((b) =>
    b.addEventListener("click", () => insert(b.dataset.snippet)));

  // Choosing a debtor re-renders what is typed for them, without reloading the page.
  const reader = document.getElementById("reader");
  if (reader) reader.addEventListener("submit", (e) => {
    e.preventDefault();
    const url = new URL(location.href);
    if (debtor.value.trim()) url.searchParams.set("debtor", debtor.value.trim());
    else url.searchParams.delete("debtor");
    history.replaceState(null, "", url);
    refresh();
  });

  const initial = JSON.parse(document.getElementById("initial-preview").textContent);
  findings = initial.findings;
  paint();
})();
