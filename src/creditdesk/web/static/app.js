// The console's only script of its own. Pages work without it; with it,
// htmx requests carry the CSRF token and counters count as you type.
"use strict";

(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request echoes the session's CSRF token, as forms do with
  // their hidden csrf_token field.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // A live character count for fields marked data-counter="<output id>".
  function updateCounter(field) {
    var output = document.getElementById(field.getAttribute("data-counter"));
    if (!output) {
      return;
    }
    var min = parseInt(field.getAttribute("minlength") || "0", 10);
    var max = parseInt(field.getAttribute("maxlength") || "0", 10);
    var length = field.value.length;
    var text = length + " of " + max + " characters";
    if (length < min) {
      text += " (at least " + min + ")";
    }
    output.textContent = text;
    output.classList.toggle("short", length < min);
  }

  document.addEventListener("input", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-counter")) {
      updateCounter(event.target);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-counter]").forEach(updateCounter);
  });
})();
