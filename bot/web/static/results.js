// The results page: each section is fetched on its own, so a slow figure never holds back the
// others; a section that fails says so and offers to try again.
"use strict";
(function () {
  function load(box) {
    box.setAttribute("aria-busy", "true");
    fetch(box.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) { return r.text().then(function (t) { throw new Error(r.status === 400 ? t : "status " + r.status); }); }
        return r.text();
      })
      .then(function (html) { box.innerHTML = html; })
      .catch(function (err) {
        box.textContent = "";
        var p = document.createElement("p");
        p.className = "flash error";
        p.textContent = "This part could not be counted (" + err.message + "). ";
        var again = document.createElement("button");
        again.type = "button";
        again.textContent = "Try again";
        again.addEventListener("click", function () { load(box); });
        p.appendChild(again);
        box.appendChild(p);
      })
      .finally(function () { box.setAttribute("aria-busy", "false"); });
  }
  document.querySelectorAll(".results-body[data-src]").forEach(load);
})();
