// The mask review screen: claims the next mask item through the review API, shows the image with the masks
// QC judged (never another reader's correction: the item's prefill names them), the QC estimate, flags and
// reasons. The reader accepts, rejects with a reason, or corrects with maskedit.js and saves the changed
// organs as new reviewer mask versions (POST …/items/{id}/correct/). Keys come from keymap.js.
// A link with ?item=<id> (QC page, study page) opens that item first through POST …/mask/items/{id}/claim/;
// when the reader may not read it, the notice says why (with the adjudication page for curators) and the
// queue goes on as usual.
(function () {
  "use strict";
  const root = document.querySelector("[data-review][data-kind=mask]");
  if (!root || !window.CxrKeymap || !window.CxrViewer || !window.CxrMaskEdit) return;
  const SCREEN = "mask";
  const API = root.dataset.api;
  const PROJECT_API = root.dataset.projectApi;
  const client = window.CxrReviewClient;
  const q = (sel) => root.querySelector(sel);
  const el = {
    meta: q("[data-meta]"), sentback: q("[data-sentback]"), qc: q("[data-qc]"), reasons: q("[data-reasons]"),
    flags: q("[data-flags]"), comment: q("[data-comment]"), status: q("[data-status]"), reject: q("[data-reject]"),
    accept: q("[data-accept]"), organ: q("[data-organ]"), size: q("[data-size]"), sizeLabel: q("[data-size-label]"),
    editStatus: q("[data-edit-status]"), empty: document.querySelector("[data-empty]"),
    notice: document.querySelector("[data-notice]"),
  };
  const pane = window.CxrViewer.primary();
  const editor = window.CxrMaskEdit.create(pane, showEditState);
  const reasons = Array.from(root.querySelectorAll("[data-reject-list] li")).map((li) => li.dataset.reason);
  let item = null;
  let reason = null;
  let shownAt = 0;
  let busy = false;
  let noticeRenders = 0; // the notice about a named item stays for the item shown with it, then goes

  window.CxrKeymap.describe(SCREEN);

  function say(text, isError) { client.say(el.status, text, isError); }
  const errorText = client.errorText;
  const call = client.request;
  function seconds() { return client.secondsSince(shownAt); }
  function organLabel(organ) { return String(organ).replace(/_/g, " "); }

  function showEditState() {
    const edited = editor.undoStack.length > 0;
    root.dataset.edited = String(edited);
    el.accept.firstChild.textContent = edited ? "Save correction " : "Accept ";
    root.querySelectorAll("[data-tool]").forEach((b) => b.classList.toggle("on", b.dataset.tool === editor.tool));
    root.dataset.tool = editor.tool || "";
    el.size.value = String(editor.size);
    el.sizeLabel.textContent = `${editor.size} px`;
    const layer = pane.selectedLayer();
    if (layer && el.organ.value !== layer.organ) el.organ.value = layer.organ;
    el.editStatus.textContent = editor.message || (editor.tool ? `${editor.tool} on ${layer ? organLabel(layer.organ) : "—"}` : "");
  }

  // --- rendering (text only through textContent) ------------------------------------------------------
  function renderQc(prefill) {
    el.qc.replaceChildren();
    const add = (term, value) => {
      const dt = document.createElement("dt"); dt.textContent = term;
      const dd = document.createElement("dd"); dd.textContent = value;
      el.qc.append(dt, dd);
    };
    add("Estimated Dice", typeof prefill.estimated_dice === "number" ? prefill.estimated_dice.toFixed(3) : "—");
    add("QC decision", prefill.decision || "—");
  }
  function render(data) {
    item = data;
    const prefill = data.prefill || {};
    root.dataset.item = String(data.id);
    el.meta.textContent = `Item ${data.id} · image ${data.image} · study ${data.study} · priority ${data.priority}` +
      ` · read ${data.claim ? data.claim.slot : "?"} of ${data.required_reads}${data.round > 1 ? ` · round ${data.round}` : ""}` +
      `${data.resumed ? " · resumed" : ""}`;
    el.sentback.hidden = !data.comment;
    el.sentback.textContent = data.comment ? `Sent back: ${data.comment}` : "";
    renderQc(prefill);
    el.reasons.replaceChildren(...(data.reasons || []).map((text) => { const li = document.createElement("li"); li.textContent = text; return li; }));
    el.flags.replaceChildren(...(prefill.flags || []).map((flag) => {
      const li = document.createElement("li");
      li.className = `sev-${flag.severity || "info"}`;
      li.textContent = `${organLabel(flag.organ || "")}${flag.organ ? ": " : ""}${flag.reason || flag.code || ""}`;
      return li;
    }));
    el.comment.value = (data.mine && data.mine.comment) || "";
    closeReject();
    el.empty.hidden = true;
    root.hidden = false;
    if (noticeRenders > 0) noticeRenders -= 1; else el.notice.hidden = true;
    const image = (data.images || [])[0];
    say("Loading the image and masks…");
    const loaded = image ? pane.load(image.display16, image.display, JSON.stringify(image.window || {})) : Promise.resolve(false);
    loaded.then(() => loadMasks(data)).then(() => {
      editor.reset();
      shownAt = performance.now();
      root.dataset.ready = String(data.id);
      say("");
    });
  }
  async function loadMasks(data) {
    if (!data.image) return [];
    const response = await call("GET", `${PROJECT_API}/images/${data.image}/masks/`);
    if (response.status !== 200) { say(errorText(response), true); return []; }
    const judged = new Set(((data.prefill || {}).mask_ids) || []);
    // The masks QC judged; without that list, the newest version of each organ.
    const chosen = {};
    (response.data.masks || []).forEach((m) => {
      if (judged.size ? judged.has(m.id) : !chosen[m.organ] || chosen[m.organ].version < m.version) chosen[m.organ] = m;
    });
    const list = Object.values(chosen).sort((a, b) => a.organ.localeCompare(b.organ)).map((m) => ({
      id: m.id, organ: m.organ, url: `${PROJECT_API}/masks/${m.id}/layer.png`,
      label: `${organLabel(m.organ)} v${m.version}`,
    }));
    return pane.setMasks(list);
  }

  // --- actions ---------------------------------------------------------------------------------------
  async function loadNext() {
    busy = true;
    item = null;
    delete root.dataset.ready;
    say("Loading the next item…");
    const response = await call("POST", `${API}/${SCREEN}/next/`);
    busy = false;
    if (response.status === 204) {
      root.hidden = true;
      el.empty.hidden = false;
      return;
    }
    if (response.status !== 200) { say(errorText(response), true); return; }
    render(response.data);
  }
  async function decide(payload) {
    busy = true;
    say("Saving…");
    payload.comment = el.comment.value;
    const response = await call("POST", `${API}/items/${item.id}/decide/`, { payload: payload, seconds: seconds() });
    busy = false;
    if (response.status !== 201) { say(errorText(response), true); return; }
    await loadNext();
  }
  async function acceptOrSave() {
    if (!item || busy || root.dataset.ready !== String(item.id)) return;
    const organs = editor.changedOrgans();
    if (!Object.keys(organs).length) { await decide({ verdict: "accept" }); return; }
    busy = true;
    say(`Saving the corrected ${Object.keys(organs).map(organLabel).join(", ")}…`);
    const response = await call("POST", `${API}/items/${item.id}/correct/`, { organs: organs, seconds: seconds(), comment: el.comment.value });
    busy = false;
    if (response.status !== 201) { say(errorText(response), true); return; }
    await loadNext();
  }
  function openReject() {
    if (!item) return;
    el.reject.hidden = false;
    root.dataset.rejecting = "true";
    pick(reason);
  }
  function closeReject() {
    el.reject.hidden = true;
    delete root.dataset.rejecting;
    pick(null);
  }
  function pick(value) {
    reason = value;
    el.reject.querySelectorAll("li").forEach((li) => li.classList.toggle("chosen", li.dataset.reason === value));
    if (value) root.dataset.reason = value; else delete root.dataset.reason;
  }
  async function reject() {
    if (!item || busy) return;
    if (!reason) { say("Pick a reason to reject (its number).", true); return; }
    const chosen = reason;
    closeReject();
    await decide({ verdict: "reject", reason: chosen });
  }
  async function skip() {
    if (!item || busy) return;
    busy = true;
    const response = await call("POST", `${API}/items/${item.id}/skip/`);
    busy = false;
    if (response.status !== 200) { say(errorText(response), true); return; }
    await loadNext();
  }
  function notice(text, link) {
    el.notice.replaceChildren(document.createTextNode(text));
    if (link) {
      const a = document.createElement("a");
      a.href = link;
      a.textContent = "Open it in adjudication →";
      a.dataset.testid = "open-item-adjudicate";
      el.notice.append(" ", a);
    }
    el.notice.hidden = false;
    noticeRenders = 1;
  }
  // The item a link named: claimed and shown if the reader may read it, else a notice and the queue.
  async function openNamed(id) {
    // Dropped from the address so a reload or the next item does not ask for it again.
    const url = new URL(window.location.href);
    url.searchParams.delete("item");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    busy = true;
    say(`Opening item ${id}…`);
    const response = await call("POST", `${API}/${SCREEN}/items/${id}/claim/`);
    busy = false;
    if (response.status === 200) { render(response.data); return; }
    if (response.status === 404) notice(`There is no mask review item ${id} in this project: here is the next item of the queue.`);
    else if (response.status === 409 && response.data) notice(`Item ${id}: ${response.data.detail} Here is the next item of the queue.`, response.data.adjudicate);
    else notice(`Item ${id} could not be opened (${errorText(response)}): here is the next item of the queue.`);
    await loadNext();
  }
  function toggleTool(tool) { editor.setTool(editor.tool === tool ? null : tool); }

  document.addEventListener("keydown", (event) => {
    if (event.target === el.comment) {
      if (event.key === "Escape" || event.key === "Enter") { event.preventDefault(); el.comment.blur(); }
      return;
    }
    if (root.dataset.rejecting && !window.CxrKeymap.typing(event)) {
      const n = Number(event.key);
      if (Number.isInteger(n) && n >= 1 && n <= reasons.length) pick(reasons[n - 1]);
      else if (event.key === "Enter") reject();
      else if (event.key === "Escape") closeReject();
      else return;
      event.preventDefault();
      return;
    }
    const act = window.CxrKeymap.screenAction(SCREEN, event);
    if (!act) return;
    if (act === "accept") acceptOrSave();
    else if (act === "reject") openReject();
    else if (act === "skip") skip();
    else if (act === "comment") el.comment.focus();
    else if (act === "brush" || act === "eraser" || act === "fill") toggleTool(act);
    else if (act === "no-tool") editor.setTool(null);
    else if (act === "size-down") editor.setSize(editor.size - Math.max(1, Math.round(editor.size / 5)));
    else if (act === "size-up") editor.setSize(editor.size + Math.max(1, Math.round(editor.size / 5)));
    else if (act === "undo") editor.undo();
    else if (act === "redo") editor.redo();
    else if (act.startsWith("organ-")) { pane.select(Number(act.slice(6)) - 1); showEditState(); }
    else return;
    event.preventDefault();
  });
  root.addEventListener("viewer:select", showEditState);
  el.organ.addEventListener("change", () => { editor.useOrgan(el.organ.value); el.organ.blur(); });
  el.size.addEventListener("input", () => editor.setSize(Number(el.size.value)));
  el.size.addEventListener("change", () => el.size.blur());
  root.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => toggleTool(b.dataset.tool)));
  q("[data-undo]").addEventListener("click", () => editor.undo());
  q("[data-redo]").addEventListener("click", () => editor.redo());
  el.accept.addEventListener("click", acceptOrSave);
  q("[data-reject-open]").addEventListener("click", openReject);
  q("[data-reject-confirm]").addEventListener("click", reject);
  root.querySelectorAll("[data-reason-pick]").forEach((b) => b.addEventListener("click", () => pick(b.dataset.reasonPick)));
  q("[data-skip]").addEventListener("click", skip);
  client.keepLease(root, () => item, (held) => call("POST", `${API}/items/${held.id}/renew/`));
  const named = Number(root.dataset.openItem);
  if (Number.isInteger(named) && named > 0) openNamed(named); else loadNext();
})();
