// Executor dashboard behaviour. Loaded as a file (the Content-Security-Policy allows no inline
// script); each feature looks for its own markers in the page and does nothing without them.
"use strict";
(function () {
  // Times: the markup carries UTC (also in the title, shown on hover); show the viewer's zone.
  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      el.textContent = date.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
      el.title = el.getAttribute("datetime").replace("T", " ").replace("Z", " UTC");
      el.dataset.local = "1";
    });
  }

  // Keyboard: g then r/w/s/i goes to a section; / focuses the page's search field.
  var pendingG = false;
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); }
      return;
    }
    if (pendingG) {
      pendingG = false;
      var link = document.querySelector('nav a[data-key="' + event.key + '"]');
      if (link) { event.preventDefault(); link.click(); }
      return;
    }
    if (event.key === "g") pendingG = true;
  });

  var features = [localizeTimes];
  window.executorUI = {
    // Page modules register a function(root) called on load and after every htmx swap.
    register: function (feature) { features.push(feature); if (document.readyState !== "loading") feature(document); },
  };
  function runAll(root) { features.forEach(function (feature) { feature(root); }); }
  document.addEventListener("DOMContentLoaded", function () { runAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { runAll(event.target); });
})();
