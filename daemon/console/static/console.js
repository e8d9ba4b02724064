// A page that refreshes itself (the run list, the overview, a running run) says so when
// a refresh fails. htmx swaps no 4xx or 5xx answer and lets a lost connection pass in
// silence, so the page went on showing what it showed, as if it were still live. A
// daemon that takes the connection and never answers (stopped, or stuck) is said too:
// each refresh gives up after its `hx-request` timeout, where one request would have
// waited forever and no other been sent.
(function () {
  "use strict";

  // The notice, and its words for the trouble (`said` picks them from its data-*).
  function trouble(said) {
    var box = document.getElementById("live-trouble");
    if (box) {
      box.textContent = said(box.dataset);
      box.hidden = false;
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    trouble(function (words) {
      return words.status.replace("{status}", event.detail.xhr.status);
    });
  });
  document.addEventListener("htmx:sendError", function () {
    trouble(function (words) {
      return words.offline;
    });
  });
  document.addEventListener("htmx:timeout", function () {
    trouble(function (words) {
      return words.silent;
    });
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var box = document.getElementById("live-trouble");
    if (box && event.detail.successful) box.hidden = true;
  });

  // A form that takes back what cannot be had again at one click (取込取消) asks first:
  // one click took back every row of a large import. Here, as no inline script runs.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // The run list's refresh replaces its table, scroll box and all. An answer that
  // changes nothing is not swapped in, so that a selection in the table stays; one
  // that does gets the box's horizontal scroll back, else a window narrower than the
  // table jumped back to its left edge every 2 seconds.
  var scrolled = 0;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var old = event.detail.target;
    if (!old || old.id !== "runs-table" || !event.detail.shouldSwap) return;
    var parsed = document.createElement("template");
    parsed.innerHTML = event.detail.serverResponse;
    var fresh = parsed.content.getElementById("runs-table");
    if (
      fresh &&
      fresh.innerHTML === old.innerHTML &&
      fresh.getAttribute("hx-get") === old.getAttribute("hx-get")
    ) {
      event.detail.shouldSwap = false;
      return;
    }
    var box = old.querySelector(".scroll");
    scrolled = box ? box.scrollLeft : 0;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id !== "runs-table") return;
    var box = event.target.querySelector(".scroll");
    if (box) box.scrollLeft = scrolled;
  });
})();
