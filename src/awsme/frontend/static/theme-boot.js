// Runs before the first paint (not a module, not deferred): the theme this browser
// chose with the toggle, so that a dark room never sees a white flash. Everything
// else about the theme is in js/theme.js.
"use strict";
try {
  const chosen = window.localStorage.getItem("awsme.theme");
  if (chosen === "dark" || chosen === "light") document.documentElement.dataset.theme = chosen;
} catch {
  // storage disabled: the system's preference applies
}
