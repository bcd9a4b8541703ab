// modelatlas pages: render charts from their JSON blocks, sort and filter tables.
// Chart data is read with JSON.parse from <script type="application/json"> (never evaluated).
"use strict";

function renderCharts() {
  if (typeof Plotly === "undefined") {
    return;
  }
  document.querySelectorAll("div.plot[data-figure]").forEach(function (div) {
    var block = document.getElementById(div.dataset.figure);
    if (!block) {
      return;
    }
    var fig = JSON.parse(block.textContent);
    Plotly.newPlot(div, fig.data, fig.layout, {
      displaylogo: false,
      responsive: true,
      modeBarButtonsToRemove: ["sendDataToCloud"],
    }).then(function () {
      div.dataset.rendered = "true";
    });
  });
}

function cellValue(row, index, kind) {
  var cell = row.children[index];
  if (!cell) {
    return kind === "num" ? null : "";
  }
  if (kind === "num") {
    var raw = cell.dataset.value;
    return raw === undefined || raw === "" ? null : parseFloat(raw);
  }
  return cell.textContent.trim().toLowerCase();
}

function makeSortable(table) {
  var headers = table.querySelectorAll("thead th");
  headers.forEach(function (th, index) {
    var kind = th.dataset.sort;
    if (!kind) {
      return;
    }
    th.classList.add("sort");
    th.tabIndex = 0;
    var sort = function () {
      var descending = th.getAttribute("aria-sort") !== "descending";
      headers.forEach(function (other) {
        other.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = cellValue(a, index, kind);
        var y = cellValue(b, index, kind);
        if (x === null && y === null) return 0;
        if (x === null) return 1; // unknown last
        if (y === null) return -1;
        if (x < y) return descending ? 1 : -1;
        if (x > y) return descending ? -1 : 1;
        return 0;
      });
      rows.forEach(function (row) {
        body.appendChild(row);
      });
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter") sort();
    });
  });
}

function applyFilters(table, form) {
  var selects = form.querySelectorAll("select[data-filter]");
  var shown = 0;
  Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
    var keep = true;
    selects.forEach(function (select) {
      var want = select.value;
      if (!want) return;
      var have = row.dataset[select.dataset.filter] || "";
      var values = select.dataset.filter === "modality" ? have.split(" ") : [have];
      if (values.indexOf(want) < 0) keep = false;
    });
    row.hidden = !keep;
    if (keep) shown += 1;
  });
  table.dataset.shown = String(shown);
}

function setupLeaderboard() {
  var table = document.getElementById("leaderboard");
  var form = document.getElementById("filters");
  if (!table || !form) {
    return;
  }
  form.querySelectorAll("select[data-filter]").forEach(function (select) {
    select.addEventListener("change", function () {
      applyFilters(table, form);
    });
  });
  applyFilters(table, form);
  var picks = document.getElementById("compare-models");
  var button = document.getElementById("compare-button");
  if (picks && button) {
    table.addEventListener("change", function () {
      var chosen = Array.prototype.map.call(
        table.querySelectorAll("input.pick:checked"),
        function (box) {
          return box.value;
        }
      );
      picks.value = chosen.join(",");
      button.disabled = chosen.length < 2 || chosen.length > 6;
    });
  }
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  setupLeaderboard();
  renderCharts();
});
