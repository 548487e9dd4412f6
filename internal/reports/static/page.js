// The receiver's page: draws each endpoint's chart from its data-chart attribute (the
// difference rate in %, and both p99 latencies in ms, per step of the window) with
// uPlot, vendored beside this file. No inline script: the page's Content-Security-Policy
// allows scripts from the receiver only.
"use strict";

(function () {
  // The charts drawn, for the browser test: {target, endpoint, plot}.
  var charts = [];
  window.meshmirrorCharts = charts;

  function draw() {
    if (typeof uPlot === "undefined") {
      return;
    }
    document.querySelectorAll("div.chart[data-chart]").forEach(function (el) {
      var d = JSON.parse(el.dataset.chart);
      var opts = {
        width: Math.max(el.clientWidth - 16, 300),
        height: 180,
        scales: {
          x: { time: true, range: [d.from, d.to] },
          rate: { range: function (u, min, max) { return [0, Math.max(max * 1.2, 1)]; } },
          ms: { range: function (u, min, max) { return [0, Math.max(max * 1.2, 1)]; } },
        },
        series: [
          {},
          { label: "differ", scale: "rate", stroke: "#c8412b", width: 2, fill: "rgba(200,65,43,0.08)",
            points: { show: true, size: 5 }, value: function (u, v) { return v == null ? "-" : v.toFixed(2) + "%"; } },
          { label: "primary p99", scale: "ms", stroke: "#2f6fdf", width: 1.5,
            points: { show: true, size: 4 }, value: function (u, v) { return v == null ? "-" : v + " ms"; } },
          { label: "shadow p99", scale: "ms", stroke: "#9a7d00", width: 1.5, dash: [5, 3],
            points: { show: true, size: 4 }, value: function (u, v) { return v == null ? "-" : v + " ms"; } },
        ],
        axes: [
          {},
          { scale: "rate", label: "differ", values: function (u, vals) { return vals.map(function (v) { return v + "%"; }); } },
          { scale: "ms", label: "p99 ms", side: 1, grid: { show: false } },
        ],
      };
      var plot = new uPlot(opts, [d.t, d.differ, d.primary, d.shadow], el);
      charts.push({ target: el.dataset.target, endpoint: el.dataset.endpoint, plot: plot });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
