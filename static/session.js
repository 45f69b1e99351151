/* Warns two minutes before a session ends, with a way to stay logged in (or, at the 12-hour
   limit, that it cannot be extended), and says so once it has ended. The server moves the idle
   clock on with every request, up to the session's absolute end; this mirrors it in the page.
   Times arrive as seconds from now, so a wrong clock on the user's computer does not matter.
   The focus moves only when the warning first appears or the session ends, never on a
   re-schedule, and never to an element that is about to disappear. */
(function () {
  "use strict";
  var WARN_BEFORE = 120 * 1000;
  var warnTimer = null;
  var endTimer = null;
  var endsAt = NaN;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function box() { return document.getElementById("session-warning"); }
  function seconds(el, name) { return parseInt(el.getAttribute(name), 10) * 1000; }
  function part(el, name) { return el.querySelector("." + name); }
  function focusIfLost(el, target) {
    var active = document.activeElement;
    if (!active || active === document.body || el.contains(active)) { target.focus(); }
  }
  function schedule(el, expiresAt) {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    var atLimit = !isNaN(endsAt) && expiresAt >= endsAt - 1000;
    part(el, "session-ending").hidden = false;
    part(el, "session-ended").hidden = true;
    part(el, "session-idle").hidden = atLimit;
    part(el, "session-limit").hidden = !atLimit;
    el.querySelector("button").hidden = atLimit;
    if (expiresAt - Date.now() > WARN_BEFORE && !el.hidden) {
      el.hidden = true;  // activity moved the end out of the warning's two minutes
      focusIfLost(el, document.getElementById("main"));
    }
    warnTimer = setTimeout(function () {
      var end = new Date(expiresAt);
      el.querySelectorAll(".session-end").forEach(function (slot) {
        slot.textContent = pad(end.getHours()) + ":" + pad(end.getMinutes());
      });
      if (el.hidden) {
        el.hidden = false;
        (atLimit ? el : el.querySelector("button")).focus();
      }
    }, Math.max(0, expiresAt - Date.now() - WARN_BEFORE));
    endTimer = setTimeout(function () {
      part(el, "session-ending").hidden = true;
      part(el, "session-ended").hidden = false;
      el.hidden = false;
      focusIfLost(el, part(el, "session-ended").querySelector("a"));
    }, Math.max(0, expiresAt - Date.now()));
  }
  function fromServer(el) {
    endsAt = Date.now() + seconds(el, "data-ends-in");
    var expiresIn = seconds(el, "data-expires-in");
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
    if (event.target.contains(el)) {
      fromServer(el);
      focusIfLost(el, document.getElementById("main"));  // the pressed button went with the old box
      return;
    }
    var idle = seconds(el, "data-idle-seconds");
    if (!isNaN(idle) && !isNaN(endsAt)) { schedule(el, Math.min(Date.now() + idle, endsAt)); }
  });
})();
