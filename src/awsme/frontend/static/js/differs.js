// "Differs between replicas": every value this tab has seen for each row, so that the
// rows that change from one replica to the next stay marked (legend beside the rows).

import { readJSON, session, writeJSON } from "./storage.js";

const KEEP = 12; // values remembered per row

export function createDiffers(storageKey) {
  let seen = readJSON(session, storageKey) || {};

  const cells = () => document.querySelectorAll("#facts dd[data-row], #more-rows dd[data-row]");

  function mark() {
    for (const dd of cells()) {
      const values = seen[dd.dataset.row] || [];
      dd.classList.toggle("differs", values.length > 1);
    }
  }

  // The card on the page is one answer: add its values, then mark.
  function observe() {
    for (const dd of cells()) {
      if (dd.classList.contains("is-missing")) continue;
      const values = seen[dd.dataset.row] || [];
      const value = dd.textContent.trim();
      if (!values.includes(value)) {
        values.push(value);
        if (values.length > KEEP) values.shift();
      }
      seen[dd.dataset.row] = values;
    }
    writeJSON(session, storageKey, seen);
    mark();
  }

  function reset() {
    seen = {};
    writeJSON(session, storageKey, seen);
    mark();
  }

  return { observe, reset };
}
