// Web Storage that may be missing (private mode, disabled): null instead of throwing.

function probe(kind) {
  try {
    const store = window[kind];
    store.setItem("awsme.probe", "1");
    store.removeItem("awsme.probe");
    return store;
  } catch {
    return null;
  }
}

export const local = probe("localStorage");
export const session = probe("sessionStorage");

export function readJSON(store, key) {
  try {
    return store ? JSON.parse(store.getItem(key) || "null") : null;
  } catch {
    return null;
  }
}

export function writeJSON(store, key, value) {
  if (store) store.setItem(key, JSON.stringify(value));
}
