/* Relay console: the little glue htmx does not do by itself.
 * - SSE: remember the last event id on the element that holds the stream, so that when the htmx SSE
 *   extension opens a new EventSource after a dropped connection it asks for `?lastEventId=N` (the
 *   browser's own reconnects send Last-Event-ID); after any reconnect every live fragment is fetched
 *   again, so nothing missed while disconnected stays on screen.
 * - "Configure now": open and focus a phase's config form.
 * - The run's file table: paging and the status filter set its state form and refresh its live wrapper,
 *   which issues every request for the table (the newest replaces any in flight, `hx-sync`), so a live
 *   refresh that left before the click cannot put the old page back.
 * - Upload progress bar for the run form. */
(function () {
  "use strict";
  function streamOf(elt) { return elt.closest ? elt.closest("[sse-connect]") : null; }

  function setState(source, state) {
    source.dataset.sseState = state;
    document.querySelectorAll("[data-live-dot]").forEach(function (dot) {
      dot.dataset.state = state;
      dot.textContent = state === "open" ? "● live" : "● reconnecting…";
    });
  }

  document.addEventListener("htmx:sseOpen", function (event) {
    var source = event.target;
    var reconnect = source.dataset.sseOpened === "1";
    source.dataset.sseOpened = "1";
    setState(source, "open");
    if (reconnect) {
      source.querySelectorAll("[data-live]").forEach(function (elt) { htmx.trigger(elt, "refresh"); });
    }
  });

  document.addEventListener("htmx:sseError", function (event) { setState(event.target, "closed"); });

  document.addEventListener("htmx:sseMessage", function (event) {
    var id = event.detail && event.detail.lastEventId;
    var source = streamOf(event.target);
    if (!source || !id) { return; }
    var last = parseInt(source.dataset.lastEventId || "0", 10);
    if (parseInt(id, 10) <= last) { return; }
    source.dataset.lastEventId = id;
    var base = source.getAttribute("sse-connect").split("?")[0];
    source.setAttribute("sse-connect", base + "?lastEventId=" + id);
  });

  window.relayConsole = {
    configure: function (phase) {
      var box = document.getElementById("config-" + phase);
      if (!box) { return; }
      var details = box.querySelector("details");
      if (details) { details.open = true; }
      box.scrollIntoView({ block: "center" });
      var input = box.querySelector("input, select, textarea");
      if (input) { input.focus(); }
    }
  };

  function showFiles(control, changes) {
    var live = control.closest("[data-files-live]");
    var state = document.getElementById("run-files-state");
    if (!live || !state) { return; }
    Object.keys(changes).forEach(function (name) { state.elements[name].value = changes[name]; });
    htmx.trigger(live, "refresh");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-files-offset]");
    if (button) { showFiles(button, { offset: button.dataset.filesOffset }); }
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("[data-files-status]")) {
      showFiles(select, { status: select.value, offset: "0" });
    }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = event.target.querySelector && event.target.querySelector("progress[data-upload]");
    if (bar && event.detail.lengthComputable) {
      bar.hidden = false;
      bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
    }
  });
})();
