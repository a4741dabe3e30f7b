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
// success on forms marked data-swap-refusals. Then the new item's message
// (or its field in error) takes the focus, so the keyboard carries on there.
(function () {
  var swapped = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (!elt.closest || !elt.closest("[data-swap-refusals]")) {
      return;
    }
    swapped = event.detail.target.id;
    var status = event.detail.xhr.status;
    if (status === 403 || status === 409 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    var item = swapped ? document.getElementById(swapped) : null;
    swapped = null;
    var focus = item && item.querySelector("[data-focus], [aria-invalid='true']");
    if (focus) {
      focus.focus();
    }
  });
})();
