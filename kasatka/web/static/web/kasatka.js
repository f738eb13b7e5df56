// Kasatka's few behaviours, without inline script (the CSP forbids it).
(function () {
  "use strict";
  // A select that submits its form when changed (the language switch, filters).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[data-autosubmit]")) { el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit(); }
  });
  // A button that asks first: data-confirm="Delete?".
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
  });
})();
