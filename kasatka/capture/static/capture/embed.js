/* Kasatka lead form: sends the form by fetch (the page stays), passes on the page's UTM
   tags, and retries safely with an Idempotency-Key. Without this script the form still
   works as a plain HTML post. Served by Kasatka; no dependencies. */
(function () {
  "use strict";
  var UTM = ["utm_source", "utm_medium", "utm_campaign"];

  function randomKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  function fillFromPage(form) {
    var query = new URLSearchParams(window.location.search);
    UTM.forEach(function (name) {
      var box = form.elements[name];
      if (box && !box.value && query.get(name)) box.value = query.get(name);
    });
    if (form.elements.page_url) form.elements.page_url.value = window.location.href;
  }

  function payload(form) {
    var data = { consent: [] };
    Array.prototype.forEach.call(form.elements, function (box) {
      if (!box.name) return;
      if (box.name === "consent") {
        if (box.checked) data.consent.push(box.value);
      } else if (box.type !== "submit") {
        data[box.name] = box.value;
      }
    });
    return JSON.stringify(data);
  }

  function say(form, text, isError) {
    var place = form.querySelector("[data-kasatka-message]");
    if (!place) return;
    place.textContent = text;
    place.hidden = false;
    place.className = "kasatka-message" + (isError ? " kasatka-error" : "");
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-error-for]"), function (node) {
      node.parentNode.removeChild(node);
    });
  }

  function showErrors(form, problem) {
    var lines = [];
    (problem.errors || []).forEach(function (error) {
      var box = form.elements[error.field];
      if (box && box.parentNode && !box.length) {
        var note = document.createElement("span");
        note.className = "kasatka-error";
        note.setAttribute("data-error-for", error.field);
        note.textContent = error.reason;
        box.parentNode.appendChild(note);
      } else {
        lines.push(error.reason);
      }
    });
    say(form, lines.join(" ") || problem.detail || form.getAttribute("data-failed") || "", true);
  }

  function send(form, event) {
    if (!window.fetch || !window.JSON) return; // the plain post goes ahead
    event.preventDefault();
    var body = payload(form);
    // One key per content: a retry of the same lead is recognised, a corrected one is new.
    if (form.kasatkaBody !== body) {
      form.kasatkaBody = body;
      form.kasatkaKey = randomKey();
    }
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    clearErrors(form);
    window.fetch(form.action, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Idempotency-Key": form.kasatkaKey
      },
      body: body
    }).then(function (response) {
      return response.json().then(function (answer) {
        return { status: response.status, answer: answer };
      });
    }).then(function (result) {
      if (button) button.disabled = false;
      if (result.status < 400) {
        if (result.answer.redirect) {
          window.location.href = result.answer.redirect;
          return;
        }
        Array.prototype.forEach.call(form.querySelectorAll("p, fieldset"), function (node) {
          if (!node.hasAttribute("data-kasatka-message")) node.hidden = true;
        });
        say(form, result.answer.message || "", false);
        form.setAttribute("data-kasatka-sent", "");
      } else {
        showErrors(form, result.answer);
      }
    }).catch(function () {
      if (button) button.disabled = false;
      // Nothing is lost: sending again reuses the key, so the lead is made once.
      say(form, form.getAttribute("data-failed") || "Network error, please send again.", true);
    });
  }

  function start() {
    Array.prototype.forEach.call(
      document.querySelectorAll("form[data-kasatka-capture]"),
      function (form) {
        if (form.kasatkaReady) return;
        form.kasatkaReady = true;
        fillFromPage(form);
        form.addEventListener("submit", function (event) { send(form, event); });
      }
    );
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
