// A page that refreshes itself (the run list, the overview, a running run) says so when
// a refresh fails. htmx swaps no 4xx or 5xx answer and lets a lost connection pass in
// silence, so the page went on showing what it showed, as if it were still live.
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
  document.addEventListener("htmx:afterRequest", function (event) {
    var box = document.getElementById("live-trouble");
    if (box && event.detail.successful) box.hidden = true;
  });
})();
