// awsme card page: the theme, notes without reloading, and the live chart of which
// replica answered. Plain ES2020, no framework, no build step.
//
// Everything that comes from the backend is put on the page with textContent and DOM
// calls, never as HTML: a note is text, whatever it contains. The page's CSP forbids
// inline script and style, so data arrives through data-* attributes on <body> and
// widths are set through the CSSOM.
"use strict";

(() => {
  const root = document.documentElement;
  const THEME_KEY = "awsme.theme";
  const darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  const storage = (kind) => {
    try {
      const store = window[kind];
      const probe = "awsme.probe";
      store.setItem(probe, probe);
      store.removeItem(probe);
      return store;
    } catch {
      return null; // private mode or storage disabled: everything still works, unremembered
    }
  };
  const local = storage("localStorage");
  const session = storage("sessionStorage");

  // Theme: applied before the first paint (this script is not deferred).
  const chosenTheme = () => {
    const value = local && local.getItem(THEME_KEY);
    return value === "dark" || value === "light" ? value : null;
  };
  const systemTheme = () => (darkQuery && darkQuery.matches ? "dark" : "light");
  const applyTheme = (theme) => {
    root.dataset.theme = theme;
    const button = document.getElementById("theme-toggle");
    if (button) {
      const dark = theme === "dark";
      button.setAttribute("aria-pressed", String(dark));
      button.title = dark ? "Switch to light mode" : "Switch to dark mode";
    }
  };
  applyTheme(chosenTheme() || systemTheme());
  if (darkQuery) {
    darkQuery.addEventListener("change", () => {
      if (!chosenTheme()) applyTheme(systemTheme());
    });
  }

  const $ = (id) => document.getElementById(id);

  function setupThemeToggle() {
    const button = $("theme-toggle");
    if (!button) return;
    applyTheme(root.dataset.theme);
    button.addEventListener("click", () => {
      const next = root.dataset.theme === "dark" ? "light" : "dark";
      if (local) local.setItem(THEME_KEY, next);
      applyTheme(next);
    });
  }

  // Restart a CSS animation on an element (a flash on a changed value, a pulse).
  function replay(element, className) {
    element.classList.remove(className);
    void element.offsetWidth; // reflow, so that adding the class starts the animation again
    element.classList.add(className);
  }

  // What a refusal says: "Error: note is empty\n" -> "note is empty"; JSON {"error": ...} too.
  function reason(body, response) {
    let text = (body || "").trim();
    if (text.startsWith("{")) {
      try {
        const parsed = JSON.parse(text);
        text = String(parsed.error || parsed.detail || parsed.message || text);
      } catch {
        // not JSON after all: show it as it is
      }
    }
    text = text.replace(/^error:\s*/i, "");
    if (text.length > 300) text = `${text.slice(0, 300)}…`;
    return text || response.statusText || "refused";
  }

  function start() {
    setupThemeToggle();
    const body = document.body;
    const chartList = $("replica-chart");
    if (!chartList) return; // the small message page: only the theme

    const prefix = body.dataset.prefix || "";
    const refreshMs = Math.max(200, Number(body.dataset.refreshMs) || 2000);
    const chartKey = `awsme.chart:${prefix || "/"}`;
    const autoKey = `awsme.auto:${prefix || "/"}`;
    const RECENT = 48;
    const COLOURS = 8;

    const el = {
      alerts: $("alerts"),
      live: $("live"),
      auto: $("auto-refresh"),
      total: $("live-total"),
      replicas: $("live-replicas"),
      errors: $("live-errors"),
      chartEmpty: $("chart-empty"),
      timeline: $("replica-timeline"),
      refreshNow: $("refresh-now"),
      reset: $("reset-chart"),
      replicaKey: $("replica-key"),
      replicaVersion: $("replica-version"),
      pageStatus: $("page-status"),
      notes: $("notes"),
      notesCount: $("notes-count"),
      notesEmpty: $("notes-empty"),
      noteForm: $("note-form"),
      noteInput: $("note-input"),
      addNote: $("add-note"),
      noteMessage: $("note-message"),
      noteTemplate: $("note-template"),
      alertTemplate: $("alert-template"),
    };
    const sections = ["backend", "proxy"].map((id) => $(id));

    // ---- The chart: answers per replica, kept for this tab across reloads ----

    const emptyChart = () => ({ order: [], replicas: {}, errors: 0, recent: [], current: null });
    let chart = emptyChart();
    try {
      const saved = session && JSON.parse(session.getItem(chartKey) || "null");
      if (saved && Array.isArray(saved.order) && saved.replicas) chart = { ...chart, ...saved };
    } catch {
      chart = emptyChart();
    }
    const saveChart = () => {
      if (session) session.setItem(chartKey, JSON.stringify(chart));
    };
    const bars = new Map(); // replica key -> its <li>

    function colourOf(key) {
      const index = chart.order.indexOf(key);
      return `c${(index < 0 ? 0 : index) % COLOURS}`;
    }

    function record(replica) {
      if (replica && replica.key) {
        const key = String(replica.key);
        if (!chart.replicas[key]) {
          chart.replicas[key] = { count: 0, version: null };
          chart.order.push(key);
        }
        chart.replicas[key].count += 1;
        chart.replicas[key].version = replica.version || null;
        chart.current = key;
      } else {
        chart.errors += 1;
        chart.current = null;
      }
      chart.recent.push(replica && replica.key ? String(replica.key) : null);
      if (chart.recent.length > RECENT) chart.recent.splice(0, chart.recent.length - RECENT);
      saveChart();
      renderChart(true);
      addTick(chart.recent[chart.recent.length - 1]);
    }

    // "1 answer", "2 answers": the unit after the number follows it.
    function count(strong, n) {
      strong.textContent = String(n);
      const unit = strong.nextElementSibling;
      if (unit && unit.dataset.one) unit.textContent = n === 1 ? unit.dataset.one : unit.dataset.many;
    }

    function makeBar(key) {
      const li = document.createElement("li");
      li.className = "bar";
      li.dataset.replica = key;
      const label = document.createElement("span");
      label.className = "bar-label";
      const dot = document.createElement("span");
      dot.className = "bar-dot";
      dot.setAttribute("aria-hidden", "true");
      const name = document.createElement("span");
      name.className = "bar-key";
      name.textContent = key;
      name.title = key;
      const version = document.createElement("span");
      version.className = "bar-version";
      const now = document.createElement("span");
      now.className = "bar-now";
      now.textContent = "now";
      label.append(dot, name, version, now);
      const value = document.createElement("span");
      value.className = "bar-value";
      const track = document.createElement("span");
      track.className = "bar-track";
      track.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.className = "bar-fill";
      track.append(fill);
      li.append(label, value, track);
      return li;
    }

    function renderChart(animate) {
      const total = chart.order.reduce((sum, key) => sum + chart.replicas[key].count, 0);
      count(el.total, total + chart.errors);
      count(el.replicas, chart.order.length);
      el.errors.textContent = String(chart.errors);
      el.chartEmpty.hidden = chart.order.length > 0;
      for (const [key, li] of bars) {
        if (!chart.replicas[key]) {
          li.remove();
          bars.delete(key);
        }
      }
      chart.order.forEach((key) => {
        const { count, version } = chart.replicas[key];
        let li = bars.get(key);
        const created = !li;
        if (created) {
          li = makeBar(key);
          bars.set(key, li);
        }
        if (li.parentNode !== chartList || chartList.lastElementChild !== li) chartList.append(li);
        li.className = `bar ${colourOf(key)}`;
        li.dataset.count = String(count);
        const share = total ? (100 * count) / total : 0;
        const versionEl = li.querySelector(".bar-version");
        versionEl.textContent = version || "no version";
        versionEl.hidden = false;
        const value = li.querySelector(".bar-value");
        const strong = document.createElement("strong");
        strong.textContent = String(count);
        value.replaceChildren(strong, ` · ${Math.round(share)}%`);
        li.setAttribute(
          "aria-label",
          `${key}, version ${version || "unknown"}: ${count} of ${total} answers`,
        );
        const fill = li.querySelector(".bar-fill");
        // A new replica's bar grows in from zero: lay it out at zero first.
        if (created && animate) void fill.offsetWidth;
        fill.style.width = `${share}%`;
        const current = key === chart.current;
        li.classList.toggle("is-current", current);
        if (current && animate) replay(li, "is-current");
      });
    }

    function makeTick(key, restored) {
      const tick = document.createElement("li");
      tick.className = key === null ? "tick is-error" : `tick ${colourOf(key)}`;
      tick.title = key === null ? "no answer" : key;
      if (restored) tick.style.animation = "none";
      return tick;
    }

    function addTick(key) {
      el.timeline.append(makeTick(key, false));
      while (el.timeline.children.length > RECENT) el.timeline.firstElementChild.remove();
    }

    function renderTimeline() {
      el.timeline.replaceChildren(...chart.recent.map((key) => makeTick(key, true)));
    }

    // ---- The card: rows, alerts, banner, notes ----

    function shownValue(dd) {
      if (dd.classList.contains("is-missing")) return null;
      return dd.textContent;
    }

    function setValue(dd, key, value) {
      dd.classList.toggle("is-missing", value === null);
      if (value === null) {
        const missing = document.createElement("span");
        missing.className = "missing";
        missing.title = "Not reported by this backend";
        missing.textContent = "—";
        dd.replaceChildren(missing);
      } else if (key === "request") {
        const pre = document.createElement("pre");
        pre.textContent = value.trimEnd();
        dd.replaceChildren(pre);
      } else {
        dd.textContent = value;
      }
    }

    function renderRows(dl, rows) {
      const existing = new Map();
      dl.querySelectorAll("dd[data-row]").forEach((dd) => existing.set(dd.dataset.row, dd));
      const keep = new Set();
      for (const row of rows || []) {
        const key = String(row.key);
        const value = row.value === null || row.value === undefined ? null : String(row.value);
        let dd = existing.get(key);
        if (!dd) {
          const line = document.createElement("div");
          line.className = "row";
          const dt = document.createElement("dt");
          dt.textContent = row.label;
          dd = document.createElement("dd");
          dd.dataset.row = key;
          line.append(dt, dd);
          dl.append(line);
          setValue(dd, key, value);
        } else {
          // The HTML parser turns CR LF into LF: compare what the page can show.
          const normal = value === null ? null : value.replace(/\r\n?/g, "\n");
          const onPage = shownValue(dd);
          const same =
            key === "request" ? onPage === (normal && normal.trimEnd()) : onPage === normal;
          if (!same) {
            setValue(dd, key, value);
            // The raw request differs on every call (its request id): no flash for it.
            if (key !== "request") replay(dd, "changed");
          }
        }
        keep.add(key);
      }
      existing.forEach((dd, key) => {
        if (!keep.has(key)) dd.parentElement.remove();
      });
    }

    let alertsSignature = null;
    function renderAlerts(card) {
      const alerts = [];
      if (!card.ok) {
        const status = card.status ? `${card.status} — ` : "";
        alerts.push(["alert-error", "problem", `${status}the backend did not answer.`, card.problem]);
      }
      for (const notice of card.notices || []) {
        alerts.push(["alert-notice", "notice", "Heads up", notice]);
      }
      if (card.ok && card.backend_error) {
        alerts.push(["alert-warning", "backend-error", "The backend reports a problem", card.backend_error]);
      }
      const signature = JSON.stringify(alerts);
      if (signature === alertsSignature) return;
      alertsSignature = signature;
      el.alerts.replaceChildren(
        ...alerts.map(([kind, name, title, text]) => {
          const node = el.alertTemplate.content.firstElementChild.cloneNode(true);
          node.classList.add(kind);
          node.dataset.alert = name;
          if (kind !== "alert-warning") node.setAttribute("role", "alert");
          node.querySelector("strong").textContent = title;
          node.querySelector("p").textContent = text || "No reason given.";
          return node;
        }),
      );
    }

    function renderBanner(replica) {
      const key = replica && replica.key ? String(replica.key) : "no backend";
      const version = replica && replica.version ? String(replica.version) : "";
      if (el.replicaKey.textContent !== key) el.replicaKey.textContent = key;
      replay(el.replicaKey, "pulse");
      const label = document.createElement("span");
      label.className = "visually-hidden";
      label.textContent = "version ";
      el.replicaVersion.replaceChildren(label, version);
      el.replicaVersion.hidden = !version;
      document.title = `awsme · ${replica && replica.key ? key : "no answer"}`;
    }

    let notesSignature = null;
    let knownNoteIds = null;
    function renderNotes(notes, highlightNew) {
      const signature = JSON.stringify(notes);
      if (signature === notesSignature) return;
      notesSignature = signature;
      const focusedId =
        el.notes.contains(document.activeElement) && document.activeElement.closest("li")
          ? document.activeElement.closest("li").dataset.noteId
          : undefined;
      const items = notes.map((note) => {
        const li = el.noteTemplate.content.firstElementChild.cloneNode(true);
        const text = String(note.text);
        li.querySelector(".note-text").textContent = text;
        const form = li.querySelector("form");
        if (note.id === null || note.id === undefined) {
          form.remove(); // a Go backend's note: no id, so no delete
        } else {
          const id = String(note.id);
          li.dataset.noteId = id;
          form.action = `${prefix}/notes/${encodeURIComponent(id)}/delete`;
          const short = text.length > 40 ? `${text.slice(0, 40)}…` : text;
          li.querySelector(".visually-hidden").textContent = `Delete note: ${short}`;
          if (highlightNew && knownNoteIds && !knownNoteIds.has(id)) li.classList.add("is-fresh");
        }
        return li;
      });
      el.notes.replaceChildren(...items);
      knownNoteIds = new Set(items.map((li) => li.dataset.noteId).filter(Boolean));
      el.notesCount.textContent = String(notes.length);
      el.notesEmpty.hidden = notes.length > 0;
      if (focusedId !== undefined) {
        const again = el.notes.querySelector(`li[data-note-id="${CSS.escape(focusedId)}"] button`);
        (again || el.noteInput).focus();
      }
    }

    // The notes as the server rendered them, so that the first refresh changes nothing.
    knownNoteIds = new Set(
      Array.from(el.notes.querySelectorAll("li[data-note-id]"), (li) => li.dataset.noteId),
    );

    function applyCard(card, highlightNew) {
      el.pageStatus.textContent = String(card.status || "—");
      renderAlerts(card);
      for (const section of sections) {
        section.classList.toggle("is-stale", !card.ok);
      }
      if (!card.ok) return; // keep the last answer on screen, dimmed, under the alert
      for (const section of sections) {
        section.querySelectorAll("[data-when-ok]").forEach((node) => (node.hidden = false));
        section.querySelectorAll("[data-when-failed]").forEach((node) => (node.hidden = true));
      }
      renderRows($("backend-rows"), card.backend_rows);
      const details = $("detail-rows");
      renderRows(details, card.detail_rows);
      details.toggleAttribute(
        "data-all-missing",
        (card.detail_rows || []).every((row) => row.value === null || row.value === undefined),
      );
      renderRows($("proxy-rows"), card.proxy_rows);
      renderBanner(card.replica);
      renderNotes(card.notes || [], highlightNew);
    }

    // fresh: right after a change, ask the backend for notes it has not cached, so
    // that whichever replica answers shows the change (see -notes-cache).
    async function fetchCard(fresh = false) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), Math.max(10000, refreshMs * 5));
      try {
        const response = await fetch(`${prefix}/api/card${fresh ? "?fresh=1" : ""}`, {
          headers: { Accept: "application/json" },
          cache: "no-store",
          signal: controller.signal,
        });
        let card = null;
        try {
          card = await response.json();
        } catch {
          card = null;
        }
        if (!card || typeof card !== "object" || typeof card.ok !== "boolean") {
          card = { ok: false, problem: `the frontend answered ${response.status} without a card` };
        }
        if (!card.status) card.status = response.status;
        return card;
      } catch (error) {
        const problem =
          error && error.name === "AbortError"
            ? "the frontend did not answer in time"
            : "the frontend could not be reached";
        return { ok: false, problem, status: 0 };
      } finally {
        clearTimeout(timer);
      }
    }

    // Answers can overlap (a click during polling): count every one, show the newest.
    let asked = 0;
    let shown = 0;
    async function refresh(highlightNew = false, fresh = false) {
      const ticket = ++asked;
      const card = await fetchCard(fresh);
      record(card.ok ? card.replica || { key: "unknown", version: null } : null);
      if (ticket > shown) {
        shown = ticket;
        applyCard(card, highlightNew);
      }
      return card;
    }

    // ---- Auto-refresh ----

    let timer = null;
    let polling = false;
    let waitingForVisible = false;

    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(poll, delay);
    }

    async function poll() {
      if (!polling) return;
      if (document.hidden) {
        waitingForVisible = true; // no polling from a background tab
        return;
      }
      await refresh();
      if (polling) schedule(refreshMs);
    }

    function setPolling(on) {
      polling = on;
      el.auto.checked = on;
      el.live.classList.toggle("is-polling", on);
      if (session) session.setItem(autoKey, on ? "on" : "off");
      if (on) schedule(0);
      else clearTimeout(timer);
    }

    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && polling && waitingForVisible) {
        waitingForVisible = false;
        schedule(0);
      }
    });

    el.auto.addEventListener("change", () => setPolling(el.auto.checked));
    el.refreshNow.addEventListener("click", async () => {
      el.refreshNow.disabled = true;
      try {
        await refresh();
      } finally {
        el.refreshNow.disabled = false;
      }
    });
    el.reset.addEventListener("click", () => {
      chart = emptyChart();
      saveChart();
      renderChart(false);
      renderTimeline();
    });

    // ---- Notes ----

    function say(text, kind) {
      el.noteMessage.textContent = text;
      el.noteMessage.classList.toggle("is-error", kind === "error");
      el.noteMessage.classList.toggle("is-ok", kind === "ok");
    }

    el.noteForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = el.noteInput.value;
      el.addNote.disabled = true;
      el.noteForm.setAttribute("aria-busy", "true");
      say("Saving…", null);
      try {
        const response = await fetch(`${prefix}/add-note`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "text/plain, application/json" },
          body: JSON.stringify({ Note: text }),
        });
        const answer = await response.text();
        if (response.ok) {
          el.noteInput.value = "";
          say("Note added.", "ok");
          await refresh(true, true);
        } else {
          say(`${response.status} — ${reason(answer, response)}`, "error");
        }
      } catch {
        say("The frontend could not be reached: the note was not sent.", "error");
      } finally {
        el.addNote.disabled = false;
        el.noteForm.removeAttribute("aria-busy");
        el.noteInput.focus();
      }
    });

    el.notes.addEventListener("submit", async (event) => {
      const form = event.target.closest("form.note-delete");
      const li = form && form.closest("li[data-note-id]");
      if (!li) return;
      event.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      li.classList.add("is-leaving");
      try {
        const response = await fetch(
          `${prefix}/api/notes/${encodeURIComponent(li.dataset.noteId)}`,
          { method: "DELETE", headers: { Accept: "application/json" } },
        );
        if (response.ok) {
          say("Note deleted.", "ok");
        } else if (response.status === 404) {
          say("404 — that note was already gone.", "error");
        } else {
          say(`${response.status} — ${reason(await response.text(), response)}`, "error");
        }
        await refresh(false, true);
      } catch {
        say("The frontend could not be reached: the note was not deleted.", "error");
      } finally {
        if (li.isConnected) {
          button.disabled = false;
          li.classList.remove("is-leaving");
        }
      }
    });

    // ---- Start: this page load was an answer too ----

    const first = body.dataset.replicaKey;
    renderTimeline();
    record(first ? { key: first, version: body.dataset.replicaVersion || null } : null);
    if (session && session.getItem(autoKey) === "on") setPolling(true);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
