// Lifeboat's dashboard script: the kit sheet's Print button, the overview's live progress and the destination forms' Test and presets. It listens to /api/live (server-sent
// events through ingress) and draws each update into the "Now" card; when the events cannot get
// through it asks /api/progress every two seconds instead. Everything else works without it.
"use strict";
(function () {
  // The kit sheet's Print button (no inline handlers: the page's policy forbids them).
  const print = document.getElementById("print-kit");
  if (print) print.addEventListener("click", () => window.print());
})();
(function () {
  const live = document.getElementById("live-body");
  if (!live) return;
  const prefix = document.body.dataset.prefix || "";
  const button = document.getElementById("backup-now");
  let wasRunning = document.getElementById("live").dataset.running === "true";
  let polling = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c !== null && c !== undefined) e.append(c);
    }
    return e;
  }

  function draw(v) {
    const parts = [];
    if (v.running) {
      parts.push(el("p", { class: "step" }, v.step || "Working"));
      if (v.backup) parts.push(el("p", { class: "muted" }, "Backup: " + v.backup));
      if (v.read > 0 || v.size) {
        const read = el("div", { class: "lane" },
          el("div", { class: "row" }, el("b", {}, "Read from Home Assistant"), el("span", { class: "muted" }, v.read_text)));
        if (v.percent !== null) read.append(el("progress", { max: "100", value: String(v.percent), "aria-label": "Read " + v.percent + "%" }));
        parts.push(read);
      }
      for (const d of v.destinations) {
        const facts = [d.state_text, d.bytes_text, d.rate_text, d.eta_text].filter(Boolean).join(" · ");
        const lane = el("div", { class: "lane", "data-destination": d.name, "data-state": d.state },
          el("div", { class: "row" }, el("b", {}, d.name), el("span", { class: d.state === "failed" ? "bad-text" : "muted" }, facts)));
        if (d.percent !== null) lane.append(el("progress", { max: "100", value: String(d.percent), "aria-label": d.name + " " + d.percent + "%" }));
        parts.push(lane);
      }
    } else if (v.last) {
      const done = el("p", { class: "done", "data-outcome": v.last.outcome }, v.last.text + " ");
      if (v.last.run_id !== null) done.append(el("a", { href: prefix + "/runs/" + v.last.run_id }, "See run #" + v.last.run_id));
      parts.push(done);
    } else {
      parts.push(el("p", { class: "muted" }, "Nothing is running."));
    }
    if (v.timeline.length) {
      const list = el("ol", { class: "timeline" });
      for (const m of v.timeline.slice(-8)) {
        list.append(el("li", m.failed ? { class: "failed" } : {}, el("time", {}, m.at_text), " ",
          m.destination ? el("b", {}, m.destination + ": ") : null, m.what));
      }
      parts.push(list);
    }
    live.replaceChildren(...parts);
    if (button) button.disabled = v.running;
    if (wasRunning && !v.running) {
      // The cards above show what the finished run changed once the page is read afresh; the
      // "done" line stays in view until then.
      setTimeout(() => { window.location.replace(prefix + "/?done=" + (v.last && v.last.run_id || "")); }, 2500);
    }
    wasRunning = v.running;
  }

  function poll() {
    if (polling) return;
    polling = setInterval(() => {
      fetch(prefix + "/api/progress", { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .then((v) => v && draw(v))
        .catch(() => {});
    }, 2000);
  }

  if (window.EventSource) {
    const source = new EventSource(prefix + "/api/live");
    source.addEventListener("progress", (e) => {
      try { draw(JSON.parse(e.data)); } catch (_) { /* a torn message: the next one redraws */ }
    });
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) poll(); };
  } else {
    poll();
  }
})();
(function () {
  // Destination forms: a provider fills the empty fields at once, and Test answers without
  // leaving the page, so what was typed (secrets too) stays in the form. Without the script the
  // server does both, and asks for secrets again.
  const form = document.getElementById("dest-form");
  if (!form) return;
  const preset = document.getElementById("f-preset");
  if (preset) {
    preset.addEventListener("change", () => {
      const o = preset.selectedOptions[0];
      if (!o || !o.value) return;
      const field = (name) => document.getElementById("f-" + name);
      const fill = (name, v) => {
        const i = field(name);
        if (i && v && !i.value) i.value = v;
      };
      fill("region", o.dataset.region);
      const region = field("region");
      fill("endpoint", (o.dataset.endpoint || "").replace("<region>", region && region.value ? region.value : "<region>"));
      fill("path_style", o.dataset.pathStyle);
      const note = document.getElementById("preset-note");
      if (note) note.textContent = o.dataset.note;
    });
  }
  const result = document.getElementById("test-result");
  form.addEventListener("submit", (e) => {
    const b = e.submitter;
    if (!b || !("test" in b.dataset) || !result) return;
    e.preventDefault();
    if (b.name === "trust_key") {
      const key = document.getElementById("f-host_key");
      if (key) key.value = b.value;
    }
    const body = new URLSearchParams(new FormData(form, b));
    const busy = document.createElement("p");
    busy.className = "card muted";
    busy.textContent = "Testing…";
    result.replaceChildren(busy);
    result.setAttribute("aria-busy", "true");
    fetch(b.formAction, { method: "POST", body, credentials: "same-origin" })
      .then((r) => r.text())
      .then((html) => {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const got = doc.getElementById("test-result");
        result.replaceChildren(...(got ? got.childNodes : []));
        for (const p of form.querySelectorAll(".field-problem")) {
          const q = doc.getElementById(p.id);
          p.textContent = q ? q.textContent : "";
        }
      })
      .catch(() => {
        result.textContent = "The test could not reach Lifeboat. Try again.";
      })
      .finally(() => result.removeAttribute("aria-busy"));
  });
})();
