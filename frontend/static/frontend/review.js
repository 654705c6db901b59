// The label review screen: claims the next item through the review API, shows the image, the report with
// its evidence marked and the plain-language reasons, and lets the reader set each finding with the keys of
// the shared key map (keymap.js). Enter records the decision and loads the next item; its image was fetched
// ahead. No other reader's decision ever reaches this page: the API is blinded.
(function () {
  "use strict";
  const root = document.querySelector("[data-review]");
  if (!root || !window.CxrKeymap) return;
  const SCREEN = root.dataset.kind;
  const API = root.dataset.api;
  const STATUSES = ["positive", "negative", "uncertain", "not_mentioned"];
  const client = window.CxrReviewClient;
  const el = {
    meta: root.querySelector("[data-meta]"),
    sentback: root.querySelector("[data-sentback]"),
    reasons: root.querySelector("[data-reasons]"),
    report: root.querySelector("[data-report]"),
    findings: root.querySelector("[data-findings] tbody"),
    comment: root.querySelector("[data-comment]"),
    status: root.querySelector("[data-status]"),
    empty: document.querySelector("[data-empty]"),
  };
  let item = null;
  let statuses = {};
  let prefilled = {};
  let order = [];
  let current = 0;
  let shownAt = 0;
  let busy = false;
  const prefetched = [];

  window.CxrKeymap.describe(SCREEN);

  function say(text, isError) { client.say(el.status, text, isError); }
  const errorText = client.errorText;
  function call(method, path, body) { return client.request(method, API + path, body); }

  // --- rendering (text only through textContent: report text and evidence are untrusted) -------------
  function renderReport(text, labels) {
    const spans = [];
    labels.forEach((entry) => (entry.evidence || []).forEach((e) => {
      if ((e.field === undefined || e.field === null || e.field === "text") && Number.isInteger(e.start) && Number.isInteger(e.end)) {
        spans.push({ start: e.start, end: e.end, status: e.status || "", label: entry.label });
      }
    }));
    spans.sort((a, b) => a.start - b.start || b.end - a.end);
    el.report.replaceChildren();
    let pos = 0;
    spans.forEach((s) => {
      if (s.start < pos || s.end > text.length || s.end <= s.start) return;
      el.report.append(document.createTextNode(text.slice(pos, s.start)));
      const mark = document.createElement("mark");
      mark.className = `ev ev-${STATUSES.includes(s.status) ? s.status : "other"}`;
      mark.dataset.label = s.label;
      mark.textContent = text.slice(s.start, s.end);
      el.report.append(mark);
      pos = s.end;
    });
    el.report.append(document.createTextNode(text.slice(pos)));
    if (!text) el.report.textContent = "No report text.";
  }
  function renderFindings() {
    el.findings.replaceChildren();
    order.forEach((label, index) => {
      const tr = document.createElement("tr");
      tr.dataset.label = label;
      tr.setAttribute("data-testid", "finding");
      const name = document.createElement("td");
      name.textContent = label;
      tr.append(name);
      STATUSES.forEach((status) => {
        const td = document.createElement("td");
        td.className = `st st-${status}`;
        td.dataset.status = status;
        td.textContent = status === "not_mentioned" ? "—" : status.slice(0, 3);
        td.title = status.replace("_", " ");
        td.addEventListener("click", () => { current = index; set(status); });
        tr.append(td);
      });
      el.findings.append(tr);
    });
    paint();
  }
  function paint() {
    Array.from(el.findings.rows).forEach((tr, index) => {
      const label = tr.dataset.label;
      tr.classList.toggle("current", index === current);
      tr.dataset.chosen = statuses[label];
      tr.querySelectorAll("td.st").forEach((td) => td.classList.toggle("chosen", td.dataset.status === statuses[label]));
      tr.cells[0].classList.toggle("changed", statuses[label] !== prefilled[label]);
      if (index === current) tr.scrollIntoView({ block: "nearest" });
    });
    const label = order[current];
    el.report.querySelectorAll("mark").forEach((m) => m.classList.toggle("current", m.dataset.label === label));
  }
  function render(data) {
    item = data;
    const labels = (data.prefill && data.prefill.labels) || [];
    order = labels.map((entry) => entry.label);
    prefilled = {};
    labels.forEach((entry) => { prefilled[entry.label] = entry.status; });
    statuses = Object.assign({}, prefilled, (data.mine && data.mine.labels) || {});
    current = 0;
    root.dataset.item = String(data.id);
    el.meta.textContent = `Item ${data.id} · study ${data.study} · priority ${data.priority}` +
      ` · read ${data.claim ? data.claim.slot : "?"} of ${data.required_reads}${data.round > 1 ? ` · round ${data.round}` : ""}` +
      `${data.resumed ? " · resumed" : ""}`;
    el.sentback.hidden = !data.comment;
    el.sentback.textContent = data.comment ? `Sent back: ${data.comment}` : "";
    el.reasons.replaceChildren();
    (data.reasons || []).forEach((reason) => {
      const li = document.createElement("li");
      li.textContent = reason;
      el.reasons.append(li);
    });
    renderReport(data.report || "", labels);
    renderFindings();
    el.comment.value = (data.mine && data.mine.comment) || "";
    const image = (data.images || [])[0];
    if (image && window.CxrViewer) window.CxrViewer.load(image.display16, image.display, JSON.stringify(image.window || {}));
    (data.prefetch || []).forEach((url) => { const img = new Image(); img.src = url; prefetched.push(img); if (prefetched.length > 4) prefetched.shift(); });
    shownAt = performance.now();
    el.empty.hidden = true;
    root.hidden = false;
    say("");
  }

  // --- actions ---------------------------------------------------------------------------------------
  async function loadNext() {
    busy = true;
    say("Loading the next item…");
    const response = await call("POST", `/${SCREEN}/next/`);
    busy = false;
    if (response.status === 204) {
      item = null;
      root.hidden = true;
      el.empty.hidden = false;
      return;
    }
    if (response.status !== 200) { say(errorText(response), true); return; }
    render(response.data);
  }
  function set(status) {
    if (!item || !order.length) return;
    statuses[order[current]] = status;
    paint();
  }
  function move(step) {
    if (!order.length) return;
    current = Math.max(0, Math.min(order.length - 1, current + step));
    paint();
  }
  async function accept() {
    if (!item || busy) return;
    busy = true;
    say("Saving…");
    const seconds = client.secondsSince(shownAt);
    const response = await call("POST", `/items/${item.id}/decide/`, {
      payload: { labels: statuses, comment: el.comment.value },
      seconds: seconds,
    });
    busy = false;
    if (response.status !== 201) { say(errorText(response), true); return; }
    await loadNext();
  }
  async function skip() {
    if (!item || busy) return;
    busy = true;
    const response = await call("POST", `/items/${item.id}/skip/`);
    busy = false;
    if (response.status !== 200) { say(errorText(response), true); return; }
    await loadNext();
  }

  document.addEventListener("keydown", (event) => {
    if (event.target === el.comment) {
      if (event.key === "Escape" || event.key === "Enter") { event.preventDefault(); el.comment.blur(); }
      return;
    }
    const act = window.CxrKeymap.screenAction(SCREEN, event);
    if (!act) return;
    if (STATUSES.includes(act)) set(act);
    else if (act === "previous") move(-1);
    else if (act === "next") move(1);
    else if (act === "accept") accept();
    else if (act === "skip") skip();
    else if (act === "comment") el.comment.focus();
    else return;
    event.preventDefault();
  });
  root.querySelector("[data-accept]").addEventListener("click", accept);
  root.querySelector("[data-skip]").addEventListener("click", skip);
  client.keepLease(root, () => item, (held) => call("POST", `/items/${held.id}/renew/`));
  loadNext();
})();
