// The console's few behaviours: draw charts from their JSON endpoints, keep [data-live]
// regions and charts current by polling, and upload files with the session's CSRF token.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const POLL_MS = 2000;

  async function drawChart(el) {
    const response = await fetch(el.dataset.chart, {headers: {"Accept": "application/json"}});
    if (!response.ok) { return; }
    const figure = await response.json();
    const points = figure.data.reduce((n, trace) => n + (trace.y || []).length, 0);
    el.dataset.points = String(points);
    el.dataset.traces = String(figure.data.length);
    if (!points) {
      el.classList.add("empty");
      el.textContent = "No data yet.";
      delete el.dataset.drawn;
      return;
    }
    if (!el.dataset.drawn) { el.textContent = ""; el.classList.remove("empty"); }
    await window.Plotly.react(el, figure.data, figure.layout,
                              {responsive: true, displaylogo: false});
    el.dataset.drawn = "1";
  }

  async function refreshLive() {
    const live = document.querySelectorAll("[data-live][id]");
    if (!live.length) { return; }
    const response = await fetch(window.location.href, {headers: {"Accept": "text/html"}});
    if (!response.ok) { return; }
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    live.forEach((el) => {
      const replacement = fresh.getElementById(el.id);
      // Never pull the rug from under the keyboard: skip a region holding the focus.
      if (replacement && !el.contains(document.activeElement)) {
        // ... nor drop the rows a user ticked (to compare them)
        const ticked = new Set(Array.from(el.querySelectorAll("input[type=checkbox]:checked"),
                                          (box) => box.name + "\n" + box.value));
        el.innerHTML = replacement.innerHTML;
        el.querySelectorAll("input[type=checkbox]").forEach((box) => {
          if (ticked.has(box.name + "\n" + box.value)) { box.checked = true; }
        });
      }
    });
  }

  async function tick() {
    try {
      await Promise.all([refreshLive(), ...Array.from(
        document.querySelectorAll("[data-chart]"), drawChart)]);
    } finally {
      window.setTimeout(tick, POLL_MS);
    }
  }

  function wireUpload() {
    const form = document.getElementById("upload-form");
    if (!form) { return; }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = form.querySelector('input[type="file"]').files[0];
      const status = document.getElementById("upload-status");
      if (!file) { return; }
      const key = form.dataset.prefix + file.name;
      status.textContent = "Uploading " + file.name + "…";
      const response = await fetch(form.dataset.upload + "?key=" + encodeURIComponent(key), {
        method: "PUT", body: file,
        headers: {"X-CSRF-Token": csrf, "Content-Type": file.type || "application/octet-stream"}});
      const answer = await response.json();
      status.textContent = response.ok ? "Uploaded " + answer.key + " (" + answer.size + " bytes)."
                                       : "Upload failed: " + answer.message;
      if (response.ok) { refreshLive(); }
    });
  }

  function wireTry() {
    const form = document.getElementById("try-form");
    if (!form) { return; }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = document.getElementById("try-status");
      const out = document.getElementById("try-answer");
      status.textContent = "Invoking…";
      out.textContent = "";
      const response = await fetch(form.dataset.invoke, {
        method: "POST", body: document.getElementById("try-payload").value,
        headers: {"X-CSRF-Token": csrf, "Content-Type": document.getElementById("try-type").value}});
      const answer = await response.json();
      if (!response.ok) { status.textContent = "Refused: " + answer.message; return; }
      status.textContent = "HTTP " + answer.status + (answer.variant ? " from " + answer.variant : "")
        + " in " + answer.latencyMs + " ms";
      out.textContent = answer.body;
    });
  }

  // A list's column choice lives in its address (col=...); the last one chosen is kept in
  // localStorage and comes back when the list is opened without one. True: leaving the page.
  function rememberColumns() {
    const form = document.getElementById("columns-form");
    if (!form) { return false; }
    const key = form.dataset.remember;
    const params = new URLSearchParams(window.location.search);
    if (params.has("col")) {
      window.localStorage.setItem(key, JSON.stringify(params.getAll("col")));
      return false;
    }
    let saved = null;
    try { saved = JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
    if (!Array.isArray(saved) || !saved.length) { return false; }
    saved.forEach((column) => params.append("col", String(column)));
    window.location.replace(window.location.pathname + "?" + params.toString());
    return true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (rememberColumns()) { return; }
    wireUpload(); wireTry(); tick();
  });
}());
