// Keyboard navigation for every screen: "g p/d/j" go to places, j/k move through table rows,
// Enter opens the selected row, "?" shows the shortcuts. Typing in a field never triggers them.
(function () {
  "use strict";
  let pendingG = false;
  let selected = -1;

  function typing(event) {
    const t = event.target;
    return t && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName));
  }
  function rows() {
    return Array.from(document.querySelectorAll("table[data-rows] tbody tr[data-href]"));
  }
  function select(index) {
    const all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((r, i) => r.classList.toggle("selected", i === selected));
    all[selected].scrollIntoView({ block: "nearest" });
  }
  function go(shortcut) {
    const link = document.querySelector(`[data-shortcut="${shortcut}"]`);
    if (link) window.location.href = link.href;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    if (pendingG) {
      pendingG = false;
      if (["p", "d", "j", "s", "l", "m", "r", "v"].includes(event.key)) {
        event.preventDefault();
        // The key completes a "g" shortcut: no screen's own keys (the viewer's "m" masks, "r"...) see it.
        // app.js is the first script of every page, so its listener runs first.
        event.stopImmediatePropagation();
        go("g " + event.key);
      }
      return;
    }
    switch (event.key) {
      case "g": pendingG = true; setTimeout(() => { pendingG = false; }, 1200); break;
      case "j": event.preventDefault(); select(selected + 1); break;
      case "k": event.preventDefault(); select(selected - 1); break;
      case "Enter": {
        const all = rows();
        if (selected >= 0 && all[selected]) { event.preventDefault(); window.location.href = all[selected].dataset.href; }
        break;
      }
      case "/": {
        const f = document.querySelector("[data-first-filter]");
        if (f) { event.preventDefault(); f.focus(); }
        break;
      }
      case "?": { const d = document.getElementById("help"); if (d && !d.open) d.showModal(); break; }
      default: break;
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-action=help]")) document.getElementById("help").showModal();
  });
  // A filter that applies as soon as it changes (CSP forbids onchange= attributes).
  document.addEventListener("change", function (event) {
    const field = event.target.closest("[data-autosubmit]");
    if (field && field.form) field.form.submit();
  });
  // htmx swaps replace the table: keep the selection on the same position.
  document.addEventListener("htmx:afterSwap", function () { if (selected >= 0) select(selected); });
})();
