// The run list: refreshed every few seconds while the tab is visible.
import {
  ROOT, cell, coalesce, formatAgo, formatCount, getJSON, strategyText, withToken,
} from "./common.js";

const REFRESH_MS = 5000;

function render(runs) {
  const body = document.querySelector("#runs tbody");
  const rows = runs.map((run) => {
    const tr = document.createElement("tr");
    tr.dataset.runId = run.run_id;
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = ROOT + withToken(`/dashboard/runs/${encodeURIComponent(run.run_id)}`);
    link.textContent = run.name;
    name.append(link);
    const last = cell(formatAgo(run.last_report_at));
    last.title = run.last_report_at || "no report yet";
    const arms = cell(`${run.arms.length}: ${run.arms.map((a) => a.name).join(", ")}`, "arms-list");
    arms.title = run.arms.map((a) => a.name).join("\n");
    tr.append(
      name,
      cell(strategyText(run.strategy)),
      cell(formatCount(run.step), "num step"),
      cell(formatCount(run.samples), "num"),
      last,
      arms,
    );
    return tr;
  });
  body.replaceChildren(...rows);
  document.getElementById("empty").hidden = runs.length > 0;
  document.getElementById("runs").hidden = runs.length === 0;
  document.body.dataset.ready = "true";
}

const refresh = coalesce(async () => {
  const { runs } = await getJSON("/dashboard/api/runs");
  render(runs);
}, 500);

refresh();
setInterval(() => {
  if (document.visibilityState === "visible") refresh();
}, REFRESH_MS);
