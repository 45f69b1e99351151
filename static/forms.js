/* Forms, once the script runs (htmx has started: it comes first in the bundle).
   1. A control marked data-fallback (the "Show the information for this role" button) is there
      for a page without the script, and stays until the script takes it away (removed, not
      hidden: a hidden submit button would still be the one Enter in a text field presses). A select that fetches
      its part of the page on change (the role) but was changed before htmx started fetches it
      now: nothing the person did before the script arrived is lost.
   2. A field with an error loses it as soon as it changes: its message, its error styling and
      its line in the error summary (the summary goes when it has no line left). Without the
      script the errors stay until the form is sent again. */
(function () {
  "use strict";
  if (!window.htmx) { return; }

  function changedBeforeStart(select) {  // not the option the page came with (the first, if none is marked)
    var initial = 0;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].defaultSelected) { initial = i; }
    }
    return select.selectedIndex !== initial;
  }

  /* On the first page and on every part htmx swaps in (a step arrives between its insertion
     and htmx listening to it: a quick choice in that moment must not be lost either). */
  htmx.onLoad(function (root) {
    root.querySelectorAll("[data-fallback]").forEach(function (el) { el.remove(); });
    root.querySelectorAll("select[hx-get][hx-trigger=change]").forEach(function (select) {
      if (changedBeforeStart(select)) { htmx.trigger(select, "change"); }
    });
  });

  function withoutIds(list, ids) {
    return (list || "").split(/\s+/).filter(function (id) { return id && ids.indexOf(id) < 0; }).join(" ");
  }

  function clearError(event) {
    var control = event.target;
    if (!control.closest || control.getAttribute("aria-invalid") !== "true") { return; }
    var field = control.closest(".has-error");
    if (!field) { return; }
    var messages = Array.prototype.slice.call(field.querySelectorAll(".error-message"));
    var ids = messages.map(function (el) { return el.id; });
    messages.forEach(function (el) { el.remove(); });
    field.classList.remove("has-error");
    var targets = [];
    field.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      var described = withoutIds(el.getAttribute("aria-describedby"), ids);
      if (described) { el.setAttribute("aria-describedby", described); } else { el.removeAttribute("aria-describedby"); }
      if (el.id) { targets.push("#" + el.id); }
    });
    document.querySelectorAll(".error-summary").forEach(function (summary) {
      var removed = false;
      summary.querySelectorAll("li").forEach(function (item) {
        var link = item.querySelector("a");
        if (link && targets.indexOf(link.getAttribute("href")) >= 0) { item.remove(); removed = true; }
      });
      if (removed && !summary.querySelector("li")) {
        summary.hidden = true;
        document.title = document.title.replace(/^Error: /, "");
      }
    });
  }
  document.addEventListener("input", clearError);
  document.addEventListener("change", clearError);
})();
