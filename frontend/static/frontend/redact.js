/* Redaction screen: draw boxes over burned-in text on the image, list them, and post them as JSON
   ([[x0, y0, x1, y1], ...] in the image's own pixels, x1 and y1 exclusive) to the server, which burns
   them into the stored file (curation.services.redaction). Plain JS, no inline code (strict CSP). */
(function () {
  "use strict";
  const root = document.querySelector("[data-redact]");
  if (!root) return;
  const canvas = root.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  const rows = Number(root.dataset.rows);
  const cols = Number(root.dataset.cols);
  const maxBoxes = Number(root.dataset.max) || 50;
  const editable = root.dataset.editable === "1";
  const form = document.querySelector("[data-redact-form]");
  const input = form ? form.querySelector("[data-boxes]") : null;
  const save = form ? form.querySelector("button[type=submit]") : null;
  const list = document.querySelector("[data-box-list]");
  const boxes = [];
  let drag = null;

  const picture = new Image();
  picture.addEventListener("load", function () {
    canvas.width = picture.naturalWidth;
    canvas.height = picture.naturalHeight;
    draw();
    canvas.dataset.drawn = "1"; // the picture is on the canvas (tests and scripts wait for this)
  });
  picture.src = root.dataset.src;

  // Canvas pixels are the display rendering's (at most 2048 wide); boxes are kept in the image's own.
  function toImage(event) {
    const rect = canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * cols;
    const y = ((event.clientY - rect.top) / rect.height) * rows;
    return { x: Math.min(Math.max(x, 0), cols), y: Math.min(Math.max(y, 0), rows) };
  }

  // Outward rounding: a box never leaves a sliver of the text it was drawn over.
  function normalised(d) {
    return [
      Math.floor(Math.min(d.x0, d.x1)),
      Math.floor(Math.min(d.y0, d.y1)),
      Math.ceil(Math.max(d.x0, d.x1)),
      Math.ceil(Math.max(d.y0, d.y1)),
    ];
  }

  function draw() {
    if (!picture.complete || !canvas.width) return;
    const sx = canvas.width / cols;
    const sy = canvas.height / rows;
    ctx.drawImage(picture, 0, 0);
    ctx.lineWidth = Math.max(1, canvas.width / 600);
    const shapes = boxes.map(function (b) { return { box: b, pending: false }; });
    if (drag) shapes.push({ box: normalised(drag), pending: true });
    shapes.forEach(function (shape) {
      const b = shape.box;
      ctx.fillStyle = shape.pending ? "rgba(255, 200, 0, 0.25)" : "rgba(255, 60, 60, 0.45)";
      ctx.strokeStyle = shape.pending ? "#ffc800" : "#ff3c3c";
      ctx.fillRect(b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy);
      ctx.strokeRect(b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy);
    });
  }

  function update() {
    if (input) input.value = JSON.stringify(boxes);
    if (save) {
      save.disabled = boxes.length === 0;
      save.textContent = boxes.length === 1 ? "Burn in 1 box" : "Burn in " + boxes.length + " boxes";
    }
    if (list) {
      list.replaceChildren();
      boxes.forEach(function (b, i) {
        const item = document.createElement("li");
        item.textContent = "x " + b[0] + "–" + b[2] + ", y " + b[1] + "–" + b[3] + " (" + (b[2] - b[0]) + "×" + (b[3] - b[1]) + ")";
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", "Remove box " + (i + 1));
        remove.addEventListener("click", function () {
          boxes.splice(i, 1);
          update();
        });
        item.appendChild(remove);
        list.appendChild(item);
      });
    }
    draw();
  }

  if (!editable) return;

  canvas.addEventListener("pointerdown", function (event) {
    if (event.button !== 0 || boxes.length >= maxBoxes) return;
    const p = toImage(event);
    drag = { x0: p.x, y0: p.y, x1: p.x, y1: p.y };
    canvas.setPointerCapture(event.pointerId);
    canvas.focus();
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drag) return;
    const p = toImage(event);
    drag.x1 = p.x;
    drag.y1 = p.y;
    draw();
  });
  canvas.addEventListener("pointerup", function (event) {
    if (!drag) return;
    const p = toImage(event);
    drag.x1 = p.x;
    drag.y1 = p.y;
    const box = normalised(drag);
    drag = null;
    if (box[2] > box[0] && box[3] > box[1]) boxes.push(box);
    update();
  });
  canvas.addEventListener("pointercancel", function () {
    drag = null;
    draw();
  });

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) return;
    if (event.key === "Escape" && drag) {
      drag = null;
      draw();
    } else if ((event.key === "u" || event.key === "Backspace") && !event.ctrlKey && !event.metaKey && boxes.length) {
      boxes.pop();
      update();
      event.preventDefault();
    }
  });

  update();
})();
