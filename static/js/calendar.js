// The calendar, from the keyboard.
//
// The time grid (role="grid") keeps one cell in the tab order (a roving tabindex):
// arrow keys move between cells, Home/End to the first/last column, Page Up/Down an
// hour, Enter or Space opens the visit in the cell or books the free time (the cell's
// link). Outside the grid, the left and right arrows follow the previous/next links
// (through htmx, so only the calendar is replaced), then focus moves to the new
// heading so screen readers announce the day or week shown.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
  }

  function matrix(grid) {
    var rows = [];
    grid.querySelectorAll('[role="row"]').forEach(function (row) {
      var cells = row.querySelectorAll('[role="gridcell"]');
      if (cells.length) rows.push(Array.prototype.slice.call(cells));
    });
    return rows;
  }

  function setUp(grid) {
    if (grid.dataset.ready) return;
    grid.dataset.ready = "1";
    // Links in cells are reached through their cell, not by Tab one by one.
    grid.querySelectorAll('[role="gridcell"] a').forEach(function (a) { a.tabIndex = -1; });
    var cells = grid.querySelectorAll('[role="gridcell"]');
    cells.forEach(function (cell) { cell.tabIndex = -1; });
    var now = grid.querySelector(".tg-now");
    var first = (now && now.closest('[role="gridcell"]')) ||
      grid.querySelector('[role="gridcell"].tg-free') || cells[0];
    if (first) first.tabIndex = 0;
  }

  function setUpAll() {
    document.querySelectorAll("[data-timegrid]").forEach(setUp);
  }

  function moveTo(grid, from, to) {
    if (!to || to === from) return;
    from.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();
  }

  function activate(cell) {
    var link = cell.querySelector("a.tg-visit-link") || cell.querySelector("a");
    if (link) {
      link.click();
    } else if (cell.dataset.href) {
      window.location.assign(cell.dataset.href);
    }
  }

  function gridKey(event, cell) {
    var grid = cell.closest("[data-timegrid]");
    var rows = matrix(grid);
    var r = Number(cell.dataset.row), c = Number(cell.dataset.col);
    var last = rows.length - 1;
    var target = null;
    switch (event.key) {
      case "ArrowUp": target = rows[Math.max(0, r - 1)][c]; break;
      case "ArrowDown": target = rows[Math.min(last, r + 1)][c]; break;
      case "ArrowLeft": target = rows[r][Math.max(0, c - 1)]; break;
      case "ArrowRight": target = rows[r][Math.min(rows[r].length - 1, c + 1)]; break;
      case "Home": target = event.ctrlKey ? rows[0][0] : rows[r][0]; break;
      case "End": target = event.ctrlKey ? rows[last][rows[last].length - 1] : rows[r][rows[r].length - 1]; break;
      case "PageUp": target = rows[Math.max(0, r - 4)][c]; break;
      case "PageDown": target = rows[Math.min(last, r + 4)][c]; break;
      case "Enter":
      case " ":
        event.preventDefault();
        activate(cell);
        return;
      default:
        return;
    }
    event.preventDefault();
    moveTo(grid, cell, target);
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.metaKey || typing(event.target)) return;
    var cell = event.target.closest && event.target.closest('[data-timegrid] [role="gridcell"]');
    if (cell) {
      gridKey(event, cell);
      return;
    }
    if (event.ctrlKey || (event.target.closest && event.target.closest("[data-timegrid]"))) return;
    var link = null;
    if (event.key === "ArrowLeft") link = document.querySelector("[data-cal-prev]");
    if (event.key === "ArrowRight") link = document.querySelector("[data-cal-next]");
    if (link) {
      event.preventDefault();
      link.click();
    }
  });
  // A click in a cell makes it the grid's current cell, so the keyboard carries on there.
  document.addEventListener("focusin", function (event) {
    var cell = event.target.closest && event.target.closest('[data-timegrid] [role="gridcell"]');
    if (!cell || cell.tabIndex === 0) return;
    var grid = cell.closest("[data-timegrid]");
    grid.querySelectorAll('[role="gridcell"][tabindex="0"]').forEach(function (c) { c.tabIndex = -1; });
    cell.tabIndex = 0;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    setUpAll();
    if (event.detail.target && event.detail.target.id === "calendar") {
      var title = document.getElementById("calendar-title");
      if (title) title.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
  setUpAll();
})();
