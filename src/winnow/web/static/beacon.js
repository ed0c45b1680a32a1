(function () {
  "use strict";
  var d = Winnow.data(), ts = d.series.ts;
  var gaps = ts.map(function (t, i) { return i === 0 ? 0 : t - ts[i - 1]; });
  Winnow.scatter(document.getElementById("timeline-chart"), ts, [{label: "seconds since previous", values: gaps}],
                 {ylabel: "seconds since previous"});
  Winnow.bars(document.getElementById("interval-chart"), d.histogram.edges, d.histogram.counts,
              {xlabel: "seconds between connections", ylabel: "connections"});
  Winnow.scatter(document.getElementById("size-chart"), ts,
                 [{label: "bytes sent", values: d.series.src_bytes}, {label: "bytes received", values: d.series.dst_bytes}],
                 {ylabel: "bytes"});
})();
