// virtfleet dashboard: refreshes every block marked data-poll from its fragment URL (same origin, the session's
// cookie) every data-poll-ms milliseconds. Fragments are HTML the server rendered and escaped. A failed refresh
// keeps the last content and says so; a 401 (session over) sends the browser to the login page's text.
"use strict";
(function () {
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var every = parseInt(el.getAttribute("data-poll-ms"), 10) || 5000;
    var status = document.createElement("p");
    status.className = "poll-status muted";
    el.parentNode.insertBefore(status, el.nextSibling);
    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
        if (r.status === 401) {
          window.location.reload();
          return null;
        }
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.text();
      }).then(function (html) {
        if (html !== null) {
          el.innerHTML = html;
          status.textContent = "";
        }
      }).catch(function (e) {
        status.textContent = "Not updated: " + e.message + " (retrying)";
      }).finally(function () {
        window.setTimeout(tick, every);
      });
    }
    window.setTimeout(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var blocks = document.querySelectorAll("[data-poll]");
    for (var i = 0; i < blocks.length; i++) {
      poll(blocks[i]);
    }
  });
})();
