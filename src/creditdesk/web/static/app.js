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

// Approvals: a refused decision (422: the comment is missing; 409: someone
// else decided first) answers with the item saying so; swap it in like a
// success into targets marked data-swap-refusals. (The new item's message, or
// its field in error, is marked autofocus, which htmx focuses after a swap.)
(function () {
  // Settling copies an element's old attributes onto its replacement for a
  // moment; a style attribute set from script is refused by the CSP.
  if (window.htmx) {
    window.htmx.config.attributesToSettle = ["class", "width", "height"];
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    // The event fires on the swap's target.
    if (!event.target.closest || !event.target.closest("[data-swap-refusals]")) {
      return;
    }
    var status = event.detail.xhr.status;
    if (status === 403 || status === 409 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
