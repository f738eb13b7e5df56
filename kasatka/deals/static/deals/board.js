// The deals board: drag a card to another stage, or to "won" / "lost"; the card's own
// "move to" form does the same from the keyboard or a phone. Without this script that form
// is a plain POST; with it, the move happens in place and the server's fragment (the card
// and the columns' heads) is swapped in. On an error the card goes back where it was.
(function () {
  "use strict";

  var board = document.getElementById("board");
  if (!board) { return; }
  var canMove = board.getAttribute("data-can-move") === "1";
  var dialog = document.getElementById("lose-dialog");
  var dragged = null;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      var found = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
      return found ? decodeURIComponent(found[1]) : "";
    }
  }

  function say(text, tag) {
    var msg = document.getElementById("board-msg");
    msg.textContent = text;
    msg.className = "msg " + (tag || "");
    msg.hidden = false;
  }

  // The server's fragment: the card (returned) and elements to replace by their ids.
  function swapIn(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var card = null;
    Array.prototype.slice.call(template.content.children).forEach(function (el) {
      if (el.classList.contains("deal")) { card = el; return; }
      var old = el.id && document.getElementById(el.id);
      if (old) {
        if (el.id === "board-msg") { el.hidden = !el.textContent.trim(); }
        old.replaceWith(el);
      }
    });
    return card;
  }

  function post(form, fields) {
    var data = new FormData(form);
    Object.keys(fields).forEach(function (key) { data.set(key, fields[key]); });
    // The board's filter, so that the heads are recounted as the page shows them.
    data.set("seller", board.getAttribute("data-seller") || "");
    data.set("stuck", board.getAttribute("data-stuck") || "");
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "HX-Request": "true", "X-CSRFToken": csrfToken() },
    });
  }

  function listOf(target) {
    var column = document.getElementById("col-" + target);
    return column && column.querySelector(".cards-list");
  }

  // Send a card to `target` (a stage's id, "won" or "lost"); `extra`: the loss reason;
  // `reveal`: chosen in the card's form, so show where it went (on a phone, another column).
  function move(card, target, extra, reveal) {
    var form = card.querySelector("form[data-move-form]");
    if (!form) { return; }
    var home = { parent: card.parentNode, next: card.nextSibling };
    var list = listOf(target);
    if (list && card.parentNode !== list) { list.insertBefore(card, list.firstChild); }
    card.classList.add("busy");
    card.setAttribute("aria-busy", "true");
    function goBack() {
      if (home.parent) { home.parent.insertBefore(card, home.next); }
      card.classList.remove("busy");
      card.removeAttribute("aria-busy");
      var select = form.querySelector("select[name=to]");
      if (select) { select.value = card.getAttribute("data-stage"); }
    }
    var fields = Object.assign({ to: target }, extra || {});
    post(form, fields).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) {
          goBack();
          if (html.indexOf('id="board-msg"') >= 0) { swapIn(html); }
          else { say(board.getAttribute("data-error"), "error"); }
          return;
        }
        var fresh = swapIn(html);
        if (fresh) {
          card.replaceWith(fresh);
          fresh.focus({ preventScroll: true });
          if (reveal) { fresh.scrollIntoView({ block: "nearest", inline: "start" }); }
        } else {
          card.remove();  // won or lost: off the board
        }
      });
    }).catch(function () {
      goBack();
      say(board.getAttribute("data-error"), "error");
    });
  }

  // "Lost" asks why, in the dialog; cancelling leaves the card where it was.
  function askWhyLost(card) {
    if (!dialog || !dialog.showModal) {  // an old browser: the server asks on a page
      var form0 = card.querySelector("form[data-move-form]");
      form0.elements.to.value = "lost";
      form0.submit();
      return;
    }
    var form = dialog.querySelector("form");
    form.reset();
    var title = card.querySelector("h3");
    document.getElementById("lose-deal").textContent = title ? title.textContent : "";
    dialog.returnValue = "";
    dialog.card = card;
    dialog.showModal();
  }

  if (dialog) {
    dialog.querySelector("form").addEventListener("submit", function (event) {
      event.preventDefault();
      var form = event.target;
      var card = dialog.card;
      dialog.close("lost");
      if (card) {
        move(card, "lost", {
          loss_reason: form.elements.loss_reason.value, note: form.elements.note.value,
        });
      }
    });
    dialog.addEventListener("click", function (event) {
      if (event.target.closest("[data-cancel]")) { dialog.close(""); }
    });
    dialog.addEventListener("close", function () {
      var card = dialog.card;
      dialog.card = null;
      if (card && dialog.returnValue !== "lost") {
        var select = card.querySelector("select[name=to]");
        if (select) { select.value = card.getAttribute("data-stage"); }
        card.focus({ preventScroll: true });
      }
    });
  }

  function send(card, target, reveal) {
    if (!target || target === card.getAttribute("data-stage")) { return; }
    if (target === "lost") { askWhyLost(card); } else { move(card, target, null, reveal); }
  }

  // --- the card's forms, in place ---------------------------------------------------
  board.addEventListener("submit", function (event) {
    var form = event.target;
    var card = form.closest(".deal");
    if (!card) { return; }
    if (form.hasAttribute("data-move-form")) {
      event.preventDefault();
      send(card, form.elements.to.value, true);
    } else if (form.hasAttribute("data-card-form")) {
      event.preventDefault();
      post(form, {}).then(function (response) {
        return response.text().then(function (html) {
          var fresh = swapIn(html);
          if (fresh) {
            card.replaceWith(fresh);
            var nudge = fresh.querySelector("details.nudge");
            if (nudge) { nudge.open = true; nudge.querySelector("textarea").focus(); }
          } else if (!response.ok) {
            say(board.getAttribute("data-error"), "error");
          }
        });
      }).catch(function () { say(board.getAttribute("data-error"), "error"); });
    }
  });

  if (!canMove) { return; }

  // --- drag and drop ------------------------------------------------------------------
  function dropTarget(event) {
    var zone = event.target.closest && event.target.closest("[data-drop]");
    if (!zone || !dragged) { return null; }
    return zone.getAttribute("data-drop") === dragged.getAttribute("data-stage") ? null : zone;
  }

  function clearOver() {
    board.querySelectorAll(".over").forEach(function (el) { el.classList.remove("over"); });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".deal[draggable=true]");
    if (!card || card.classList.contains("busy")) { return; }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-deal"));
    card.classList.add("dragging");
    board.classList.add("dragging");
  });

  board.addEventListener("dragover", function (event) {
    var zone = dropTarget(event);
    if (!zone) { return; }
    event.preventDefault();  // allows the drop
    event.dataTransfer.dropEffect = "move";
    if (!zone.classList.contains("over")) { clearOver(); zone.classList.add("over"); }
  });

  board.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest("[data-drop]");
    if (zone && !zone.contains(event.relatedTarget)) { zone.classList.remove("over"); }
  });

  board.addEventListener("drop", function (event) {
    var zone = dropTarget(event);
    if (!zone) { return; }
    event.preventDefault();
    var card = dragged;
    clearOver();
    send(card, zone.getAttribute("data-drop"));
  });

  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    board.classList.remove("dragging");
    clearOver();
  });
})();
