// Auto-refresh: ask for the card every -refresh-interval while the switch is on and
// the tab is visible; remembered for this tab.

import { session } from "./storage.js";

export function setupPolling({ live, toggle, askOnce, intervalMs, storageKey, ask }) {
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
    await ask();
    if (polling) schedule(intervalMs);
  }

  function setPolling(on) {
    polling = on;
    toggle.checked = on;
    live.classList.toggle("is-polling", on);
    if (session) session.setItem(storageKey, on ? "on" : "off");
    if (on) schedule(0);
    else clearTimeout(timer);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && polling && waitingForVisible) {
      waitingForVisible = false;
      schedule(0);
    }
  });
  toggle.addEventListener("change", () => setPolling(toggle.checked));
  askOnce.addEventListener("click", async () => {
    askOnce.disabled = true;
    try {
      await ask();
    } finally {
      askOnce.disabled = false;
    }
  });
  if (session && session.getItem(storageKey) === "on") setPolling(true);
}
