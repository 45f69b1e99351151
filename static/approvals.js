/* The approval table's "Select all": a checkbox in the header that ticks (or clears) every
   request on the page, and shows as mixed when only some are ticked. Without JavaScript the
   "Select all on this page" link does the same by reloading the page with every row ticked;
   with it, that link gives way to the checkbox. Works again on every table htmx swaps in. */
(function () {
  "use strict";
  function rows() { return document.querySelectorAll("input[name=selected][form=bulk]"); }
  function sync() {
    var all = document.getElementById("select-all");
    if (!all) { return; }
    var boxes = rows();
    var ticked = 0;
    for (var i = 0; i < boxes.length; i++) { if (boxes[i].checked) { ticked++; } }
    all.checked = boxes.length > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  function enhance() {
    var all = document.getElementById("select-all");
    if (all) { all.hidden = false; }
    var links = document.querySelectorAll(".select-all-link");
    for (var i = 0; i < links.length; i++) { links[i].hidden = true; }
    sync();
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "select-all") {
      var boxes = rows();
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = target.checked; }
      target.indeterminate = false;
    } else if (target.name === "selected") {
      sync();
    }
  });
  document.addEventListener("htmx:load", enhance);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
})();
