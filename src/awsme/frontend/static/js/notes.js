// Adding and deleting notes without leaving the page (the forms also work without
// this script). After a change the card is asked for again, fresh from the database.

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

// An add that was sent but not confirmed (the frontend answered 503 "not confirmed",
// or the answer never came) keeps its Idempotency-Key: sending the same text again is
// the same add, which the backend stores at most once. A confirmed or refused add, or
// other text, gets a new key.
let pending = null; // { text, key }

function newKey() {
  // crypto.randomUUID needs a secure context; a workshop's plain-HTTP ALB is not one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function keyFor(text) {
  if (!pending || pending.text !== text) pending = { text, key: newKey() };
  return pending.key;
}

export function setupNotes({ prefix, card, form, input, message, refresh }) {
  function say(text, kind) {
    message.textContent = text;
    message.classList.toggle("is-error", kind === "error");
    message.classList.toggle("is-ok", kind === "ok");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = document.getElementById("add-note"); // the card may swap it
    if (button.disabled) return;
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    say("Saving…", null);
    try {
      const response = await fetch(`${prefix}/add-note`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "text/plain, application/json",
          "Idempotency-Key": keyFor(input.value),
        },
        body: JSON.stringify({ Note: input.value }),
      });
      const answer = await response.text();
      if (response.status < 500) pending = null; // a definite answer: stored or refused
      if (response.ok) {
        input.value = "";
        say("Note added.", "ok");
        await refresh(true);
      } else {
        say(`${response.status} — ${reason(answer, response)}`, "error");
      }
    } catch {
      // The request may have gone out before the answer was lost: the key is kept.
      say("No answer from the frontend: the note may have been saved. Sending the same text again is safe.", "error");
    } finally {
      if (button.isConnected) button.disabled = false;
      form.removeAttribute("aria-busy");
      input.focus();
    }
  });

  card.addEventListener("submit", async (event) => {
    const deleteForm = event.target.closest("form.note-delete");
    const item = deleteForm && deleteForm.closest("li[data-note-id]");
    if (!item) return;
    event.preventDefault();
    const button = deleteForm.querySelector("button");
    if (button.disabled) return;
    button.disabled = true;
    item.classList.add("is-leaving");
    try {
      const response = await fetch(`${prefix}/api/notes/${encodeURIComponent(item.dataset.noteId)}`, {
        method: "DELETE",
        headers: { Accept: "application/json" },
      });
      if (response.ok) say("Note deleted.", "ok");
      else if (response.status === 404) say("404 — that note was already gone.", "error");
      else say(`${response.status} — ${reason(await response.text(), response)}`, "error");
      await refresh(true);
    } catch {
      say("The frontend could not be reached: the note was not deleted.", "error");
    } finally {
      if (item.isConnected) {
        button.disabled = false;
        item.classList.remove("is-leaving");
      }
    }
  });
}
