// Workflow graphs: each `figure[data-graph]` holds its data in `script[data-graph-json]`
// ({nodes: [{id, action, status, count, href}], edges: [[from, to]], collapsed}), laid out
// with dagre and drawn as SVG, every node a link. Text goes in with textContent only: step ids
// and actions are data. `executorGraph.update(figure, steps)` recolours drawn nodes (live
// runs) without laying the graph out again.
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var CHAR = 7.2; // px per character at the nodes' font size (near enough for monospace-ish ids)
  var LONGEST = 36; // characters of an id shown in a node (the title has all of it)
  var HEIGHT = 42;
  var figures = 0;

  function svg(name, attributes, parent) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes || {}).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    if (parent) parent.appendChild(element);
    return element;
  }

  function shorten(text) {
    return text.length > LONGEST ? text.slice(0, LONGEST - 1) + "…" : text;
  }

  function nodeWidth(node) {
    // The second line holds the action and the item count ("12/50", up to 11 characters).
    var second = (node.action || "").length + 12;
    return Math.round(Math.max(shorten(node.id).length, second, 8) * CHAR + 20);
  }

  function title(node) {
    return node.id + (node.action ? " (" + node.action + ")" : "") + (node.status ? ": " + node.status : "") +
      (node.count ? ", items done " + node.count : "");
  }

  function setStatus(group, node) {
    group.setAttribute("class", "node" + (node.status ? " s-" + node.status : ""));
    group.querySelector("text.count").textContent = node.count || "";
    group.querySelector("title").textContent = title(node);
    group.querySelector("a").setAttribute("aria-label", title(node));
  }

  function draw(figure) {
    if (figure.dataset.drawn) return;
    var source = figure.querySelector("script[data-graph-json]");
    if (!source || typeof dagre === "undefined") return;
    figure.dataset.drawn = "1";
    var data = JSON.parse(source.textContent);
    if (data.collapsed) figure.dataset.collapsed = String(data.collapsed.steps);
    if (data.collapsed || !data.nodes || !data.nodes.length) return;
    var number = ++figures;
    var layout = new dagre.graphlib.Graph();
    // Chains read left to right on a wide screen, top to bottom on a narrow one.
    var narrow = (figure.clientWidth || window.innerWidth) < 640;
    layout.setGraph({ rankdir: narrow ? "TB" : "LR", nodesep: 16, ranksep: narrow ? 30 : 44, marginx: 12, marginy: 12 });
    layout.setDefaultEdgeLabel(function () { return {}; });
    data.nodes.forEach(function (node) { layout.setNode(node.id, { width: nodeWidth(node), height: HEIGHT, node: node }); });
    data.edges.forEach(function (edge) {
      if (layout.hasNode(edge[0]) && layout.hasNode(edge[1])) layout.setEdge(edge[0], edge[1]);
    });
    dagre.layout(layout);
    var size = layout.graph();
    var width = Math.ceil(size.width || 0), height = Math.ceil(size.height || 0);
    var root = svg("svg", {
      width: width, height: height, viewBox: "0 0 " + width + " " + height,
      role: "group", "aria-label": "Graph of " + data.nodes.length + " steps; each step links to its details",
    });
    var defs = svg("defs", {}, root);
    var marker = svg("marker", {
      id: "graph-arrow-" + number, viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
    }, defs);
    svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }, marker);
    var edges = svg("g", { class: "edges" }, root);
    layout.edges().forEach(function (edge) {
      var points = layout.edge(edge).points || [];
      if (!points.length) return;
      var d = points.map(function (p, i) { return (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1); }).join(" ");
      svg("path", { d: d, class: "edge", "marker-end": "url(#graph-arrow-" + number + ")" }, edges);
    });
    var nodes = svg("g", { class: "nodes" }, root);
    layout.nodes().forEach(function (id) {
      var placed = layout.node(id), node = placed.node;
      var left = placed.x - placed.width / 2, top = placed.y - placed.height / 2;
      var group = svg("g", { class: "node", "data-step": node.id }, nodes);
      var link = svg("a", { href: node.href }, group);
      svg("title", {}, link);
      svg("rect", { x: left, y: top, width: placed.width, height: placed.height, rx: 6, ry: 6 }, link);
      svg("text", { x: left + 10, y: top + 17, class: "label" }, link).textContent = shorten(node.id);
      svg("text", { x: left + 10, y: top + 33, class: "action" }, link).textContent = node.action || "";
      svg("text", { x: left + placed.width - 10, y: top + 33, class: "count", "text-anchor": "end" }, link);
      setStatus(group, node);
    });
    figure.appendChild(root);
  }

  // A graph too large to draw says how many steps are in each status (as _graph.html does).
  function recount(figure, steps) {
    var note = figure.querySelector(".graph-note");
    if (!note) return;
    var counts = {};
    Object.keys(steps).forEach(function (id) { counts[steps[id].status] = (counts[steps[id].status] || 0) + 1; });
    var parts = Object.keys(counts).sort().map(function (status) { return counts[status] + " " + status; });
    note.textContent = figure.dataset.collapsed + " steps: too many to draw. " + parts.join(", ") +
      ". The steps table below lists them all.";
  }

  // steps: {id: {status, count}}; nodes of other steps are left as they are.
  function update(figure, steps) {
    if (figure.dataset.collapsed) { recount(figure, steps); return; }
    figure.querySelectorAll("g.node[data-step]").forEach(function (group) {
      var step = steps[group.getAttribute("data-step")];
      if (!step) return;
      var was = group.getAttribute("class"), count = group.querySelector("text.count").textContent;
      if (was === "node s-" + step.status && count === (step.count || "")) return;
      setStatus(group, {
        id: group.getAttribute("data-step"), action: group.querySelector("text.action").textContent,
        status: step.status, count: step.count,
      });
    });
  }

  window.executorGraph = { draw: draw, update: update };
  window.executorUI.register(function () {
    document.querySelectorAll("figure[data-graph]").forEach(draw);
  });
})();
