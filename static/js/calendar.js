// Calendar paging from the keyboard: left and right arrows follow the previous/next
// links (through htmx, so only the calendar is replaced), then focus moves to the
// new heading so screen readers announce the day or week shown.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    var link = null;
    if (event.key === "ArrowLeft") link = document.querySelector("[data-cal-prev]");
    if (event.key === "ArrowRight") link = document.querySelector("[data-cal-next]");
    if (link) {
      event.preventDefault();
      link.click();
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "calendar") {
      var title = document.getElementById("calendar-title");
      if (title) title.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
})();
