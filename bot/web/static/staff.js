// The staff page: a question before a form that signs someone out, and copying a new password.
"use strict";

document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

document.querySelectorAll("button[data-copy]").forEach((button) => {
  button.addEventListener("click", async () => {
    const text = document.querySelector(button.dataset.copy).textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      // No clipboard (plain http on another host): select the text for Ctrl+C instead.
      window.getSelection().selectAllChildren(document.querySelector(button.dataset.copy));
      button.textContent = "Selected: press Ctrl+C";
    }
  });
});
