// Window/level viewer for one radiograph. The server stores a 16-bit rendering packed into an 8-bit
// RGB PNG (R = high byte, G = low byte), because browsers decode real 16-bit PNGs to 8 bits. We
// unpack it once and apply the window here, so dragging never goes back to the server.
(function () {
  "use strict";
  const canvas = document.getElementById("viewer-canvas");
  if (!canvas) return;
  const ctx = canvas.getContext("2d");
  const label = document.querySelector("[data-wl]");
  let values = null; // Uint16Array of the packed image, or null when showing the 8-bit display
  let base = { center: 32768, width: 65535, invert: false };
  let wl = { ...base };
  let out = null;

  function parseWindow(raw) {
    try {
      const w = JSON.parse(raw || "{}");
      return { center: Number(w.window_center ?? 32768), width: Math.max(1, Number(w.window_width ?? 65535)), invert: !!w.invert };
    } catch (e) { return { center: 32768, width: 65535, invert: false }; }
  }

  function draw() {
    if (!values) return;
    const lo = wl.center - wl.width / 2;
    const scale = 255 / wl.width;
    const px = out.data;
    for (let i = 0, j = 0; i < values.length; i++, j += 4) {
      let v = (values[i] - lo) * scale;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      if (wl.invert) v = 255 - v;
      px[j] = px[j + 1] = px[j + 2] = v;
      px[j + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    if (label) label.textContent = `W ${Math.round(wl.width)} · L ${Math.round(wl.center)}${wl.invert ? " · inverted" : ""}`;
  }

  function load(src16, src8, windowRaw) {
    const img = new Image();
    img.onload = function () {
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      ctx.drawImage(img, 0, 0);
      if (src16) {
        const packed = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        values = new Uint16Array(canvas.width * canvas.height);
        for (let i = 0, j = 0; i < values.length; i++, j += 4) values[i] = (packed[j] << 8) | packed[j + 1];
        out = ctx.createImageData(canvas.width, canvas.height);
        base = parseWindow(windowRaw); wl = { ...base };
        draw();
      } else {
        values = null;
        if (label) label.textContent = "8-bit display rendering";
      }
    };
    img.src = src16 || src8;
  }

  let drag = null;
  canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, wl: { ...wl } }; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag || !values) return;
    const k = base.width / 400;
    wl.width = Math.max(1, drag.wl.width + (e.clientX - drag.x) * k);
    wl.center = drag.wl.center + (e.clientY - drag.y) * k;
    draw();
  });
  // Keys come from the shared key map (keymap.js): Shift+arrows, so screens keep the bare arrows.
  document.addEventListener("keydown", (e) => {
    if (!values || !window.CxrKeymap) return;
    const act = window.CxrKeymap.viewerAction(e);
    const step = base.width / 20;
    if (act === "wider") wl.width += step;
    else if (act === "narrower") wl.width = Math.max(1, wl.width - step);
    else if (act === "level-up") wl.center += step / 2;
    else if (act === "level-down") wl.center -= step / 2;
    else if (act === "invert") wl.invert = !wl.invert;
    else if (act === "reset") wl = { ...base };
    else return;
    e.preventDefault();
    draw();
  });
  document.querySelector("[data-invert]")?.addEventListener("click", () => { wl.invert = !wl.invert; draw(); });
  document.querySelector("[data-reset]")?.addEventListener("click", () => { wl = { ...base }; draw(); });
  document.querySelectorAll("[data-select-image]").forEach((btn) => btn.addEventListener("click", () => {
    document.querySelectorAll("[data-select-image]").forEach((b) => b.classList.toggle("active", b === btn));
    load(btn.dataset.src16, btn.dataset.src8, btn.dataset.window);
  }));
  // Screens that change image without a page load (the review queues) call this.
  window.CxrViewer = { load: load };
  if (canvas.dataset.src16 || canvas.dataset.src8) load(canvas.dataset.src16, canvas.dataset.src8, canvas.dataset.window);
})();
