// Shared helpers of the dashboard pages (plain ES modules, no build step).

export const ROOT = document.body.dataset.root || "";

// With API keys, a read-only key rides in the page URL (?access_token=...): an
// EventSource cannot send an Authorization header. It is passed on to every request.
const ACCESS_TOKEN = new URLSearchParams(window.location.search).get("access_token");

/** ``path`` with the page's access token appended, if it has one. */
export function withToken(path) {
  if (!ACCESS_TOKEN) return path;
  const separator = path.includes("?") ? "&" : "?";
  return `${path}${separator}access_token=${encodeURIComponent(ACCESS_TOKEN)}`;
}

// 20 distinguishable colours (Tableau 10 and its light variants), reused beyond 20 arms.
const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
  "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
];

export function armColor(index) {
  return PALETTE[index % PALETTE.length];
}

/** GET a JSON document of this service; throws an Error carrying the API's message. */
export async function getJSON(path) {
  const response = await fetch(ROOT + withToken(path), { headers: { Accept: "application/json" } });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error) message = body.error.message;
    } catch (_) {
      // not JSON: keep the status line
    }
    throw new Error(`${path}: ${message}`);
  }
  return response.json();
}

/** A number as the tables and legends show it: 4 decimals, a dash for none. */
export function formatNumber(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "\u2013";
  return Number(value).toFixed(digits);
}

export function formatCount(value) {
  return value === null || value === undefined ? "\u2013" : Number(value).toLocaleString("en-US");
}

/** "12 s ago" style text for an ISO time (the exact time goes in the element's title). */
export function formatAgo(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h ago`;
  return new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function strategyText(strategy) {
  const { name, ...options } = strategy;
  const parts = Object.entries(options)
    .filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`);
  return parts.length ? `${name} (${parts.join(", ")})` : name;
}

/** A table cell with text content (never HTML: run and arm names are user input). */
export function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

export function showError(error) {
  const box = document.getElementById("error");
  if (!box) return;
  if (error) {
    box.textContent = String(error.message || error);
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

/**
 * Wrap an async refresh so that calls while one runs coalesce into one more run, spaced by
 * at least `gapMs`: a trainer reporting many times a second costs a few requests a second.
 */
export function coalesce(refresh, gapMs) {
  let running = false;
  let again = false;
  return async function trigger() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await refresh();
        if (again) await new Promise((resolve) => setTimeout(resolve, gapMs));
      } while (again);
      showError(null);
    } catch (error) {
      showError(error);
    } finally {
      running = false;
    }
  };
}
