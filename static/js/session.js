/* Idle-session warning. The server ends a session after CLINIC_SESSION_IDLE_SECONDS
   without activity (clinic/sessions.py); this script warns a little before that and
   offers to stay logged in. It reads its settings from #session-timeout's data-
   attributes (no inline script: the Content-Security-Policy forbids them). */
(function () {
  "use strict";
  var root = document.getElementById("session-timeout");
  if (!root || typeof root.showModal !== "function") { return; }
  var idle = Number(root.dataset.idleSeconds);
  var warning = Number(root.dataset.warningSeconds);
  var statusUrl = root.dataset.statusUrl;
  var keepaliveUrl = root.dataset.keepaliveUrl;
  var csrfToken = root.dataset.csrfToken;
  var countdown = root.querySelector("[data-countdown]");
  var stay = root.querySelector("[data-stay]");
  var warnTimer = null;
  var endTimer = null;
  var tick = null;
  var deadline = 0;

  function clearTimers() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    window.clearInterval(tick);
  }

  function minutesAndSeconds(seconds) {
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function showCountdown() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    countdown.textContent = minutesAndSeconds(left);
  }

  // Time is up: reload, so that the server ends the session and shows the login page.
  function end() {
    clearTimers();
    window.location.reload();
  }

  function schedule(secondsLeft) {
    clearTimers();
    deadline = Date.now() + secondsLeft * 1000;
    warnTimer = window.setTimeout(warn, Math.max(0, secondsLeft - warning) * 1000);
    endTimer = window.setTimeout(end, (secondsLeft + 1) * 1000);
    root.dataset.armed = "true";  // the timers run (tests wait for this)
  }

  // Before warning, ask the server: another tab may have kept the session alive.
  function warn() {
    fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { idle_seconds_left: 0 }; })
      .then(function (data) {
        if (data.idle_seconds_left > warning + 5) {
          schedule(data.idle_seconds_left);
          return;
        }
        deadline = Date.now() + data.idle_seconds_left * 1000;
        showCountdown();
        tick = window.setInterval(showCountdown, 1000);
        if (!root.open) { root.showModal(); }
        stay.focus();
      })
      .catch(function () { /* offline: the server still ends the session on time */ });
  }

  stay.addEventListener("click", function () {
    fetch(keepaliveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken, Accept: "application/json" }
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function (data) {
        root.close();
        schedule(data.idle_seconds_left);
      })
      .catch(end);
  });

  // Escape closes a modal dialog without saying "stay": treat it as staying.
  root.addEventListener("cancel", function (event) {
    event.preventDefault();
    stay.click();
  });

  schedule(idle);
})();
