// The chain editor: add, remove and reorder steps, channel slots, inserting variables.
// The live linter and preview are htmx (attributes in the page); this file only keeps the
// form's numbering right and tells htmx when something changed that typing does not show.
(function () {
  "use strict";

  function editor() { return document.getElementById("chain-form"); }

  function steps() {
    return Array.prototype.slice.call(document.querySelectorAll("#steps > [data-step]"));
  }

  // Checkboxes and moved steps keep their input's value, which htmx's "changed" ignores:
  // the page listens for this event as well.
  function announce() {
    var form = editor();
    if (form) { form.dispatchEvent(new CustomEvent("chain-changed", { bubbles: true })); }
  }

  // Steps are numbered 1…n in page order; a removed one keeps no number.
  function renumber() {
    var n = 0;
    steps().forEach(function (li) {
      var order = li.querySelector("input[name$='-ORDER']");
      var removed = li.querySelector("input[name$='-DELETE']");
      var gone = removed && removed.checked;
      li.classList.toggle("removed", !!gone);
      if (!gone) {
        n += 1;
        if (order) { order.value = n; }
      }
    });
  }

  // Show the chosen channels and one empty place for the next; the rest stay hidden.
  function tidyChannels(root) {
    (root || document).querySelectorAll("[data-channels]").forEach(function (box) {
      var emptyShown = false;
      box.querySelectorAll("select").forEach(function (select) {
        var slot = select.closest(".channel-slot");
        var hide = !select.value && emptyShown;
        if (!select.value) { emptyShown = true; }
        slot.hidden = hide;
      });
    });
  }

  function addStep() {
    var template = document.getElementById("step-template");
    var total = document.querySelector("input[name='steps-TOTAL_FORMS']");
    if (!template || !total) { return; }
    var index = parseInt(total.value, 10) || 0;
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
    var li = holder.firstElementChild;
    document.getElementById("steps").appendChild(li);
    total.value = index + 1;
    if (window.htmx) { window.htmx.process(li); }
    renumber();
    tidyChannels(li);
    var reason = li.querySelector("input[name$='-reason']");
    if (reason) { reason.focus(); }
    announce();
  }

  function move(li, direction) {
    var list = steps();
    var at = list.indexOf(li);
    var other = list[at + (direction === "up" ? -1 : 1)];
    if (!other) { return; }
    if (direction === "up") { other.before(li); } else { other.after(li); }
    renumber();
    announce();
  }

  // The subject or text last worked on in each step takes an inserted variable.
  var lastField = new WeakMap();

  function insert(button) {
    var li = button.closest("[data-step]");
    var field = lastField.get(li) || li.querySelector("textarea[name$='-body_template']");
    var text = button.getAttribute("data-insert");
    var start = field.selectionStart === null ? field.value.length : field.selectionStart;
    var end = field.selectionEnd === null ? field.value.length : field.selectionEnd;
    field.setRangeText(text, start, end, "end");
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) { return; }
    if (target.closest("[data-add-step]")) { addStep(); return; }
    var moveButton = target.closest("[data-move]");
    if (moveButton) { move(moveButton.closest("[data-step]"), moveButton.getAttribute("data-move")); return; }
    var variable = target.closest("[data-insert]");
    if (variable) { insert(variable); }
  });

  document.addEventListener("focusin", function (event) {
    var field = event.target;
    if (field.matches && field.matches("[name$='-subject_template'], [name$='-body_template']")) {
      lastField.set(field.closest("[data-step]"), field);
    }
  });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.closest || !el.closest("#chain-form")) { return; }
    if (el.matches("input[name$='-DELETE']")) { renumber(); }
    if (el.matches("[data-channels] select")) { tidyChannels(el.closest("[data-step]")); }
    if (el.type === "checkbox") { announce(); }
  });

  // Enter in the contact search looks for contacts; it must not save the chain.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.id === "preview-search") { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", function () { tidyChannels(document); });
})();
