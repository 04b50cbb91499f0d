// The theme: the system's choice until the toggle says otherwise, then remembered.

import { local } from "./storage.js";

const KEY = "awsme.theme";
const root = document.documentElement;
const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

function chosen() {
  const value = local && local.getItem(KEY);
  return value === "dark" || value === "light" ? value : null;
}

function apply(theme) {
  root.dataset.theme = theme;
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  const dark = theme === "dark";
  button.setAttribute("aria-pressed", String(dark));
  button.title = dark ? "Switch to light mode" : "Switch to dark mode";
}

export function setupTheme() {
  const system = () => (darkQuery.matches ? "dark" : "light");
  apply(chosen() || system());
  darkQuery.addEventListener("change", () => {
    if (!chosen()) apply(system());
  });
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  button.addEventListener("click", () => {
    const next = root.dataset.theme === "dark" ? "light" : "dark";
    if (local) local.setItem(KEY, next);
    apply(next);
  });
}
