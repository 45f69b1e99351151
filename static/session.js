/* Warns two minutes before a session ends, with a way to stay logged in, and says so once it
   has ended. The server moves the idle clock on with every request (up to the session's
   absolute end); this mirrors it in the page. Times arrive as seconds from now, so a wrong
   clock on the user's computer does not matter. */
(function () {
  "use strict";
  var WARN_BEFORE = 120 * 1000;
  var warnTimer = null;
  var endTimer = null;
  var endsAt = NaN;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function box() { return document.getElementById("session-warning"); }
  function seconds(el, name) { return parseInt(el.getAttribute(name), 10) * 1000; }
  function schedule(el, expiresAt) {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    var ending = el.querySelector(".session-ending");
    var ended = el.querySelector(".session-ended");
    el.hidden = true;
    warnTimer = setTimeout(function () {
      var end = new Date(expiresAt);
      el.querySelector(".session-end").textContent = pad(end.getHours()) + ":" + pad(end.getMinutes());
      el.hidden = false;
      el.querySelector("button").focus();
    }, Math.max(0, expiresAt - Date.now() - WARN_BEFORE));
    endTimer = setTimeout(function () {
      ending.hidden = true;
      ended.hidden = false;
      el.hidden = false;
    }, Math.max(0, expiresAt - Date.now()));
  }
  function fromServer(el) {
    var expiresIn = seconds(el, "data-expires-in");
    endsAt = Date.now() + seconds(el, "data-ends-in");
    if (!isNaN(expiresIn)) { schedule(el, Date.now() + expiresIn); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var el = box();
    if (el) { fromServer(el); }
  });
  /* Any request to the server restarts the idle clock there, so restart it here too; a
     swapped-in warning (Stay logged in) carries the server's own figures. */
  document.addEventListener("htmx:afterSettle", function (event) {
    var el = box();
    if (!el) { return; }
    if (event.target.contains(el)) { fromServer(el); return; }
    var idle = seconds(el, "data-idle-seconds");
    if (!isNaN(idle) && !isNaN(endsAt)) { schedule(el, Math.min(Date.now() + idle, endsAt)); }
  });
})();
