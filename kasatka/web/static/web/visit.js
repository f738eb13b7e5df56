// The visit form: only the boxes that apply, the phone masked as the country writes it, and
// "this is them" from the list of contacts the business already has (web/_duplicates.html).
(function () {
  "use strict";

  // --- only what applies -----------------------------------------------------------------
  // A group that does not apply is hidden and disabled: a disabled box is not posted, so an
  // amount typed before the seller switched to "did not buy" cannot come back as an error.
  function answer(form, name) {
    var checked = form.querySelector("input[name=" + name + "]:checked");
    return checked ? checked.value : "";
  }

  function showWhatApplies(form) {
    var bought = answer(form, "bought"), taken = answer(form, "contacts_taken");
    var applies = { "bought": bought === "yes", "not-bought": bought === "no", "taken": taken === "yes" };
    form.querySelectorAll("[data-when]").forEach(function (group) {
      var on = applies[group.getAttribute("data-when")];
      group.hidden = !on;
      group.disabled = !on;
    });
  }

  // --- the phone mask ---------------------------------------------------------------------
  // data-mask="+7 (___) ___-__-__": "_" is a digit of the national number. A number that
  // starts with "+" and another country code is left as typed; the server checks it anyway.
  function maskOf(input) {
    var mask = input.getAttribute("data-mask");
    return { mask: mask, code: (mask.match(/^\+(\d+)/) || ["", ""])[1],
             trunk: input.getAttribute("data-trunk") || "", slots: (mask.match(/_/g) || []).length };
  }

  function digitsOf(text) { return text.replace(/\D/g, ""); }

  // The national digits in what was typed, and how many leading digits were a prefix.
  function national(raw, m) {
    var digits = digitsOf(raw);
    if (raw.trim().charAt(0) === "+") {
      if (digits.indexOf(m.code) !== 0) { return null; }  // another country: as typed
      return { digits: digits.slice(m.code.length), prefix: m.code.length };
    }
    if (digits.length === 1 && (digits === m.trunk || digits === m.code)) {
      return { digits: "", prefix: 1 };  // the first key was the "8" or "7" people dial first
    }
    if (digits.length === m.slots + 1 && (digits.charAt(0) === m.trunk || digits.charAt(0) === m.code)) {
      return { digits: digits.slice(1), prefix: 1 };  // "8 916 123-45-67" pasted
    }
    return { digits: digits, prefix: 0 };
  }

  // The mask filled with the digits up to the last one typed; extra digits follow as they are.
  function format(digits, m) {
    var out = "", i = 0, k;
    for (k = 0; k < m.mask.length; k++) {
      var ch = m.mask.charAt(k);
      if (ch === "_") {
        if (i >= digits.length) { break; }
        out += digits.charAt(i++);
      } else {
        if (i >= digits.length && i > 0) { break; }
        out += ch;
      }
    }
    return out + digits.slice(i);
  }

  // Where the caret goes: after the country code and as many national digits as before.
  function caretAfter(text, m, count) {
    var need = m.code.length + count, seen = 0, k;
    for (k = 0; k < text.length && seen < need; k++) {
      if (/\d/.test(text.charAt(k))) { seen++; }
    }
    while (count === 0 && k < text.length && /\D/.test(text.charAt(k))) { k++; }
    return k;
  }

  function remask(input, event) {
    var m = maskOf(input), raw = input.value;
    var deleting = event && event.inputType && event.inputType.indexOf("delete") === 0;
    var caret = input.selectionStart === null ? raw.length : input.selectionStart;
    var atEnd = caret >= raw.length;
    var nat = national(raw, m);
    if (nat === null) { input.dataset.national = ""; return; }
    var before = Math.max(0, digitsOf(raw.slice(0, caret)).length - nat.prefix);
    var digits = nat.digits;
    // Backspace over a ")" or "-" removes the digit before it, as people expect.
    if (deleting && event.inputType === "deleteContentBackward" &&
        digits === (input.dataset.national || "") && before > 0) {
      digits = digits.slice(0, before - 1) + digits.slice(before);
      before -= 1;
      atEnd = false;
    }
    input.dataset.national = digits;
    if (!digits && (deleting || !digitsOf(raw))) { input.value = ""; return; }
    var text = format(digits, m);
    if (text === raw) { return; }
    input.value = text;
    if (document.activeElement === input) {
      var at = atEnd ? text.length : caretAfter(text, m, before);
      input.setSelectionRange(at, at);
    }
  }

  // --- "this is them" ----------------------------------------------------------------------
  // The name is the contact's; the phone or e-mail only where what was typed is no address:
  // a new e-mail the client just gave is kept and added to their card by the server.
  function fill(button) {
    var form = button.closest("form");
    var set = function (name, value) {
      var input = form.querySelector("[name=" + name + "]");
      if (input && value) {
        input.value = value;
        if (input.hasAttribute("data-mask")) { input.dataset.national = ""; remask(input, null); }
      }
    };
    set("name", button.getAttribute("data-name"));
    set("phone", button.getAttribute("data-phone"));
    set("email", button.getAttribute("data-email"));
    var taken = form.querySelector("input[name=contacts_taken][value=yes]");
    if (taken) { taken.checked = true; }
    showWhatApplies(form);
    var item = button.closest("li");
    form.dataset.chosen = item ? item.getAttribute("data-contact") || "" : "";
    markChosen(form);
  }

  // The chosen contact stays marked when the list is asked again (the phone box loses focus).
  function markChosen(form) {
    form.querySelectorAll(".duplicates li").forEach(function (item) {
      var chosen = !!form.dataset.chosen && item.getAttribute("data-contact") === form.dataset.chosen;
      item.classList.toggle("chosen", chosen);
      var b = item.querySelector("[data-fill-contact]");
      if (b) { b.setAttribute("aria-pressed", chosen ? "true" : "false"); }
    });
  }

  function start() {
    var form = document.getElementById("visit-form");
    if (!form) { return; }
    showWhatApplies(form);
    form.addEventListener("change", function (event) {
      if (event.target.type === "radio") { showWhatApplies(form); }
    });
    form.querySelectorAll("input[data-mask]").forEach(function (input) {
      remask(input, null);
      input.addEventListener("input", function (event) { remask(input, event); });
    });
    document.body.addEventListener("htmx:afterSwap", function () { markChosen(form); });
    form.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-fill-contact]");
      if (button) { event.preventDefault(); fill(button); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
