// The run and step pages' live parts. The run page's fragment (polled by htmx while the run
// goes on) carries the state as JSON in its `data-run-state` attribute; this applies it to the graph
// nodes, the steps table, the action buttons and the timeline, which it draws. The step page's
// log follows the API's event stream. Every text from a run goes in with textContent.
"use strict";
(function () {
  var clock = { server: Date.now() / 1000, received: Date.now() };
  var current = null; // the last state applied
  var ticking = null;

  function now() { return clock.server + (Date.now() - clock.received) / 1000; }

  // As render.duration formats it on the server.
  function duration(start, end) {
    if (start === null || start === undefined) return "—";
    var seconds = Math.max(0, (end === null || end === undefined ? now() : end) - start);
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    var whole = Math.floor(seconds), minutes = Math.floor(whole / 60), secs = whole % 60;
    if (minutes < 60) return minutes + "m " + (secs < 10 ? "0" : "") + secs + "s";
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return hours + "h " + (minutes < 10 ? "0" : "") + minutes + "m";
  }

  // As ui.js shows a <time>: the viewer's zone, UTC on hover.
  function timeElement(seconds) {
    var date = new Date(seconds * 1000), element = document.createElement("time");
    var iso = date.toISOString().replace(/\.\d+Z$/, "Z");
    element.setAttribute("datetime", iso);
    element.title = iso.replace("T", " ").replace("Z", " UTC");
    element.dataset.local = "1";
    element.textContent = date.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    return element;
  }

  function setText(cell, text) {
    if (cell && cell.textContent !== text) cell.textContent = text;
  }

  // -- the steps table ------------------------------------------------------------------

  function updateRow(row, step) {
    var badge = row.querySelector('[data-col="status"] .status');
    if (badge && badge.textContent !== step.status) {
      badge.className = "status status-" + step.status;
      badge.textContent = step.status;
    }
    setText(row.querySelector('[data-col="attempts"]'), String(step.attempts));
    setText(row.querySelector('[data-col="items"]'), step.items || "");
    setText(row.querySelector('[data-col="error"]'), step.error || "");
    var started = row.querySelector('[data-col="started"]');
    if (started && started.dataset.v !== String(step.started)) {
      started.dataset.v = String(step.started);
      started.textContent = step.started === null ? "—" : "";
      if (step.started !== null) started.appendChild(timeElement(step.started));
    }
  }

  function updateDurations(state) {
    var rows = document.querySelectorAll("tr[data-step]");
    rows.forEach(function (row) {
      var step = state.byId[row.getAttribute("data-step")];
      if (step) setText(row.querySelector('[data-col="duration"]'), duration(step.started, step.finished));
    });
    document.querySelectorAll("[data-duration-from]").forEach(function (element) {
      setText(element, duration(Number(element.getAttribute("data-duration-from")), null) + " so far");
    });
  }

  // -- the timeline ---------------------------------------------------------------------

  function barTitle(step, bar) {
    return step.id + (bar[3] ? ", attempt " + bar[3] : "") + ": " + bar[2] + ", " + duration(bar[0], bar[1]);
  }

  function drawGantt(gantt, state) {
    var runId = gantt.getAttribute("data-run");
    var body = document.createElement("div");
    body.className = "gantt-rows";
    var idle = 0;
    state.steps.forEach(function (step) {
      if (!step.bars.length) { idle += 1; return; }
      var row = document.createElement("div");
      row.className = "row";
      var label = document.createElement("a");
      label.className = "label";
      label.href = "/ui/runs/" + encodeURIComponent(runId) + "/steps/" + encodeURIComponent(step.id);
      label.textContent = step.id;
      label.title = step.id + ": " + step.status;
      label.tabIndex = -1; // the steps table has the same links: one tab stop per step is enough
      var track = document.createElement("div");
      track.className = "track";
      step.bars.forEach(function (bar) {
        var span = document.createElement("span");
        span.className = "bar o-" + bar[2];
        span.dataset.from = bar[0];
        if (bar[1] !== null) span.dataset.to = bar[1];
        span.title = barTitle(step, bar);
        track.appendChild(span);
      });
      row.appendChild(label);
      row.appendChild(track);
      body.appendChild(row);
    });
    var axis = document.createElement("div");
    axis.className = "gantt-axis muted";
    var from = document.createElement("span"), to = document.createElement("span");
    from.textContent = "start";
    to.dataset.ganttEnd = "1";
    axis.appendChild(from);
    axis.appendChild(to);
    var note = document.createElement("p");
    note.className = "muted gantt-note";
    if (idle) note.textContent = idle + " step" + (idle === 1 ? "" : "s") + " not started (or skipped): not shown.";
    if (!body.childNodes.length) {
      note.textContent = "No step has started yet.";
    }
    var scroll = gantt.querySelector(".gantt-scroll");
    var kept = scroll ? scroll.scrollTop : 0;
    gantt.textContent = "";
    gantt.appendChild(axis);
    scroll = document.createElement("div");
    scroll.className = "gantt-scroll";
    scroll.appendChild(body);
    gantt.appendChild(scroll);
    gantt.appendChild(note);
    scroll.scrollTop = kept;
    placeBars(gantt, state);
  }

  // Bars as percentages of the run's span (start..end, or now while it goes on): set through
  // CSSOM, which the Content-Security-Policy allows (style attributes it does not).
  function placeBars(gantt, state) {
    var start = state.run.start, end = state.run.end === null ? now() : state.run.end;
    var span = Math.max(end - start, 0.001);
    gantt.querySelectorAll(".bar").forEach(function (bar) {
      var from = Number(bar.dataset.from), to = bar.dataset.to === undefined ? now() : Number(bar.dataset.to);
      var left = Math.min(Math.max((from - start) / span, 0), 1);
      bar.style.left = (left * 100).toFixed(3) + "%";
      bar.style.width = (Math.max(Math.min((to - from) / span, 1 - left), 0) * 100).toFixed(3) + "%";
    });
    var label = gantt.querySelector("[data-gantt-end]");
    if (label) label.textContent = (state.run.end === null ? "now, " : "end, ") + duration(start, end);
  }

  // -- applying a state -----------------------------------------------------------------

  function apply(state) {
    state.byId = {};
    state.steps.forEach(function (step) { state.byId[step.id] = step; });
    current = state;
    document.querySelectorAll("figure[data-graph]").forEach(function (figure) {
      if (window.executorGraph) window.executorGraph.update(figure, state.byId);
    });
    document.querySelectorAll("tr[data-step]").forEach(function (row) {
      var step = state.byId[row.getAttribute("data-step")];
      if (step) updateRow(row, step);
    });
    document.querySelectorAll("button[data-action]").forEach(function (button) {
      var allowed = state.run.actions[button.getAttribute("data-action")];
      if (allowed !== undefined) button.disabled = !allowed;
    });
    document.querySelectorAll("[data-gantt]").forEach(function (gantt) { drawGantt(gantt, state); });
    updateDurations(state);
    if (!state.run.final && ticking === null) {
      ticking = window.setInterval(tick, 1000);
    } else if (state.run.final && ticking !== null) {
      window.clearInterval(ticking);
      ticking = null;
    }
  }

  // Between two states the clock still runs: running bars grow, durations count.
  function tick() {
    if (!current) return;
    document.querySelectorAll("[data-gantt]").forEach(function (gantt) { placeBars(gantt, current); });
    updateDurations(current);
  }

  function applyLatest() {
    var source = document.querySelector("[data-run-state]");
    if (!source || source.dataset.applied) return;
    source.dataset.applied = "1";
    var state = JSON.parse(source.getAttribute("data-run-state"));
    clock = { server: state.now, received: Date.now() };
    apply(state);
  }

  // -- a step's log, followed -------------------------------------------------------------

  var MAX_RETRIES = 10; // failed connections in a row before giving up

  // Why the stream cannot come back, from the status of the same request without following:
  // null when it may (a 2xx, a 5xx or no answer: the service restarting).
  function hopeless(status) {
    if (status === 401) return "Signed out: sign in again to follow the log.";
    if (status === 404) return "This run or step no longer exists.";
    if (status >= 400 && status < 500) return "The log cannot be followed (" + status + ").";
    return null;
  }

  function follow(pre) {
    if (pre.dataset.following) return;
    pre.dataset.following = "1";
    var url = pre.getAttribute("data-follow");
    var check = pre.getAttribute("data-check");
    var last = Number(pre.getAttribute("data-after") || 0);
    var attempt = pre.hasAttribute("data-attempt") ? Number(pre.getAttribute("data-attempt")) : null;
    var status = document.querySelector("[data-log-state]");
    var retries = 0;
    var shown = pre.querySelectorAll("span:not(.system)").length;

    function append(className, text) {
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
      var span = document.createElement("span");
      span.className = className;
      span.textContent = text;
      pre.appendChild(span);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }

    function open() {
      // Our own `after` on every (re)connection: the stream resumes from it, not from the
      // browser's Last-Event-ID, and a line already shown is never shown twice.
      var source = new EventSource(url + "&after=" + last);
      source.addEventListener("open", function () { retries = 0; });
      source.addEventListener("line", function (event) {
        var line = JSON.parse(event.data);
        if (line.id <= last) return;
        last = line.id;
        retries = 0;
        if (attempt !== null && line.attempt !== attempt) append("system", "— attempt " + line.attempt + " —\n");
        attempt = line.attempt;
        append(line.stream, line.line + "\n");
        shown += 1;
        if (status) status.textContent = "Following… " + shown + " line" + (shown === 1 ? "" : "s") + ".";
      });
      source.addEventListener("end", function (event) {
        source.close();
        var ended = JSON.parse(event.data);
        if (status) status.textContent = "The step ended (" + ended.status + "); " + shown + " line" + (shown === 1 ? "" : "s") + ".";
      });
      source.addEventListener("error", function () {
        // Reconnected by hand (not by EventSource) so that it resumes after the last line;
        // not at all when the service says it never will (EventSource cannot read a status).
        source.close();
        retries += 1;
        if (retries > MAX_RETRIES) {
          stop("Stopped following after " + MAX_RETRIES + " failed attempts: reload the page to try again.");
          return;
        }
        if (status) status.textContent = "Connection lost; trying again…";
        window.fetch(check + "&after=" + last, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.status; }, function () { return 0; })
          .then(function (code) {
            var reason = hopeless(code);
            if (reason) stop(reason);
            else window.setTimeout(open, Math.min(1000 * retries, 5000));
          });
      });
    }

    function stop(reason) {
      pre.removeAttribute("data-follow");
      if (status) {
        status.textContent = reason + " " + shown + " line" + (shown === 1 ? "" : "s") + " shown.";
      }
    }
    open();
  }

  window.executorUI.register(function () {
    // A polled part that answered "gone" (htmx's 286): nothing more will change here.
    if (ticking !== null && document.querySelector("[data-live-gone]")) {
      window.clearInterval(ticking);
      ticking = null;
    }
    applyLatest();
    document.querySelectorAll("pre[data-log][data-follow]").forEach(follow);
  });
})();
