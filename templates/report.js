// Conveniences only: the page is complete without this script.
(function () {
  "use strict";
  // Sort a table by a column when its header is clicked (numbers by data-sort).
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (row) {
          var cell = row.cells[col];
          if (!cell) { return null; }
          var v = cell.getAttribute("data-sort");
          if (v === null) { return cell.textContent.trim() || null; }
          var n = Number(v);
          return isNaN(n) ? v : n;
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (x === null && y === null) { return 0; }
          if (x === null) { return 1; }
          if (y === null) { return -1; }
          var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  // Show or hide a chart's series: every SVG element drawn in the series' colour.
  document.querySelectorAll("figure.chart").forEach(function (figure) {
    var svg = figure.querySelector("svg");
    figure.querySelectorAll(".legend button").forEach(function (button) {
      button.addEventListener("click", function () {
        var color = button.getAttribute("data-color").toLowerCase();
        var shown = button.getAttribute("aria-pressed") !== "false";
        button.setAttribute("aria-pressed", shown ? "false" : "true");
        svg.querySelectorAll("[stroke],[fill]").forEach(function (el) {
          var s = (el.getAttribute("stroke") || "").toLowerCase();
          var f = (el.getAttribute("fill") || "").toLowerCase();
          if (s === color || f === color) {
            if (shown) { el.setAttribute("visibility", "hidden"); } else { el.removeAttribute("visibility"); }
          }
        });
      });
    });
  });
})();
