// awsme card page: wires the modules together. Plain ES modules, no build step.
// The server draws the card (the page, and the fragment GET /card); this script keeps
// only what a browser must: the chart's counts, the theme, notes sent in place.

import { currentAnswer, fetchCard, showUnreachable, swapIn } from "./card.js";
import { createChart } from "./chart.js";
import { createDiffers } from "./differs.js";
import { setupChaos } from "./chaos.js";
import { setupNotes } from "./notes.js";
import { setupPolling } from "./poll.js";
import { setupTheme } from "./theme.js";

const $ = (id) => document.getElementById(id);

function startCard() {
  const body = document.body;
  const prefix = body.dataset.prefix || "";
  const refreshMs = Math.max(200, Number(body.dataset.refreshMs) || 1000);
  const scope = prefix || "/";
  const chart = createChart(
    {
      list: $("replica-chart"),
      failedBar: $("failed-bar"),
      empty: $("chart-empty"),
      timeline: $("replica-timeline"),
      total: $("live-total"),
      replicas: $("live-replicas"),
      errors: $("live-errors"),
    },
    `awsme.chart:${scope}`,
  );
  const differs = createDiffers(`awsme.differs:${scope}`);

  // The banner's swatch wears the colour of the replica's bar.
  function shown(answer) {
    body.dataset.answer = answer ? "ok" : "failed";
    const swatch = document.querySelector("#answered .swatch");
    if (swatch) swatch.className = answer ? `swatch ${chart.colourOf(answer.key)}` : "swatch";
    if (answer) {
      differs.observe();
      document.title = `awsme · ${answer.key}`;
    }
    document.dispatchEvent(new CustomEvent("awsme:answer", { detail: { ok: Boolean(answer) } }));
  }

  // Answers can overlap (a click during polling): count every one, show the newest.
  let asked = 0;
  let latest = 0;
  async function refresh(fresh = false) {
    const ticket = ++asked;
    const result = await fetchCard(prefix, fresh, Math.max(10000, refreshMs * 5));
    chart.record(result.answer);
    if (ticket < latest) return;
    latest = ticket;
    if (result.doc) swapIn(result.doc);
    else showUnreachable(result.problem);
    shown(result.answer);
  }

  setupPolling({
    live: $("live"),
    toggle: $("auto-refresh"),
    askOnce: $("refresh-now"),
    intervalMs: refreshMs,
    storageKey: `awsme.auto:${scope}`,
    ask: () => refresh(false),
  });
  $("reset-chart").addEventListener("click", () => {
    chart.reset();
    differs.reset();
  });
  setupNotes({
    prefix,
    card: $("notes-card"),
    form: $("note-form"),
    input: $("note-input"),
    message: $("note-message"),
    refresh,
  });

  setupChaos({ refresh });

  // This page load was an answer too.
  const first = currentAnswer();
  chart.record(first);
  shown(first);
}

setupTheme();
if ($("replica-chart")) startCard();
