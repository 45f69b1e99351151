/* Warns two minutes before an idle session ends, with a way to stay logged in. The server
   moves the idle clock on with every request; this only mirrors it in the page. */
(function () {
  "use strict";
  var WARN_BEFORE = 120 * 1000;
  var timer = null;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function schedule(expiresAt) {
    var box = document.getElementById("session-warning");
    if (!box) { return; }
    if (timer) { clearTimeout(timer); }
    var wait = Math.max(0, expiresAt - Date.now() - WARN_BEFORE);
    timer = setTimeout(function () {
      var end = new Date(expiresAt);
      var slot = box.querySelector(".session-end");
      if (slot) { slot.textContent = pad(end.getHours()) + ":" + pad(end.getMinutes()); }
      box.hidden = false;
      var button = box.querySelector("button");
      if (button) { button.focus(); }
    }, wait);
  }
  function start() {
    var box = document.getElementById("session-warning");
    if (!box) { return; }
    var expires = Date.parse(box.getAttribute("data-expires"));
    if (!isNaN(expires)) { schedule(expires); }
  }
  document.addEventListener("DOMContentLoaded", start);
  /* Any request to the server restarts the idle clock there, so restart it here too. */
  document.addEventListener("htmx:afterRequest", function () {
    var box = document.getElementById("session-warning");
    var idle = box ? parseInt(box.getAttribute("data-idle-seconds"), 10) : NaN;
    if (!isNaN(idle)) { schedule(Date.now() + idle * 1000); }
  });
})();
