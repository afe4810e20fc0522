/* Draws the dashboard's charts with uPlot from JSON embedded by the page (json_script). */
(function () {
  "use strict";
  var palette = ["#2f6fb3", "#d97706", "#2e7d32", "#c62828"];

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function widthOf(el) { return Math.max(320, el.clientWidth || 800); }

  function activityChart(el, data) {
    var xs = data.days.map(function (d) { return Date.parse(d + "T12:00:00Z") / 1000; });
    var names = Object.keys(data.series);
    var series = [{}].concat(names.map(function (name, i) {
      return { label: name, stroke: palette[i % palette.length], width: 2, points: { show: true, size: 4 } };
    }));
    var rows = [xs].concat(names.map(function (name) { return data.series[name]; }));
    return new uPlot({ width: widthOf(el), height: 260, series: series, axes: [{}, { label: "count" }],
                       scales: { x: { time: true } } }, rows, el);
  }

  function balanceChart(el, data) {
    var xs = data.points.map(function (p) { return Date.parse(p[0]) / 1000; });
    var ys = data.points.map(function (p) { return p[1]; });
    return new uPlot({ width: widthOf(el), height: 260, scales: { x: { time: true } },
                       series: [{}, { label: "on hand", stroke: palette[0], width: 2,
                                      paths: uPlot.paths.stepped({ align: 1 }), fill: "rgba(47,111,179,0.08)" }],
                       axes: [{}, { label: "units" }] }, [xs, ys], el);
  }

  function draw() {
    if (typeof uPlot === "undefined") { return; }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var data = readJson(el.getAttribute("data-source"));
      if (!data) { return; }
      var kind = el.getAttribute("data-chart");
      var plot = kind === "activity" ? activityChart(el, data) : balanceChart(el, data);
      el.setAttribute("data-drawn", "1");
      window.addEventListener("resize", function () { plot.setSize({ width: widthOf(el), height: 260 }); });
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
