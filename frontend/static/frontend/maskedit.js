// Mask editing on a viewer pane (viewer.js): brush and eraser with a size, fill inside a closed outline,
// undo and redo, per organ. Works on each layer's own pixel grid (the masks' grid, not the rendering's),
// and gives back the changed organs as CheXmask RLE (1-based starts, row-major) for the review API.
(function () {
  "use strict";
  const UNDO_MAX = 40;
  const SIZE_MIN = 1, SIZE_MAX = 120;

  /** CheXmask RLE of a bit array: "start length" pairs, starts 1-based, row-major. */
  function encodeRle(bits) {
    const parts = [];
    let i = 0;
    const n = bits.length;
    while (i < n) {
      if (!bits[i]) { i++; continue; }
      const start = i;
      while (i < n && bits[i]) i++;
      parts.push(`${start + 1} ${i - start}`);
    }
    return parts.join(" ");
  }
  function same(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function MaskEditor(pane, onChange) {
    this.pane = pane;
    this.onChange = onChange || function () {};
    this.tool = null;
    this.size = 12; // brush radius in mask pixels
    this.undoStack = [];
    this.redoStack = [];
    this.originals = new Map(); // organ -> the bits as loaded (null: the organ had no mask)
    this.last = null;
    this.message = "";
  }

  /** Start over on the pane's freshly loaded layers. */
  MaskEditor.prototype.reset = function () {
    this.undoStack = []; this.redoStack = [];
    this.originals = new Map(this.pane.layers.map((layer) => [layer.organ, layer.bits.slice()]));
    this.setTool(null);
    this.changed();
  };

  MaskEditor.prototype.grid = function () {
    const first = this.pane.layers[0];
    return first ? [first.width, first.height] : [this.pane.w, this.pane.h];
  };

  /** Select an organ to edit; an organ without a mask gets an empty layer on the masks' grid. */
  MaskEditor.prototype.useOrgan = function (organ) {
    let layer = this.pane.selectOrgan(organ);
    if (!layer) {
      const [w, h] = this.grid();
      layer = this.pane.addLayer(organ, w, h);
      if (!this.originals.has(organ)) this.originals.set(organ, null);
      this.pane.selectOrgan(organ);
    }
    this.changed();
    return layer;
  };

  MaskEditor.prototype.setTool = function (tool) {
    this.tool = tool;
    this.pane.tool = tool ? this.handler() : null;
    this.pane.canvas.dataset.tool = tool || "";
    this.pane.redraw();
    this.changed();
  };
  MaskEditor.prototype.setSize = function (size) {
    this.size = Math.max(SIZE_MIN, Math.min(SIZE_MAX, Math.round(size)));
    this.pane.redraw();
    this.changed();
  };

  MaskEditor.prototype.handler = function () {
    const editor = this;
    return {
      down: (p) => editor.down(p),
      move: (p) => editor.move(p),
      up: () => { editor.last = null; },
      overlay: (ctx, pane) => editor.overlay(ctx, pane),
    };
  };

  MaskEditor.prototype.remember = function (layer) {
    this.undoStack.push({ layer: layer, bits: layer.bits.slice() });
    if (this.undoStack.length > UNDO_MAX) this.undoStack.shift();
    this.redoStack = [];
  };

  MaskEditor.prototype.down = function (p) {
    const layer = this.pane.selectedLayer();
    if (!layer) { this.say("Pick an organ to edit first."); return; }
    const q = this.pane.toLayer(layer, p);
    if (this.tool === "fill") { this.fill(layer, Math.floor(q.x), Math.floor(q.y)); return; }
    this.remember(layer);
    this.last = q;
    this.stroke(layer, q, q);
  };
  MaskEditor.prototype.move = function (p) {
    const layer = this.pane.selectedLayer();
    if (!layer || !this.last || this.tool === "fill") return;
    const q = this.pane.toLayer(layer, p);
    this.stroke(layer, this.last, q);
    this.last = q;
  };

  /** Paint (or erase) discs along the segment a-b, so a fast stroke leaves no gaps. */
  MaskEditor.prototype.stroke = function (layer, a, b) {
    const r = this.size, value = this.tool === "eraser" ? 0 : 1;
    const steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / Math.max(1, r / 2)));
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let s = 0; s <= steps; s++) {
      const cx = a.x + (b.x - a.x) * s / steps, cy = a.y + (b.y - a.y) * s / steps;
      const top = Math.max(0, Math.floor(cy - r)), bottom = Math.min(layer.height - 1, Math.ceil(cy + r));
      for (let y = top; y <= bottom; y++) {
        const dy = y + 0.5 - cy;
        const half = Math.sqrt(Math.max(0, r * r - dy * dy));
        const left = Math.max(0, Math.ceil(cx - half - 0.5)), right = Math.min(layer.width - 1, Math.floor(cx + half - 0.5));
        if (right < left) continue;
        layer.bits.fill(value, y * layer.width + left, y * layer.width + right + 1);
        if (left < x0) x0 = left;
        if (right > x1) x1 = right;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
    if (x1 >= x0) {
      if (value === 0) this.clearRect(layer, x0, y0, x1 + 1, y1 + 1);
      this.pane.refreshLayer(layer, [x0, y0, x1 + 1, y1 + 1]);
    }
    this.changed();
  };
  MaskEditor.prototype.clearRect = function (layer, x0, y0, x1, y1) {
    // refreshLayer only paints set pixels; erased ones must be cleared on the layer canvas first.
    layer.canvas.getContext("2d").clearRect(x0, y0, x1 - x0, y1 - y0);
  };

  /** Fill the background region around (x, y) if an outline of the organ closes it (it must not reach the
   * image's edge); scanline flood fill, 4-connected. */
  MaskEditor.prototype.fill = function (layer, x, y) {
    const w = layer.width, h = layer.height, bits = layer.bits;
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    if (bits[y * w + x]) { this.say("Click inside the outline, not on the mask."); return; }
    const seen = new Uint8Array(w * h);
    const stack = [x, y];
    const region = [];
    let open = false;
    while (stack.length) {
      const sy = stack.pop(), sx = stack.pop();
      let lx = sx;
      while (lx > 0 && !bits[sy * w + lx - 1] && !seen[sy * w + lx - 1]) lx--;
      let rx = sx;
      while (rx < w - 1 && !bits[sy * w + rx + 1] && !seen[sy * w + rx + 1]) rx++;
      if (seen[sy * w + lx]) continue;
      if (lx === 0 || rx === w - 1 || sy === 0 || sy === h - 1) open = true;
      for (let i = lx; i <= rx; i++) seen[sy * w + i] = 1;
      region.push(sy, lx, rx);
      for (const ny of [sy - 1, sy + 1]) {
        if (ny < 0 || ny >= h) continue;
        for (let i = lx; i <= rx; i++) {
          const k = ny * w + i;
          if (!bits[k] && !seen[k] && (i === lx || bits[k - 1] || seen[k - 1])) stack.push(i, ny);
        }
      }
      if (open) break;
    }
    if (open) { this.say("That outline is not closed: the fill would reach the edge of the image."); return; }
    this.remember(layer);
    let x0 = w, y0 = h, x1 = 0, y1 = 0;
    for (let i = 0; i < region.length; i += 3) {
      const ry = region[i], lx = region[i + 1], rx = region[i + 2];
      bits.fill(1, ry * w + lx, ry * w + rx + 1);
      x0 = Math.min(x0, lx); x1 = Math.max(x1, rx); y0 = Math.min(y0, ry); y1 = Math.max(y1, ry);
    }
    this.pane.refreshLayer(layer, [x0, y0, x1 + 1, y1 + 1]);
    this.say("");
    this.changed();
  };

  MaskEditor.prototype.undo = function () { this.swap(this.undoStack, this.redoStack); };
  MaskEditor.prototype.redo = function () { this.swap(this.redoStack, this.undoStack); };
  MaskEditor.prototype.swap = function (from, to) {
    const entry = from.pop();
    if (!entry) return;
    to.push({ layer: entry.layer, bits: entry.layer.bits.slice() });
    entry.layer.bits.set(entry.bits);
    entry.layer.canvas.getContext("2d").clearRect(0, 0, entry.layer.width, entry.layer.height);
    this.pane.refreshLayer(entry.layer);
    this.changed();
  };

  MaskEditor.prototype.overlay = function (ctx, pane) {
    const layer = pane.selectedLayer();
    if (!layer || this.tool === "fill" || !pane.pointer) return;
    const r = this.size * pane.w / layer.width;
    ctx.beginPath();
    ctx.arc(pane.pointer.x, pane.pointer.y, r, 0, 2 * Math.PI);
    ctx.lineWidth = 1.5 / pane.view.scale;
    ctx.strokeStyle = this.tool === "eraser" ? "#ffffff" : layer.colour;
    ctx.stroke();
  };

  /** {organ: CheXmask RLE} of every organ whose pixels differ from what was loaded. */
  MaskEditor.prototype.changedOrgans = function () {
    const out = {};
    this.pane.layers.forEach((layer) => {
      const before = this.originals.get(layer.organ);
      const empty = !layer.bits.some((b) => b);
      if (before === null || before === undefined ? !empty : !same(before, layer.bits)) out[layer.organ] = encodeRle(layer.bits);
    });
    return out;
  };
  MaskEditor.prototype.dirty = function () { return Object.keys(this.changedOrgans()).length > 0; };

  MaskEditor.prototype.say = function (text) { this.message = text; this.changed(); };
  MaskEditor.prototype.changed = function () { this.onChange(this); };

  window.CxrMaskEdit = { create: (pane, onChange) => new MaskEditor(pane, onChange), encodeRle: encodeRle };
})();
