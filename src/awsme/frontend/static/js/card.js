// The card comes from the server only: GET /card answers the parts that changed,
// each with the id of the element it replaces. This module fetches and swaps them
// in; it draws nothing itself.

function answerIn(root) {
  const answered = root.querySelector("#answered");
  if (!answered || !answered.dataset.replicaKey) return null;
  const data = answered.dataset;
  return { key: data.replicaKey, label: data.replicaLabel, version: data.replicaVersion };
}

// The answer shown on the page now: {key, label, version}, or null when it failed.
export function currentAnswer() {
  return answerIn(document);
}

// GET /card: {doc, answer} whatever the status (a 503 is a card that says why), or
// {doc: null, problem} when no card came back.
export async function fetchCard(prefix, fresh, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(`${prefix}/card${fresh ? "?fresh=1" : ""}`, {
      headers: { Accept: "text/html" },
      cache: "no-store",
      signal: controller.signal,
    });
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    if (!doc.getElementById("status-line")) {
      return { doc: null, answer: null, problem: `the frontend answered ${response.status} without a card` };
    }
    return { doc, answer: answerIn(doc) };
  } catch (error) {
    const late = error && error.name === "AbortError";
    const problem = late ? "the frontend did not answer in time" : "the frontend could not be reached";
    return { doc: null, answer: null, problem };
  } finally {
    clearTimeout(timer);
  }
}

// Put each part of the fragment in place of the element with its id. Focus stays
// where it was: on the same note's button, or on the same control.
export function swapIn(doc) {
  const active = document.activeElement;
  const noteItem = active && active.closest ? active.closest("li[data-note-id]") : null;
  const activeId = active && active.id;
  for (const fresh of Array.from(doc.body.children)) {
    const old = fresh.id && document.getElementById(fresh.id);
    if (!old || old.isEqualNode(fresh)) continue;
    old.replaceWith(document.adoptNode(fresh));
  }
  if (active && !active.isConnected) {
    const again = noteItem
      ? document.querySelector(`li[data-note-id="${CSS.escape(noteItem.dataset.noteId)}"] button`)
      : activeId && document.getElementById(activeId);
    if (again && !again.disabled) again.focus();
  }
}

// No card came back at all (the frontend itself is away): say so in the status line.
export function showUnreachable(problem) {
  const line = document.getElementById("status-line");
  line.classList.remove("is-ok", "is-warning");
  line.classList.add("is-failed");
  document.getElementById("page-status").textContent = "—";
  document.getElementById("status-message").textContent = problem;
  const answered = document.getElementById("answered");
  answered.classList.add("is-failed");
  delete answered.dataset.replicaKey;
  document.getElementById("replica-key").textContent = "no answer";
}
