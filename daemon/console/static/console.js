// A page that refreshes itself (the run list, the overview, a running run) says so when
// a refresh fails. htmx swaps no 4xx or 5xx answer and lets a lost connection pass in
// silence, so the page went on showing what it showed, as if it were still live.
(function () {
  "use strict";

  function box() {
    return document.getElementById("live-trouble");
  }

  function trouble(text) {
    var shown = box();
    if (shown) {
      shown.textContent = text;
      shown.hidden = false;
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    var shown = box();
    if (shown) trouble(shown.dataset.status.replace("{status}", event.detail.xhr.status));
  });
  document.addEventListener("htmx:sendError", function () {
    var shown = box();
    if (shown) trouble(shown.dataset.offline);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var shown = box();
    if (shown && event.detail.successful) shown.hidden = true;
  });
})();
