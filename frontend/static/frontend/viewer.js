// The radiograph viewer of every screen that shows images (study, label review, mask review, adjudication).
// One pane per [data-viewer]: zoom (wheel, keys, fit, 1:1), pan (Space+drag, middle button, keys),
// window/level by drag, keys and presets in the image's own units, invert, the value under the pointer,
// and mask overlays per organ with a legend (toggle, colour, opacity). Keys come from keymap.js.
//
// The server stores a 16-bit rendering packed into an 8-bit RGB PNG (R = high byte, G = low byte), because
// browsers decode real 16-bit PNGs to 8 bits. We unpack it once and window it here, so dragging never goes
// back to the server. Stored value v means v * rescale_slope + rescale_intercept in the image's own units
// (display_meta), and the window and the value under the pointer are shown in those units.
// Presets: the import's default window, the file's own windows and VOI LUTs (display_meta.presets, at most 8,
// as linear windows), the 8-bit display PNG itself when ingest rendered it through the file's VOI LUT (a LUT
// is not applied here), an automatic percentile window and the full range; P cycles them.
(function () {
  "use strict";
  const ORGAN_COLOURS = {
    right_lung: "#2ea043", left_lung: "#1f6feb", lungs: "#1f9fb0", heart: "#cf222e",
    right_clavicle: "#d29922", left_clavicle: "#8250df",
  };
  const PALETTE = ["#2ea043", "#1f6feb", "#cf222e", "#d29922", "#8250df", "#1f9fb0", "#f778ba", "#ffffff"];
  const OPACITY_STEP = 0.15;
  const ZOOM_STEP = 1.25;
  const PAN_STEP = 0.1; // of the canvas size per key press
  const SOURCES = {
    tags: "Window from the file",
    voi_lut_sequence: "VOI LUT from the file (linear)",
    percentile: "Automatic window (at import)",
    full_range: "Full range (at import)",
  };
  const MAX_FILE_PRESETS = 8;
  const RENDERED_LUT = "File VOI LUT (as rendered)";
  const panes = [];
  let active = null;
  let spaceHeld = false;

  function organName(organ) { return String(organ || "").replace(/_/g, " "); }
  function hexToRgb(hex) {
    const n = parseInt(String(hex).replace("#", ""), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  function parseMeta(raw) {
    let m = {};
    try { m = typeof raw === "string" ? JSON.parse(raw || "{}") : (raw || {}); } catch (e) { m = {}; }
    return {
      center: Number(m.window_center ?? 32768),
      width: Math.max(1, Number(m.window_width ?? 65535)),
      invert: !!m.invert,
      slope: Number(m.rescale_slope ?? 1) || 1,
      intercept: Number(m.rescale_intercept ?? 0) || 0,
      source: m.window_source || "",
      // The file's windows, already in stored units; anything malformed is left out.
      presets: (Array.isArray(m.presets) ? m.presets : []).filter((p) => p && typeof p.name === "string" &&
        Number.isFinite(Number(p.center)) && Number(p.width) > 0).slice(0, MAX_FILE_PRESETS)
        .map((p) => ({ name: p.name.slice(0, 60), center: Number(p.center), width: Number(p.width) })),
      lutRendered: !!m.voi_lut_rendered,
    };
  }
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function Pane(root) {
    this.root = root;
    this.canvas = root.querySelector("canvas") || root.appendChild(el("canvas", { tabindex: "0" }));
    this.ctx = this.canvas.getContext("2d");
    this.image = document.createElement("canvas"); // the windowed image at its own size
    this.values = null; // Uint16Array of stored values
    this.eightBit = false;
    this.w = 0; this.h = 0;
    this.meta = parseMeta("{}");
    this.wl = { center: 32768, width: 65535, invert: false };
    this.presets = [];
    this.preset = 0;
    this.src8 = ""; // the 8-bit display PNG, shown as is for the "as rendered" VOI LUT preset
    this.rendered8 = null; // its grey values, loaded on first use
    this.renderedAt = null; // the window the rendered preset was chosen at: any change leaves it
    this.view = { scale: 1, tx: 0, ty: 0, fit: true };
    this.layers = [];
    this.selected = 0;
    this.masksShown = true;
    this.tool = null; // set by maskedit.js: {down, move, up, overlay, cursor}
    this.drag = null;
    this.pointer = null; // last pointer position in image coordinates
    this.frame = 0;
    this.loadToken = 0;
    this.buildBar();
    this.bindPointer();
    new ResizeObserver(() => this.resize()).observe(this.canvas);
  }

  Pane.prototype.buildBar = function () {
    const root = this.root;
    let bar = root.querySelector(".viewer-bar");
    if (!bar) bar = root.appendChild(el("div", { class: "viewer-bar" }));
    this.label = root.querySelector("[data-wl]") || bar.appendChild(el("span", { "data-wl": "" }, "—"));
    const tools = el("span", { class: "viewer-tools" });
    const button = (attr, text, title) => {
      const b = el("button", { type: "button", class: "link", [attr]: "", title: title }, text);
      tools.append(b);
      return b;
    };
    this.presetSelect = el("select", { "data-preset": "", "aria-label": "Window preset (P)" });
    tools.append(this.presetSelect);
    button("data-zoom-out", "−", "Zoom out (−)").addEventListener("click", () => this.zoomBy(1 / ZOOM_STEP));
    button("data-zoom-in", "+", "Zoom in (+)").addEventListener("click", () => this.zoomBy(ZOOM_STEP));
    button("data-fit", "Fit", "Zoom to fit (Z)").addEventListener("click", () => this.fit());
    button("data-one", "1:1", "One image pixel per screen pixel (O)").addEventListener("click", () => this.oneToOne());
    this.zoomLabel = el("span", { "data-zoom-label": "" }, "");
    tools.append(this.zoomLabel);
    bar.append(tools);
    this.valueLabel = root.querySelector("[data-value]") || bar.appendChild(el("span", { "data-value": "", class: "viewer-value" }, ""));
    this.presetSelect.addEventListener("change", () => this.applyPreset(Number(this.presetSelect.value)));
    root.querySelector("[data-invert]")?.addEventListener("click", () => this.act("invert"));
    root.querySelector("[data-reset]")?.addEventListener("click", () => this.act("reset"));
    this.legend = root.querySelector("[data-legend]") || root.appendChild(el("div", { class: "viewer-legend", "data-legend": "" }));
  };

  // --- coordinates ---------------------------------------------------------------------------------
  Pane.prototype.canvasPoint = function (event) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left) * (this.canvas.width / Math.max(1, rect.width)),
      y: (event.clientY - rect.top) * (this.canvas.height / Math.max(1, rect.height)),
    };
  };
  Pane.prototype.toImage = function (p) {
    return { x: (p.x - this.view.tx) / this.view.scale, y: (p.y - this.view.ty) / this.view.scale };
  };
  /** Image coordinates to a layer's own pixel grid (masks may be on another grid than the rendering). */
  Pane.prototype.toLayer = function (layer, p) {
    return { x: p.x * layer.width / this.w, y: p.y * layer.height / this.h };
  };

  // --- loading -------------------------------------------------------------------------------------
  Pane.prototype.load = function (src16, src8, windowRaw) {
    const token = ++this.loadToken;
    this.layers = [];
    this.src8 = src16 ? (src8 || "") : "";
    this.rendered8 = null;
    this.renderedAt = null;
    this.renderLegend();
    const img = new Image();
    return new Promise((resolve) => {
      img.onload = () => {
        if (token !== this.loadToken) return resolve(false);
        const w = img.naturalWidth, h = img.naturalHeight;
        const scratch = document.createElement("canvas");
        scratch.width = w; scratch.height = h;
        const sctx = scratch.getContext("2d", { willReadFrequently: true });
        sctx.drawImage(img, 0, 0);
        const packed = sctx.getImageData(0, 0, w, h).data;
        this.values = new Uint16Array(w * h);
        if (src16) {
          for (let i = 0, j = 0; i < this.values.length; i++, j += 4) this.values[i] = (packed[j] << 8) | packed[j + 1];
          this.meta = parseMeta(windowRaw);
          this.eightBit = false;
        } else {
          for (let i = 0, j = 0; i < this.values.length; i++, j += 4) this.values[i] = packed[j];
          this.meta = { center: 127.5, width: 255, invert: false, slope: 1, intercept: 0, source: "eight_bit" };
          this.eightBit = true;
        }
        this.w = w; this.h = h;
        this.image.width = w; this.image.height = h;
        this.out = this.image.getContext("2d").createImageData(w, h);
        this.makePresets();
        this.wl = { center: this.meta.center, width: this.meta.width, invert: this.meta.invert };
        this.preset = 0;
        this.root.dataset.loaded = "true";
        if (this.presets[0].rendered) this.applyPreset(0);
        this.renderImage();
        this.resize();
        this.fit();
        resolve(true);
      };
      img.onerror = () => { if (this.label) this.label.textContent = "The image could not be loaded."; resolve(false); };
      if (src16 || src8) img.src = src16 || src8;
      else { this.values = null; resolve(false); }
    });
  };

  Pane.prototype.makePresets = function () {
    const own = this.eightBit ? "8-bit display rendering" : (SOURCES[this.meta.source] || "Window from the file");
    const presets = [];
    // The VOI LUT ingest applied to the display PNG is the default; its linear window comes next.
    if (this.meta.lutRendered && this.src8) presets.push({ name: RENDERED_LUT, center: this.meta.center, width: this.meta.width, rendered: true });
    presets.push({ name: own, center: this.meta.center, width: this.meta.width });
    this.meta.presets.forEach((p) => {
      // The default window is usually the file's first: named once, by the file's own name.
      const same = presets.find((q) => !q.rendered && q.center === p.center && q.width === p.width);
      if (same) same.name = `${p.name} (${same.name.toLowerCase()})`;
      else presets.push({ name: p.name, center: p.center, width: p.width });
    });
    // The automatic window: 0.5-99.5 percentiles of a subsample, as ingest computes it when a file has none.
    const n = this.values.length;
    const stride = Math.max(1, Math.floor(n / 262144));
    const sample = new Uint16Array(Math.ceil(n / stride));
    let min = 65535, max = 0;
    for (let i = 0, k = 0; i < n; i += stride, k++) {
      const v = this.values[i];
      sample[k] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    sample.sort();
    const lo = sample[Math.floor(sample.length * 0.005)], hi = sample[Math.min(sample.length - 1, Math.floor(sample.length * 0.995))];
    presets.push({ name: "Automatic (0.5–99.5 percentiles)", center: (lo + hi) / 2, width: Math.max(1, hi - lo) });
    presets.push({ name: "Full range", center: (min + max) / 2, width: Math.max(1, max - min) });
    this.presets = presets;
    this.presetSelect.replaceChildren(...presets.map((p, i) => el("option", { value: String(i) }, p.name)));
    this.root.dataset.presets = presets.map((p) => p.name).join("|");
  };

  Pane.prototype.applyPreset = function (index) {
    const p = this.presets[index];
    if (!p) return;
    this.preset = index;
    this.presetSelect.value = String(index);
    this.wl.center = p.center; this.wl.width = p.width;
    this.renderedAt = p.rendered ? { center: p.center, width: p.width } : null;
    this.root.dataset.preset = p.name;
    if (p.rendered && !this.rendered8) this.loadRendered();
    this.renderImage();
  };

  /** The 8-bit display PNG's grey values (the VOI LUT as ingest applied it), then a redraw if still chosen. */
  Pane.prototype.loadRendered = function () {
    const token = this.loadToken;
    const img = new Image();
    img.onload = () => {
      if (token !== this.loadToken || img.naturalWidth !== this.w || img.naturalHeight !== this.h) return;
      const scratch = document.createElement("canvas");
      scratch.width = this.w; scratch.height = this.h;
      const sctx = scratch.getContext("2d", { willReadFrequently: true });
      sctx.drawImage(img, 0, 0);
      const data = sctx.getImageData(0, 0, this.w, this.h).data;
      const grey = new Uint8Array(this.w * this.h);
      for (let i = 0, j = 0; i < grey.length; i++, j += 4) grey[i] = data[j];
      this.rendered8 = grey;
      this.renderImage();
    };
    img.src = this.src8;
  };

  /** Load organ masks: [{id, organ, url, label?}] of 1-bit PNG layers. Resolves when all are decoded. */
  Pane.prototype.setMasks = function (list) {
    const token = this.loadToken;
    const jobs = (list || []).map((entry) => new Promise((resolve) => {
      const img = new Image();
      img.onload = () => {
        const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const cx = c.getContext("2d", { willReadFrequently: true });
        cx.drawImage(img, 0, 0);
        const data = cx.getImageData(0, 0, c.width, c.height).data;
        const bits = new Uint8Array(c.width * c.height);
        for (let i = 0, j = 0; i < bits.length; i++, j += 4) bits[i] = data[j] > 127 ? 1 : 0;
        resolve(this.makeLayer(entry, c.width, c.height, bits));
      };
      img.onerror = () => resolve(null);
      img.src = entry.url;
    }));
    return Promise.all(jobs).then((layers) => {
      if (token !== this.loadToken) return [];
      this.layers = layers.filter(Boolean);
      this.layers.forEach((layer) => this.refreshLayer(layer));
      this.selected = 0;
      this.renderLegend();
      this.redraw();
      this.root.dispatchEvent(new CustomEvent("viewer:layers", { bubbles: true }));
      return this.layers;
    });
  };

  Pane.prototype.makeLayer = function (entry, width, height, bits) {
    const canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = height;
    return {
      id: entry.id || null, organ: entry.organ, label: entry.label || organName(entry.organ),
      width: width, height: height, bits: bits, canvas: canvas,
      colour: ORGAN_COLOURS[entry.organ] || PALETTE[this.layers.length % PALETTE.length],
      opacity: 0.4, visible: true,
    };
  };

  /** An empty layer for an organ the image has no mask of (the editor draws it from scratch). */
  Pane.prototype.addLayer = function (organ, width, height) {
    const layer = this.makeLayer({ organ: organ }, width, height, new Uint8Array(width * height));
    this.layers.push(layer);
    this.refreshLayer(layer);
    this.renderLegend();
    return layer;
  };

  /** Repaint a layer's coloured canvas from its bits (only `rect` [x0, y0, x1, y1) when given). */
  Pane.prototype.refreshLayer = function (layer, rect) {
    const [x0, y0, x1, y1] = rect || [0, 0, layer.width, layer.height];
    const w = Math.max(0, Math.min(layer.width, x1) - Math.max(0, x0)), h = Math.max(0, Math.min(layer.height, y1) - Math.max(0, y0));
    if (!w || !h) return;
    const ax = Math.max(0, x0), ay = Math.max(0, y0);
    const [r, g, b] = hexToRgb(layer.colour);
    const ctx = layer.canvas.getContext("2d");
    const data = ctx.createImageData(w, h);
    const px = data.data;
    for (let y = 0; y < h; y++) {
      const row = (ay + y) * layer.width + ax;
      for (let x = 0; x < w; x++) {
        const j = (y * w + x) * 4;
        if (layer.bits[row + x]) { px[j] = r; px[j + 1] = g; px[j + 2] = b; px[j + 3] = 255; }
      }
    }
    ctx.putImageData(data, ax, ay);
    this.redraw();
  };

  // --- drawing -------------------------------------------------------------------------------------
  Pane.prototype.renderImage = function () {
    if (!this.values) return;
    const at = this.renderedAt;
    this.showingRendered = !!(at && this.rendered8 && at.center === this.wl.center && at.width === this.wl.width);
    if (this.showingRendered) {
      // The display PNG is already inverted for MONOCHROME1: invert it only if the reader toggled inversion.
      const px = this.out.data, grey = this.rendered8, flip = this.wl.invert !== this.meta.invert;
      for (let i = 0, j = 0; i < grey.length; i++, j += 4) {
        px[j] = px[j + 1] = px[j + 2] = flip ? 255 - grey[i] : grey[i];
        px[j + 3] = 255;
      }
      this.image.getContext("2d").putImageData(this.out, 0, 0);
      this.updateLabels();
      this.redraw();
      return;
    }
    const lo = this.wl.center - this.wl.width / 2;
    const scale = 255 / this.wl.width;
    const px = this.out.data;
    const values = this.values;
    const invert = this.wl.invert;
    for (let i = 0, j = 0; i < values.length; i++, j += 4) {
      let v = (values[i] - lo) * scale;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      if (invert) v = 255 - v;
      px[j] = px[j + 1] = px[j + 2] = v;
      px[j + 3] = 255;
    }
    this.image.getContext("2d").putImageData(this.out, 0, 0);
    this.updateLabels();
    this.redraw();
  };

  Pane.prototype.updateLabels = function () {
    const m = this.meta;
    const width = this.wl.width * m.slope, level = this.wl.center * m.slope + m.intercept;
    if (this.label) {
      this.label.textContent = (this.showingRendered ? RENDERED_LUT : `W ${Math.round(width)} · L ${Math.round(level)}`) +
        `${this.wl.invert ? " · inverted" : ""}` + (this.eightBit ? " (8-bit display)" : "");
    }
    const scale = this.view.scale;
    const text = `${Math.round(scale * 100)}%${this.view.fit ? " (fit)" : ""}`;
    this.zoomLabel.textContent = text;
    this.root.dataset.zoom = scale.toFixed(4);
    this.root.dataset.pan = `${Math.round(this.view.tx)},${Math.round(this.view.ty)}`;
  };

  Pane.prototype.redraw = function () {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.compose(); });
  };

  Pane.prototype.compose = function () {
    const ctx = this.ctx, v = this.view;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.values) return;
    ctx.setTransform(v.scale, 0, 0, v.scale, v.tx, v.ty);
    ctx.imageSmoothingEnabled = v.scale < 2;
    ctx.drawImage(this.image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    if (this.masksShown) {
      this.layers.forEach((layer) => {
        if (!layer.visible) return;
        ctx.globalAlpha = layer.opacity;
        ctx.drawImage(layer.canvas, 0, 0, layer.width, layer.height, 0, 0, this.w, this.h);
      });
      ctx.globalAlpha = 1;
    }
    if (this.tool && this.tool.overlay && this.pointer) this.tool.overlay(ctx, this);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  };

  Pane.prototype.resize = function () {
    const rect = this.canvas.getBoundingClientRect();
    if (!rect.width || !rect.height) return;
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(rect.width * ratio), h = Math.round(rect.height * ratio);
    if (w === this.canvas.width && h === this.canvas.height) return;
    const cx = this.canvas.width / 2, cy = this.canvas.height / 2;
    this.canvas.width = w; this.canvas.height = h;
    if (this.view.fit) this.fit();
    else { this.view.tx += w / 2 - cx; this.view.ty += h / 2 - cy; this.updateLabels(); }
    this.compose();
  };

  // --- zoom and pan --------------------------------------------------------------------------------
  Pane.prototype.fit = function () {
    if (!this.w) return;
    const cw = this.canvas.width, ch = this.canvas.height;
    const scale = Math.min(cw / this.w, ch / this.h) || 1;
    this.view = { scale: scale, tx: (cw - this.w * scale) / 2, ty: (ch - this.h * scale) / 2, fit: true };
    this.updateLabels();
    this.redraw();
  };
  Pane.prototype.zoomAt = function (factor, cx, cy) {
    const v = this.view;
    const scale = Math.max(0.05, Math.min(40, v.scale * factor));
    const k = scale / v.scale;
    this.view = { scale: scale, tx: cx - (cx - v.tx) * k, ty: cy - (cy - v.ty) * k, fit: false };
    this.updateLabels();
    this.redraw();
  };
  Pane.prototype.zoomBy = function (factor) { this.zoomAt(factor, this.canvas.width / 2, this.canvas.height / 2); };
  Pane.prototype.oneToOne = function () { this.zoomBy(1 / this.view.scale); };
  Pane.prototype.panBy = function (dx, dy) {
    this.view.tx += dx; this.view.ty += dy; this.view.fit = false;
    this.updateLabels();
    this.redraw();
  };

  // --- pointer -------------------------------------------------------------------------------------
  Pane.prototype.bindPointer = function () {
    const c = this.canvas;
    c.addEventListener("pointerenter", () => { active = this; });
    c.addEventListener("pointerdown", (e) => {
      active = this;
      c.focus({ preventScroll: true });
      const p = this.canvasPoint(e);
      if (e.button === 1 || (e.button === 0 && spaceHeld)) {
        this.drag = { kind: "pan", x: p.x, y: p.y, tx: this.view.tx, ty: this.view.ty };
      } else if (e.button === 0 && this.tool) {
        this.drag = { kind: "tool" };
        this.tool.down(this.toImage(p), e, this);
      } else if (e.button === 0) {
        this.drag = { kind: "wl", x: e.clientX, y: e.clientY, wl: { ...this.wl } };
      } else return;
      e.preventDefault();
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", (e) => {
      const p = this.canvasPoint(e);
      this.pointer = this.toImage(p);
      this.showValue(this.pointer);
      const d = this.drag;
      if (!d) { if (this.tool) this.redraw(); return; }
      if (d.kind === "pan") {
        this.view.tx = d.tx + (p.x - d.x); this.view.ty = d.ty + (p.y - d.y); this.view.fit = false;
        this.updateLabels();
        this.redraw();
      } else if (d.kind === "tool") {
        this.tool.move(this.pointer, e, this);
      } else if (d.kind === "wl" && this.values) {
        const k = this.presets.length ? this.presets[0].width / 400 : 1;
        this.wl.width = Math.max(1, d.wl.width + (e.clientX - d.x) * k);
        this.wl.center = d.wl.center + (e.clientY - d.y) * k;
        this.renderImage();
      }
    });
    const end = (e) => {
      if (this.drag && this.drag.kind === "tool") this.tool?.up(this.toImage(this.canvasPoint(e)), e, this);
      this.drag = null;
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("pointerleave", () => { this.pointer = null; this.redraw(); });
    c.addEventListener("auxclick", (e) => { if (e.button === 1) e.preventDefault(); });
    c.addEventListener("wheel", (e) => {
      if (!this.values) return;
      e.preventDefault();
      const p = this.canvasPoint(e);
      this.zoomAt(Math.exp(-e.deltaY * 0.0015), p.x, p.y);
    }, { passive: false });
  };

  Pane.prototype.showValue = function (p) {
    if (!this.values || !this.valueLabel) return;
    const x = Math.floor(p.x), y = Math.floor(p.y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) { this.valueLabel.textContent = ""; return; }
    const stored = this.values[y * this.w + x];
    const value = stored * this.meta.slope + this.meta.intercept;
    const shown = Math.abs(value) >= 100 || Number.isInteger(value) ? Math.round(value) : value.toFixed(2);
    const organs = this.layers.filter((layer) => {
      const q = this.toLayer(layer, p);
      return layer.bits[Math.floor(q.y) * layer.width + Math.floor(q.x)];
    }).map((layer) => layer.label);
    this.valueLabel.textContent = `x ${x} · y ${y} · value ${shown}${this.eightBit ? " (8-bit)" : ""}` +
      (organs.length ? ` · ${organs.join(", ")}` : "");
  };

  // --- legend --------------------------------------------------------------------------------------
  Pane.prototype.renderLegend = function () {
    const legend = this.legend;
    legend.replaceChildren();
    legend.hidden = !this.layers.length;
    this.layers.forEach((layer, index) => {
      const row = el("div", { class: "legend-row", "data-organ": layer.organ, "data-testid": `legend-${layer.organ}` });
      row.classList.toggle("selected", index === this.selected);
      const number = el("span", { class: "legend-n" }, String(index + 1));
      const toggle = el("input", { type: "checkbox", "aria-label": `Show ${layer.label}`, "data-testid": `mask-toggle-${layer.organ}` });
      toggle.checked = layer.visible;
      toggle.addEventListener("change", () => { layer.visible = toggle.checked; this.redraw(); });
      const name = el("span", { class: "legend-name" }, layer.label);
      name.addEventListener("click", () => this.select(index));
      const colour = el("input", { type: "color", "aria-label": `Colour of ${layer.label}`, value: layer.colour });
      colour.addEventListener("input", () => { layer.colour = colour.value; this.refreshLayer(layer); });
      const opacity = el("input", { type: "range", min: "0", max: "100", step: "5", "aria-label": `Opacity of ${layer.label}`, value: String(Math.round(layer.opacity * 100)) });
      opacity.addEventListener("input", () => { layer.opacity = Number(opacity.value) / 100; this.redraw(); });
      row.append(number, toggle, name, colour, opacity);
      legend.append(row);
    });
  };
  Pane.prototype.select = function (index) {
    if (!this.layers.length) return;
    this.selected = (index + this.layers.length) % this.layers.length;
    Array.from(this.legend.children).forEach((row, i) => row.classList.toggle("selected", i === this.selected));
    this.root.dispatchEvent(new CustomEvent("viewer:select", { bubbles: true, detail: { organ: this.layers[this.selected].organ } }));
  };
  Pane.prototype.selectOrgan = function (organ) {
    const index = this.layers.findIndex((layer) => layer.organ === organ);
    if (index >= 0) this.select(index);
    return this.layers[index] || null;
  };
  Pane.prototype.selectedLayer = function () { return this.layers[this.selected] || null; };

  // --- actions (keys and buttons) ------------------------------------------------------------------
  Pane.prototype.act = function (act) {
    const step = (this.presets[0] ? this.presets[0].width : this.wl.width) / 20;
    const layer = this.selectedLayer();
    const cw = this.canvas.width, ch = this.canvas.height;
    switch (act) {
      case "wider": this.wl.width += step; break;
      case "narrower": this.wl.width = Math.max(1, this.wl.width - step); break;
      case "level-up": this.wl.center += step / 2; break;
      case "level-down": this.wl.center -= step / 2; break;
      case "invert": this.wl.invert = !this.wl.invert; break;
      case "preset": this.applyPreset((this.preset + 1) % Math.max(1, this.presets.length)); return true;
      case "reset":
        this.wl = { center: this.meta.center, width: this.meta.width, invert: this.meta.invert };
        this.applyPreset(0);
        this.fit();
        break;
      case "zoom-in": this.zoomBy(ZOOM_STEP); return true;
      case "zoom-out": this.zoomBy(1 / ZOOM_STEP); return true;
      case "fit": this.fit(); return true;
      case "one-to-one": this.oneToOne(); return true;
      // Panning left shows what is to the left: the image moves right.
      case "pan-left": this.panBy(cw * PAN_STEP, 0); return true;
      case "pan-right": this.panBy(-cw * PAN_STEP, 0); return true;
      case "pan-up": this.panBy(0, ch * PAN_STEP); return true;
      case "pan-down": this.panBy(0, -ch * PAN_STEP); return true;
      case "organ-previous": this.select(this.selected - 1); return true;
      case "organ-next": this.select(this.selected + 1); return true;
      case "masks-toggle": this.masksShown = !this.masksShown; this.root.dataset.masksShown = String(this.masksShown); this.redraw(); return true;
      case "organ-toggle":
      case "organ-colour":
      case "opacity-down":
      case "opacity-up":
        if (!layer) return false;
        if (act === "organ-toggle") layer.visible = !layer.visible;
        else if (act === "organ-colour") { layer.colour = PALETTE[(PALETTE.indexOf(layer.colour) + 1) % PALETTE.length]; this.refreshLayer(layer); }
        else layer.opacity = Math.max(0, Math.min(1, layer.opacity + (act === "opacity-up" ? OPACITY_STEP : -OPACITY_STEP)));
        this.renderLegend();
        this.redraw();
        return true;
      default: return false;
    }
    this.renderImage();
    return true;
  };

  // --- wiring --------------------------------------------------------------------------------------
  document.querySelectorAll("[data-viewer]").forEach((root) => panes.push(new Pane(root)));
  if (!panes.length) return;
  active = panes[0];

  document.addEventListener("keydown", (e) => {
    if (e.key === " " && !window.CxrKeymap?.typing(e) && active) { spaceHeld = true; e.preventDefault(); return; }
    if (!window.CxrKeymap || !active || !active.values) return;
    const act = window.CxrKeymap.viewerAction(e);
    if (act && active.act(act)) e.preventDefault();
  });
  document.addEventListener("keyup", (e) => { if (e.key === " ") spaceHeld = false; });
  window.addEventListener("blur", () => { spaceHeld = false; });

  // Thumbnails load into the first pane (the study page).
  document.querySelectorAll("[data-select-image]").forEach((btn) => btn.addEventListener("click", () => {
    document.querySelectorAll("[data-select-image]").forEach((b) => b.classList.toggle("active", b === btn));
    const pane = panes[0];
    pane.load(btn.dataset.src16, btn.dataset.src8, btn.dataset.window).then(() => {
      if (btn.dataset.masks) pane.setMasks(JSON.parse(btn.dataset.masks));
    });
  }));

  panes.forEach((pane) => {
    const c = pane.canvas;
    if (c.dataset.src16 || c.dataset.src8) {
      pane.load(c.dataset.src16, c.dataset.src8, c.dataset.window).then(() => {
        if (c.dataset.masks) pane.setMasks(JSON.parse(c.dataset.masks));
      });
    }
  });

  // Screens that change image without a page load (the review queues) use this.
  window.CxrViewer = {
    panes: panes,
    primary: () => panes[0],
    active: () => active,
    load: (src16, src8, windowRaw) => panes[0].load(src16, src8, windowRaw),
  };
})();
