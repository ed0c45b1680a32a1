(function () {
  "use strict";
  var d = Winnow.data();
  document.querySelectorAll(".bar .fill").forEach(function (el) {
    el.style.width = Math.max(1, 100 * Number(el.dataset.share || 0)) + "%";
  });

  /* timeline: one lane per table, one dot per row */
  var rows = d.timeline || [], tables = [];
  rows.forEach(function (r) { if (tables.indexOf(r.table) < 0) { tables.push(r.table); } });
  var el = document.getElementById("timeline-chart");
  if (el && rows.length) {
    var xs = rows.map(function (r) { return Winnow.epoch(r.ts); });
    var series = tables.map(function (t, lane) {
      return {label: t, values: rows.map(function (r) { return r.table === t ? lane + 1 : null; })};
    });
    Winnow.scatter(el, xs, series, {ymin: 0, ymax: tables.length + 1, height: 60 + 30 * tables.length,
      ysplits: function () { return tables.map(function (t, i) { return i + 1; }); }, ysize: 80,
      yvalues: function (u, ticks) { return ticks.map(function (v) { return tables[v - 1] || ""; }); }});
  }

  /* link graph: the entity in the middle, neighbours sized by rows, coloured by risk */
  var g = d.graph, box = document.getElementById("graph");
  if (box && g && window.cytoscape) {
    var max = 1;
    g.nodes.forEach(function (n) { max = Math.max(max, n.rows); });
    var risk = function (r) {
      if (r === null || r === undefined) { return "#9e9e9e"; }
      var h = Math.round(120 * (1 - Math.min(1, Math.max(0, r))));
      return "hsl(" + h + ",70%,45%)";
    };
    var els = [{data: {id: "c", label: g.center.value, colour: risk(g.center.risk), size: 46, type: g.center.type,
                       value: g.center.value}}];
    g.nodes.forEach(function (n, i) {
      els.push({data: {id: "n" + i, label: n.value, colour: risk(n.risk), type: n.type, value: n.value,
                       size: 14 + 30 * Math.sqrt(n.rows / max)}});
      els.push({data: {id: "e" + i, source: "c", target: "n" + i, w: 1 + 5 * Math.sqrt(n.rows / max)}});
    });
    var cy = cytoscape({container: box, elements: els,
      layout: {name: "cose", animate: false, randomize: false, nodeRepulsion: function () { return 9000; },
               idealEdgeLength: function () { return 90; }},
      style: [{selector: "node", style: {"background-color": "data(colour)", width: "data(size)", height: "data(size)",
                                         label: "data(label)", "font-size": 10, "text-valign": "bottom",
                                         "text-max-width": 160, "text-wrap": "ellipsis"}},
              {selector: "edge", style: {width: "data(w)", "line-color": "#ccc"}}]});
    cy.on("tap", "node", function (evt) {
      var n = evt.target.data();
      if (evt.target.id() !== "c") {
        window.location.href = "/entity/" + encodeURIComponent(n.value) + "?type=" + encodeURIComponent(n.type);
      }
    });
    box.dataset.nodes = String(cy.nodes().length);
  }

  /* profiles against their baseline band */
  document.querySelectorAll(".profile-chart").forEach(function (el) {
    var p = d.profiles[Number(el.dataset.index)];
    Winnow.band(el, p.hours, p.values, p.low, p.high, p.profile);
  });
})();
