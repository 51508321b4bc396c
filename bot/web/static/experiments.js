// Template experiments: a stop asks first, and an experiment's form is sent once.
"use strict";
(function () {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  document.querySelectorAll("form[data-once]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (event.defaultPrevented) return;
      // After the browser has taken the submission: every button of every experiment form
      // waits for the next page, so neither this one nor its alternative goes twice.
      setTimeout(() => {
        document.querySelectorAll("form[data-once] button").forEach((b) => { b.disabled = true; });
      });
    });
  });
})();
