// The review screens' one client of the review API (label, mask and structure queues): requests with the
// session's CSRF token, readable error text, the time a read took, and the claim's lease kept alive while the
// reader is active. Each screen script loads after this one and keeps only what its queue does differently.
(function () {
  "use strict";
  const RENEW_MS = 60000;
  const csrf = (function () {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  })();

  async function request(method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    if (response.status !== 204) { try { data = await response.json(); } catch (e) { data = null; } }
    return { status: response.status, data: data };
  }
  function errorText(response) {
    const d = response.data;
    if (!d) return `Error ${response.status}`;
    if (typeof d.detail === "string") return d.detail;
    return Object.entries(d)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : (typeof v === "object" ? JSON.stringify(v) : v)}`)
      .join("; ");
  }
  function say(statusEl, text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", !!isError);
  }
  // To 10 ms: a fast keyboard read is well under a tenth of a second, and must not be stored as 0.
  function secondsSince(start) { return Math.round((performance.now() - start) / 10) / 100; }
  // Keep the lease while the reader is active (a key or a pointer on the screen within two periods);
  // an idle screen lets it lapse so others can take the item.
  function keepLease(root, currentItem, renew) {
    let lastActivity = Date.now();
    const touch = () => { lastActivity = Date.now(); };
    document.addEventListener("keydown", touch, true);
    root.addEventListener("pointerdown", touch);
    setInterval(() => {
      const item = currentItem();
      if (item && Date.now() - lastActivity < 2 * RENEW_MS) renew(item);
    }, RENEW_MS);
  }

  window.CxrReviewClient = { request, errorText, say, secondsSince, keepLease };
})();
