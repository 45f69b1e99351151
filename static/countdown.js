/* The verification code's live countdown: "Your code expires in 29:41", in a panel above the
   clock time. Without JavaScript the page shows the clock time and how long was left when it
   was made. The page sends the seconds left (not a clock time), so a wrong clock on the user's
   computer does not matter. The ticking line is hidden from screen readers; a polite live
   region says how long is left at 5 minutes and at 1 minute, and that the code has expired.
   Runs on load and after every htmx swap. */
(function () {
  "use strict";
  var ANNOUNCE = [300, 60];  // seconds left at which screen readers are told
  var timer = null;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function start() {
    var box = document.querySelector(".code-expiry[data-expires-in]");
    if (timer) { clearInterval(timer); timer = null; }
    if (!box) { return; }
    var line = box.querySelector(".countdown");
    var clock = box.querySelector(".countdown-clock");
    var news = box.querySelector(".countdown-news");
    var seconds = parseInt(box.getAttribute("data-expires-in"), 10);
    if (!line || !clock || !news || isNaN(seconds)) { return; }
    /* Measured once per rendered countdown, so a later swap elsewhere does not restart it. */
    if (!box.portalDeadline) { box.portalDeadline = Date.now() + seconds * 1000; }
    var expires = box.portalDeadline;
    var told = ANNOUNCE.filter(function (at) { return seconds <= at; });  // already past on arrival
    line.hidden = false;
    box.querySelectorAll(".expiry-left").forEach(function (el) { el.hidden = true; });  // the clock says it
    function tick() {
      var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      clock.textContent = pad(Math.floor(left / 60)) + ":" + pad(left % 60);
      ANNOUNCE.forEach(function (at) {
        if (left <= at && left > 0 && told.indexOf(at) < 0) {
          told.push(at);
          news.textContent = at / 60 + (at === 60 ? " minute" : " minutes") + " left to use your code.";
        }
      });
      if (left === 0) {
        clearInterval(timer);
        timer = null;
        line.textContent = "The code has expired: select Resend code to get a new one.";
        news.textContent = "Your code has expired. Select Resend code to get a new one.";
        box.classList.add("expired");
      }
    }
    tick();
    timer = setInterval(tick, 1000);
  }
  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);
})();
