/* Live mm:ss countdown to a verification code's expiry. Without JavaScript the page shows the
   expiry clock time instead. The page sends the seconds left (not a clock time), so a wrong
   clock on the user's computer does not matter. Runs on load and after every htmx swap. */
(function () {
  "use strict";
  var timer = null;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function start() {
    var box = document.querySelector(".countdown[data-expires-in]");
    if (timer) { clearInterval(timer); timer = null; }
    if (!box) { return; }
    var clock = box.querySelector(".countdown-clock");
    var seconds = parseInt(box.getAttribute("data-expires-in"), 10);
    if (!clock || isNaN(seconds)) { return; }
    /* Measured once per rendered countdown, so a later swap elsewhere does not restart it. */
    if (!box.portalDeadline) { box.portalDeadline = Date.now() + seconds * 1000; }
    var expires = box.portalDeadline;
    box.hidden = false;
    function tick() {
      var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      clock.textContent = pad(Math.floor(left / 60)) + ":" + pad(left % 60);
      if (left === 0) {
        clearInterval(timer);
        timer = null;
        box.textContent = " (the code has expired: select Resend code)";
      }
    }
    tick();
    timer = setInterval(tick, 1000);
  }
  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);
})();
