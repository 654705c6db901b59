// The structure review screen: claims the next structure item through the review API, shows the current
// study's image and report beside the prior study's, and the findings table that the reader edits with the
// keys of the shared key map (keymap.js): change 1–5/0, presence N, certainty T, reject X, add A. Enter
// records the decision (every row with its verdict; the server adds reviewer rows beside the machine's).
(function () {
  "use strict";
  const root = document.querySelector("[data-review][data-kind=structure]");
  if (!root || !window.CxrKeymap) return;
  const SCREEN = "structure";
  const API = root.dataset.api;
  const list = (name) => (root.dataset[name] || "").split("|").filter(Boolean);
  const CHOICES = { terms: list("terms"), locations: list("locations"), severities: list("severities"), changes: list("changes") };
  const KEYS = ["term", "presence", "certainty", "location", "severity", "change"];
  const client = window.CxrReviewClient;
  const $ = (sel) => root.querySelector(sel);
  const el = {
    meta: $("[data-meta]"), sentback: $("[data-sentback]"), reasons: $("[data-reasons]"), report: $("[data-report]"),
    priorReport: $("[data-prior-report]"), currentDate: $("[data-current-date]"), priorDate: $("[data-prior-date]"),
    noPrior: $("[data-no-prior]"), priorPane: $("[data-prior-pane]"), shown: $("[data-shown]"),
    findings: $("[data-findings] tbody"), comment: $("[data-comment]"), status: $("[data-status]"),
    form: $("[data-add-form]"), empty: document.querySelector("[data-empty]"),
  };
  let item = null;
  let rows = [];
  let current = 0;
  let shownAt = 0;
  let busy = false;
  let showingPrior = false;

  window.CxrKeymap.describe(SCREEN);

  function say(text, isError) { client.say(el.status, text, isError); }
  const errorText = client.errorText;
  function call(method, path, body) { return client.request(method, API + path, body); }
  function options(select, values, blank) {
    select.replaceChildren();
    if (blank) select.append(new Option(blank, ""));
    values.forEach((value) => select.append(new Option(value, value)));
  }
  options(el.form.querySelector("[data-add-term]"), CHOICES.terms);
  options(el.form.querySelector("[data-add-location]"), CHOICES.locations, "—");
  options(el.form.querySelector("[data-add-severity]"), CHOICES.severities, "—");
  options(el.form.querySelector("[data-add-change]"), CHOICES.changes, "none");

  // --- rendering (text only through textContent: report text and evidence are untrusted) -------------
  function renderReport(target, text, spans) {
    target.replaceChildren();
    let pos = 0;
    spans.filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end)).sort((a, b) => a.start - b.start).forEach((s) => {
      if (s.start < pos || s.end > text.length || s.end <= s.start) return;
      target.append(document.createTextNode(text.slice(pos, s.start)));
      const mark = document.createElement("mark");
      mark.className = "ev";
      mark.dataset.row = String(s.row);
      mark.textContent = text.slice(s.start, s.end);
      target.append(mark);
      pos = s.end;
    });
    target.append(document.createTextNode(text.slice(pos)));
    if (!text) target.textContent = "No report text.";
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "—" : text;
    if (cls) td.className = cls;
    tr.append(td);
    return td;
  }
  function changed(row) { return row.original && KEYS.some((key) => (row[key] || null) !== (row.original[key] || null)); }
  function renderFindings() {
    el.findings.replaceChildren();
    rows.forEach((row, index) => {
      const tr = document.createElement("tr");
      tr.setAttribute("data-testid", "finding");
      tr.dataset.index = String(index);
      tr.dataset.change = row.change || "none";
      tr.dataset.presence = row.presence;
      tr.dataset.verdict = row.verdict;
      tr.classList.toggle("current", index === current);
      tr.classList.toggle("conflict", !!row.conflict);
      tr.classList.toggle("rejected", row.verdict === "reject");
      tr.classList.toggle("edited", row.verdict !== "reject" && changed(row));
      tr.classList.toggle("added", row.verdict === "add");
      cell(tr, row.term, "term");
      cell(tr, row.presence);
      cell(tr, row.certainty);
      cell(tr, row.location);
      cell(tr, row.severity);
      cell(tr, row.change ? `${row.change}${row.origin && !changed(row) ? ` (${row.origin})` : ""}` : "none", "change");
      const prior = row.prior;
      cell(tr, prior ? `${prior.presence}${prior.location ? ", " + prior.location : ""}${prior.severity ? ", " + prior.severity : ""}` : "");
      cell(tr, (row.evidence || []).map((e) => e.text).join(" … "));
      cell(tr, row.conflict || "", "conflict-reason");
      tr.addEventListener("click", () => { current = index; renderFindings(); });
      el.findings.append(tr);
      if (index === current) tr.scrollIntoView({ block: "nearest" });
    });
    el.report.querySelectorAll("mark").forEach((m) => m.classList.toggle("current", m.dataset.row === String(current)));
  }
  function loadPane(pane, image) {
    if (!pane || !image) return;
    pane.load(image.display16, image.display, JSON.stringify(image.window || {}));
  }
  function showMain(prior) {
    const viewer = window.CxrViewer;
    const image = prior ? ((item.prior && item.prior.images) || [])[0] : (item.images || [])[0];
    if (!viewer || !image) return;
    showingPrior = prior;
    viewer.load(image.display16, image.display, JSON.stringify(image.window || {}));
    el.shown.textContent = prior ? "showing the prior image (B for the current one)" : "";
  }
  function render(data) {
    item = data;
    rows = ((data.prefill && data.prefill.findings) || []).map((f) => Object.assign({}, f, { verdict: "accept", original: f }));
    const mine = data.mine && data.mine.answer && data.mine.answer.findings;
    if (mine) {
      const byId = {};
      rows.forEach((row) => { byId[row.id] = row; });
      mine.forEach((m) => {
        if (m.id !== null && byId[m.id]) KEYS.concat(["verdict"]).forEach((key) => { byId[m.id][key] = m[key]; });
        else if (m.verdict === "add") rows.push(Object.assign({}, m, { original: null, evidence: [] }));
      });
    }
    current = 0;
    root.dataset.item = String(data.id);
    el.meta.textContent = `Item ${data.id} · study ${data.study} · priority ${data.priority}` +
      ` · read ${data.claim ? data.claim.slot : "?"} of ${data.required_reads}${data.round > 1 ? ` · round ${data.round}` : ""}` +
      `${data.resumed ? " · resumed" : ""}`;
    el.sentback.hidden = !data.comment;
    el.sentback.textContent = data.comment ? `Sent back: ${data.comment}` : "";
    el.reasons.replaceChildren();
    (data.reasons || []).forEach((reason) => { const li = document.createElement("li"); li.textContent = reason; el.reasons.append(li); });
    el.currentDate.textContent = data.study_date || "undated";
    const spans = [];
    rows.forEach((row, index) => (row.evidence || []).forEach((e) => spans.push({ start: e.start, end: e.end, row: index })));
    renderReport(el.report, data.report || "", spans);
    const prior = data.prior;
    el.noPrior.hidden = !!prior;
    el.priorPane.hidden = !prior;
    el.priorDate.textContent = prior ? (prior.study_date || "undated") : "";
    renderReport(el.priorReport, prior ? prior.report || "" : "", []);
    if (!prior) el.priorReport.textContent = "";
    renderFindings();
    el.comment.value = (data.mine && data.mine.comment) || "";
    showMain(false);
    const panes = (window.CxrViewer && window.CxrViewer.panes) || [];
    if (prior) loadPane(panes[1], (prior.images || [])[0]);
    (data.prefetch || []).forEach((url) => { const img = new Image(); img.src = url; });
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
    if (response.status === 204) { item = null; root.hidden = true; el.empty.hidden = false; return; }
    if (response.status !== 200) { say(errorText(response), true); return; }
    render(response.data);
  }
  function edit(fn) {
    const row = rows[current];
    if (!item || !row) return;
    fn(row);
    renderFindings();
  }
  function move(step) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, current + step));
    renderFindings();
  }
  function openAdd() {
    if (!item) return;
    el.form.hidden = false;
    el.form.querySelector("[data-add-term]").focus();
  }
  function closeAdd() { el.form.hidden = true; el.form.reset(); }
  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(el.form);
    const row = { id: null, verdict: "add", original: null, evidence: [], prior: null, conflict: "" };
    KEYS.forEach((key) => { row[key] = data.get(key) || null; });
    rows.push(row);
    current = rows.length - 1;
    closeAdd();
    renderFindings();
  });
  el.form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); closeAdd(); }
    else if (event.key === "Enter") { event.preventDefault(); el.form.requestSubmit(); }
  });
  el.form.querySelector("[data-add-cancel]").addEventListener("click", closeAdd);
  async function accept() {
    if (!item || busy) return;
    busy = true;
    say("Saving…");
    const seconds = client.secondsSince(shownAt);
    const findings = rows.map((row) => {
      const entry = { id: row.id, verdict: row.verdict === "reject" || row.verdict === "add" ? row.verdict : "accept" };
      KEYS.forEach((key) => { entry[key] = row[key] || null; });
      return entry;
    });
    const response = await call("POST", `/items/${item.id}/decide/`, {
      payload: { answer: { findings: findings }, comment: el.comment.value }, seconds: seconds,
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
    if (!el.form.hidden && el.form.contains(event.target)) return;
    const act = window.CxrKeymap.screenAction(SCREEN, event);
    if (!act) return;
    if (act.startsWith("change:")) {
      const value = act.slice(7);
      edit((row) => { row.change = value === "none" ? null : value; });
    } else if (act === "presence") edit((row) => { row.presence = row.presence === "present" ? "absent" : "present"; });
    else if (act === "certainty") edit((row) => { row.certainty = row.certainty === "definite" ? "tentative" : "definite"; });
    else if (act === "reject") {
      edit((row) => {
        if (row.verdict === "add") { rows.splice(current, 1); current = Math.max(0, current - 1); }
        else row.verdict = row.verdict === "reject" ? "accept" : "reject";
      });
    } else if (act === "add") openAdd();
    else if (act === "other-image") { if (item && item.prior) showMain(!showingPrior); }
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
  root.querySelector("[data-add]").addEventListener("click", openAdd);
  client.keepLease(root, () => item, (held) => call("POST", `/items/${held.id}/renew/`));
  loadNext();
})();
