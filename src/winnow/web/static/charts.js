/* Winnow charts over uPlot: page data comes from <script type="application/json" id="page-data">, never from
   strings spliced into code. Dots are drawn by our own hook, which counts what it drew on the chart element
   (data-points: the first series; data-points-all: every series) so tests can check the drawing. */
(function () {
  "use strict";
  var W = window.Winnow = {};
  var COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
  W.colour = function (i) { return COLOURS[i % COLOURS.length]; };

  W.data = function () {
    var el = document.getElementById("page-data");
    return el ? JSON.parse(el.textContent) : {};
  };

  function width(el) { return Math.max(320, (el.clientWidth || el.parentNode.clientWidth || 800) - 10); }

  /* A draw hook that paints one dot per non-null point inside the scales and counts them. */
  function dots(el, radius) {
    return function (u) {
      var ctx = u.ctx, xs = u.data[0], drawn = [], total = 0;
      var xmin = u.scales.x.min, xmax = u.scales.x.max;
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      for (var s = 1; s < u.series.length; s++) {
        var ys = u.data[s], n = 0, scale = u.series[s].scale || "y";
        if (!u.series[s].show) { drawn.push(0); continue; }
        ctx.fillStyle = u.series[s]._dot || W.colour(s - 1);
        for (var i = 0; i < xs.length; i++) {
          if (ys[i] == null || xs[i] < xmin || xs[i] > xmax) { continue; }
          var x = u.valToPos(xs[i], "x", true), y = u.valToPos(ys[i], scale, true);
          ctx.beginPath();
          ctx.arc(x, y, radius * devicePixelRatio, 0, 2 * Math.PI);
          ctx.fill();
          n++;
        }
        drawn.push(n);
        total += n;
      }
      ctx.restore();
      el.dataset.points = String(drawn[0] || 0);
      el.dataset.pointsAll = String(total);
    };
  }

  /* A scatter chart: x = times (seconds), series = [{label, values}], one dot per value. */
  W.scatter = function (el, xs, series, opts) {
    opts = opts || {};
    var spec = {
      width: width(el), height: opts.height || 220, cursor: {drag: {x: true, y: false}},
      scales: {x: {time: opts.time !== false}},
      axes: [{}, {label: opts.ylabel || "", values: opts.yvalues, splits: opts.ysplits, size: opts.ysize}],
      series: [{}].concat(series.map(function (s, i) {
        return {label: s.label, stroke: W.colour(i), _dot: W.colour(i), paths: function () { return null; },
                points: {show: false}};
      })),
      hooks: {draw: [dots(el, opts.radius || 2.5)]}
    };
    if (opts.ymin !== undefined) { spec.scales.y = {range: [opts.ymin, opts.ymax]}; }
    return new uPlot(spec, [xs].concat(series.map(function (s) { return s.values; })), el);
  };

  /* A bar chart (histogram): x = bin starts, counts. */
  W.bars = function (el, xs, counts, opts) {
    opts = opts || {};
    return new uPlot({
      width: width(el), height: opts.height || 200, scales: {x: {time: false}},
      axes: [{label: opts.xlabel || ""}, {label: opts.ylabel || ""}],
      series: [{}, {label: opts.label || "count", fill: "rgba(31,119,180,0.5)", stroke: "#1f77b4",
                    paths: uPlot.paths.bars({size: [0.9, 100]}), points: {show: false}}]
    }, [xs, counts], el);
  };

  /* Lines over time with a band between two series (low, high). */
  W.band = function (el, xs, values, low, high, label) {
    return new uPlot({
      width: width(el), height: 180, scales: {x: {time: true}},
      series: [{}, {label: label, stroke: "#d62728", width: 1.5},
               {label: "baseline low", stroke: "rgba(44,160,44,0.6)", dash: [4, 4]},
               {label: "baseline high", stroke: "rgba(44,160,44,0.6)", dash: [4, 4]}],
      bands: [{series: [3, 2], fill: "rgba(44,160,44,0.15)"}]
    }, [xs, values, low, high], el);
  };

  W.epoch = function (iso) { return Date.parse(iso) / 1000; };
})();
