// The chart: how many answers each replica gave in this tab, and the latest ones.
// The only state the card keeps in the browser (sessionStorage, per tab and prefix).
// Replica names arrive already shortened by the server (data-replica-label); each
// replica keeps one colour, given in order of first answer. A replica that stops
// answering stays in its row, greyed, with when it was last seen.

import { readJSON, session, writeJSON } from "./storage.js";

const RECENT = 48; // ticks in the latest-answers strip
const COLOURS = 8; // --c0 … --c7 in app.css

function emptyState() {
  return { order: [], replicas: {}, failed: 0, recent: [], current: null, seq: 0 };
}

function ago(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

function span(className, text = "") {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

function makeBar(key) {
  const li = document.createElement("li");
  li.className = "bar";
  li.dataset.replica = key;
  const label = span("bar-label");
  const dot = span("bar-dot");
  dot.setAttribute("aria-hidden", "true");
  label.append(dot, span("bar-key"), span("bar-version"), span("bar-now", "now"));
  const track = span("bar-track");
  track.setAttribute("aria-hidden", "true");
  track.append(span("bar-fill"));
  li.append(label, track, span("bar-value"), span("bar-state"));
  return li;
}

function showValue(element, count, total) {
  const strong = document.createElement("strong");
  strong.textContent = String(count);
  const share = total ? Math.round((100 * count) / total) : 0;
  element.replaceChildren(strong, ` · ${share}%`);
}

// "1 answer", "2 answers": the unit after the number follows it.
function showCount(strong, n) {
  strong.textContent = String(n);
  const unit = strong.nextElementSibling;
  if (unit && unit.dataset.one) unit.textContent = n === 1 ? unit.dataset.one : unit.dataset.many;
}

export function createChart(elements, storageKey) {
  const { list, failedBar, empty, timeline, total, replicas, errors } = elements;
  let state = { ...emptyState(), ...(readJSON(session, storageKey) || {}) };
  if (!Array.isArray(state.order) || typeof state.replicas !== "object") state = emptyState();
  const bars = new Map(); // replica key -> its <li>

  const colourOf = (key) => {
    const index = state.order.indexOf(key);
    return `c${(index < 0 ? 0 : index) % COLOURS}`;
  };

  // Gone: silent for three rounds of the replicas that answer now (at least 6 answers).
  const isGone = (key) => {
    const answering = new Set(state.recent.slice(-16).filter((k) => k !== null)).size;
    return state.seq - state.replicas[key].lastSeq > Math.max(6, 3 * answering);
  };

  function render(animate) {
    const answered = state.order.reduce((sum, key) => sum + state.replicas[key].count, 0);
    const all = answered + state.failed;
    showCount(total, all);
    showCount(replicas, state.order.length);
    errors.textContent = String(state.failed);
    empty.hidden = state.order.length > 0;
    for (const [key, li] of bars) {
      if (!state.replicas[key]) {
        li.remove();
        bars.delete(key);
      }
    }
    const now = Date.now();
    for (const key of state.order) {
      const replica = state.replicas[key];
      let li = bars.get(key);
      const created = !li;
      if (created) {
        li = makeBar(key);
        bars.set(key, li);
      }
      if (li.parentNode !== list || list.lastElementChild !== li) list.append(li);
      const current = key === state.current;
      const gone = !current && isGone(key);
      li.className = `bar ${colourOf(key)}`;
      li.classList.toggle("is-current", current);
      li.classList.toggle("is-gone", gone);
      li.dataset.count = String(replica.count);
      const name = li.querySelector(".bar-key");
      name.textContent = replica.label || key;
      name.title = key;
      li.querySelector(".bar-version").textContent = replica.version || "no version";
      const seen = gone ? `gone · last seen ${ago(now - replica.lastSeen)}` : "";
      li.querySelector(".bar-state").textContent = seen;
      showValue(li.querySelector(".bar-value"), replica.count, all);
      li.setAttribute(
        "aria-label",
        `${key}, version ${replica.version || "unknown"}: ${replica.count} of ${all} answers` +
          (gone ? `, not seen since ${ago(now - replica.lastSeen)}` : ""),
      );
      const fill = li.querySelector(".bar-fill");
      if (created && animate) void fill.offsetWidth; // a new bar grows in from zero
      fill.style.width = `${all ? (100 * replica.count) / all : 0}%`;
    }
    failedBar.dataset.count = String(state.failed);
    failedBar.classList.toggle("is-current", state.current === null && state.seq > 0);
    showValue(failedBar.querySelector(".bar-value"), state.failed, all);
    failedBar.querySelector(".bar-fill").style.width = `${all ? (100 * state.failed) / all : 0}%`;
  }

  function tick(key, restored) {
    const li = document.createElement("li");
    if (key === null) {
      li.className = "tick is-error";
      li.title = "no answer";
    } else {
      li.className = `tick ${colourOf(key)}`;
      li.title = (state.replicas[key] && state.replicas[key].label) || key;
    }
    if (restored) li.classList.add("is-restored");
    return li;
  }

  function renderTimeline() {
    timeline.replaceChildren(...state.recent.map((key) => tick(key, true)));
  }

  // One answer: {key, label, version}, or null for a failed call.
  function record(answer) {
    state.seq += 1;
    const key = answer ? answer.key : null;
    if (key !== null) {
      if (!state.replicas[key]) {
        state.replicas[key] = { count: 0 };
        state.order.push(key);
      }
      Object.assign(state.replicas[key], {
        count: state.replicas[key].count + 1,
        label: answer.label || key,
        version: answer.version || null,
        lastSeq: state.seq,
        lastSeen: Date.now(),
      });
    } else {
      state.failed += 1;
    }
    state.current = key;
    state.recent.push(key);
    if (state.recent.length > RECENT) state.recent.splice(0, state.recent.length - RECENT);
    writeJSON(session, storageKey, state);
    render(true);
    timeline.append(tick(key, false));
    while (timeline.children.length > RECENT) timeline.firstElementChild.remove();
  }

  function reset() {
    state = emptyState();
    writeJSON(session, storageKey, state);
    render(false);
    renderTimeline();
  }

  renderTimeline();
  render(false);
  return { record, reset, colourOf };
}
