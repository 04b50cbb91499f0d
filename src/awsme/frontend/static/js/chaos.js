// The chaos buttons: sent in place (the chart keeps its counts), then the card is
// redrawn from a fresh answer. Without this script the forms post and come back.

export function setupChaos({ refresh }) {
  // The panel is swapped in with every answer: listen on the document.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("chaos-form")) return;
    event.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    let problem = null;
    try {
      const answer = await fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(form)),
      });
      if (!answer.ok) {
        const body = await answer.json().catch(() => ({}));
        problem = body.error || `the switch failed (${answer.status})`;
      }
    } catch {
      problem = "the frontend did not answer";
    }
    await refresh(true);
    if (problem) {
      const where = document.querySelector("#chaos .chaos-where");
      if (where) {
        where.textContent = problem;
        where.classList.add("is-error");
      }
    }
  });
}
