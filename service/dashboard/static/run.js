// One run: history charts (uPlot), the arms table, live updates over server-sent events.
import {
  ROOT, armColor, cell, coalesce, formatAgo, formatCount, formatNumber, getJSON, strategyText,
  withToken,
} from "./common.js";

const RUN_ID = document.body.dataset.runId;
const RUN_PATH = `/v1/runs/${encodeURIComponent(RUN_ID)}`;
// The server keeps every k-th step so that at most MAX_POINTS come back (plus the last one);
// live points are appended, and past KEEP_POINTS every other point is dropped again.
const MAX_POINTS = 500;
const KEEP_POINTS = 2 * MAX_POINTS;
const CHART_HEIGHT = 240;
// Events drive the page; this slow poll only covers a replica without a shared event bus.
const POLL_MS = 20000;

const state = {
  run: null,
  arms: [],
  difficulty: null,
  lastStep: 0,
  lastReportAt: null,
  data: null,
  charts: [],
};

// ---------------------------------------------------------------- history -> columns

function difficultyOf(arm) {
  const value = arm.tags ? arm.tags.difficulty : undefined;
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return NaN;
}

function emptyColumns(armCount) {
  const perArm = () => Array.from({ length: armCount }, () => []);
  return { steps: [], q: perArm(), p: perArm(), r: perArm(), o: perArm(), dExp: [], dRep: [] };
}

function appendPoints(points) {
  const d = state.data;
  const names = state.arms.map((a) => a.name);
  for (const point of points) {
    if (point.step <= state.lastStep && d.steps.length) continue;
    d.steps.push(point.step);
    names.forEach((name, a) => {
      d.q[a].push(point.q[name] ?? null);
      d.p[a].push(point.probabilities[name] ?? null);
      d.r[a].push(point.rewards[name] ?? null);
      d.o[a].push(point.outcome_rewards[name] ?? null);
    });
    if (state.difficulty) {
      let expected = 0;
      let weighted = 0;
      let count = 0;
      names.forEach((name, a) => {
        expected += (point.probabilities[name] ?? 0) * state.difficulty[a];
        const n = point.counts[name] ?? 0;
        weighted += n * state.difficulty[a];
        count += n;
      });
      d.dExp.push(expected);
      d.dRep.push(count ? weighted / count : null);
    }
    state.lastStep = point.step;
    state.lastReportAt = point.created_at;
  }
  if (d.steps.length > KEEP_POINTS) halveDensity(d);
}

function halveDensity(d) {
  const last = d.steps.length - 1;
  const keep = (_, i) => i % 2 === 0 || i === last;
  d.steps = d.steps.filter(keep);
  for (const key of ["q", "p", "r", "o"]) d[key] = d[key].map((column) => column.filter(keep));
  d.dExp = d.dExp.filter(keep);
  d.dRep = d.dRep.filter(keep);
}

function stacked(columns) {
  const sums = [];
  let running = columns.length ? columns[0].map(() => 0) : [];
  for (const column of columns) {
    running = running.map((total, i) => total + (column[i] ?? 0));
    sums.push(running);
  }
  return sums;
}

// ---------------------------------------------------------------- charts

// The legend shows the hovered step's values and, when not hovering, each series' newest
// value (an arm's reward only exists at the steps that reported it: its latest one).
function newest(column) {
  for (let i = column.length - 1; i >= 0; i--) if (column[i] != null) return column[i];
  return null;
}

function legendValue(u, v, si, di, digits = 4) {
  return formatNumber(di == null ? newest(u.data[si]) : v, digits);
}

function stepSeries() {
  return {
    label: "step",
    value: (u, v, si, di) => {
      const steps = u.data[0];
      const step = di == null ? steps[steps.length - 1] : v;
      return step == null ? "\u2013" : formatCount(step);
    },
  };
}

function armSeries(extra = {}) {
  return state.arms.map((arm, i) => ({
    label: arm.name,
    stroke: armColor(i),
    width: 1.5,
    spanGaps: true,
    value: legendValue,
    ...extra,
  }));
}

function baseOptions(container, series, yScale) {
  return {
    width: Math.max(200, container.clientWidth),
    height: CHART_HEIGHT,
    scales: { x: { time: false }, y: yScale || {} },
    axes: [{ label: "step", size: 40 }, { size: 56 }],
    cursor: { sync: { key: "zpd-run" } },
    legend: { live: true },
    series: [stepSeries(), ...series],
  };
}

const CHARTS = [
  {
    id: "chart-q",
    options: (el) => baseOptions(el, armSeries()),
    data: (d) => [d.steps, ...d.q],
  },
  {
    id: "chart-p",
    options: (el) => {
      const series = armSeries({ spanGaps: false }).map((s, i) => ({
        ...s,
        fill: armColor(i) + "b0",
        // the stacked line sits at the running total; hover shows the arm's own probability
        value: (u, v, si, di) => {
          const column = state.data.p[si - 1];
          return formatNumber(column[di == null ? column.length - 1 : di] ?? null);
        },
      }));
      const options = baseOptions(el, series, { range: [0, 1] });
      options.bands = series.slice(1).map((_, i) => ({ series: [i + 2, i + 1] }));
      return options;
    },
    data: (d) => [d.steps, ...stacked(d.p)],
  },
  {
    id: "chart-r",
    options: (el) => baseOptions(el, armSeries()),
    data: (d) => [d.steps, ...d.r],
  },
  {
    id: "chart-o",
    options: (el) => baseOptions(el, armSeries()),
    data: (d) => [d.steps, ...d.o],
  },
  {
    id: "chart-d",
    when: () => state.difficulty !== null,
    options: (el) => {
      const lo = Math.min(...state.difficulty);
      const hi = Math.max(...state.difficulty);
      const series = [
        { label: "expected under probabilities", stroke: "#1f4e79", width: 2 },
        { label: "problems reported", stroke: "#e07b00", width: 1, dash: [4, 3], spanGaps: true },
      ].map((s) => ({ ...s, value: (u, v, si, di) => legendValue(u, v, si, di, 3) }));
      return baseOptions(el, series, { range: [lo, hi > lo ? hi : lo + 1] });
    },
    data: (d) => [d.steps, d.dExp, d.dRep],
  },
];

function createCharts() {
  for (const spec of CHARTS) {
    const figure = document.getElementById(spec.id);
    if (spec.when && !spec.when()) continue;
    figure.hidden = false;
    const el = figure.querySelector(".plot");
    const chart = new uPlot(spec.options(el), spec.data(state.data), el);
    state.charts.push({ spec, el, chart });
  }
  document.getElementById("no-difficulty").hidden = state.difficulty !== null;
  new ResizeObserver(() => {
    for (const { el, chart } of state.charts) {
      if (Math.abs(chart.width - el.clientWidth) > 2) {
        chart.setSize({ width: Math.max(200, el.clientWidth), height: CHART_HEIGHT });
      }
    }
  }).observe(document.querySelector(".charts"));
}

function redrawCharts() {
  for (const { spec, chart } of state.charts) chart.setData(spec.data(state.data));
}

// ---------------------------------------------------------------- facts and arms table

function renderFacts(run, totalSteps) {
  document.getElementById("run-name").textContent = run.name;
  document.title = `ZPD \u00b7 ${run.name}`;
  document.getElementById("strategy").textContent = strategyText(run.strategy);
  document.getElementById("step").textContent = formatCount(run.step);
  document.getElementById("samples").textContent = formatCount(run.samples);
  document.getElementById("seed").textContent = String(run.seed);
  const drawn = state.data.steps.length;
  document.getElementById("waiting").hidden = drawn > 0;
  document.getElementById("points").textContent =
    `${formatCount(drawn)} of ${formatCount(totalSteps)} steps`;
  renderLastReport();
}

function renderLastReport() {
  const el = document.getElementById("last-report");
  el.textContent = formatAgo(state.lastReportAt);
  el.title = state.lastReportAt || "no report yet";
}

function numberCell(value, className = "num") {
  const td = cell(formatNumber(value), className);
  td.dataset.value = value === null ? "" : String(value);
  return td;
}

function renderArms(run) {
  // automatic arms all have the pool's size; what changes is how many problems each holds
  const auto = run.auto_arms != null;
  document.getElementById("size-header").textContent = auto ? "Members" : "Size";
  const rows = run.arms.map((arm, i) => {
    const tr = document.createElement("tr");
    tr.dataset.arm = arm.name;
    const name = cell(arm.name, "arm-name");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = armColor(i);
    name.prepend(swatch);
    const tags = Object.entries(arm.tags || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    const probability = numberCell(arm.probability, "num probability");
    const bar = document.createElement("span");
    bar.className = "pbar";
    bar.style.width = `${Math.round(arm.probability * 60)}px`;
    probability.prepend(bar);
    tr.append(
      name,
      cell(tags.join(" "), "tags"),
      cell(formatCount(auto ? arm.members : arm.size), "num size"),
      numberCell(arm.q, "num q"),
      probability,
      cell(formatCount(arm.times_sampled), "num times-sampled"),
      cell(formatCount(arm.times_reported), "num times-reported"),
      numberCell(arm.last_reward, "num last-reward"),
      numberCell(arm.mean_outcome_reward, "num mean-outcome"),
    );
    return tr;
  });
  document.querySelector("#arms tbody").replaceChildren(...rows);
}

// ---------------------------------------------------------------- loading and live updates

async function refresh() {
  const since = state.data ? state.lastStep : 0;
  const [run, history] = await Promise.all([
    getJSON(RUN_PATH),
    getJSON(`${RUN_PATH}/history?since_step=${since}&max_points=${MAX_POINTS}`),
  ]);
  // The two reads run side by side, so a report can land between them. Keep only the
  // points the run snapshot already counts: the page then shows one moment, and the
  // newer points come with the refresh that the report's own event triggers.
  history.points = history.points.filter((point) => point.step <= run.step);
  if (!state.data) {
    state.arms = run.arms;
    const difficulty = run.arms.map(difficultyOf);
    state.difficulty = difficulty.every(Number.isFinite) ? difficulty : null;
    state.data = emptyColumns(run.arms.length);
    appendPoints(history.points);
    createCharts();
  } else if (history.points.length) {
    appendPoints(history.points);
    redrawCharts();
  }
  state.run = run;
  renderFacts(run, Math.min(history.total_steps, run.step));
  renderArms(run);
  document.body.dataset.step = String(state.lastStep);
}

const update = coalesce(refresh, 250);

function setLive(on) {
  const badge = document.getElementById("live");
  badge.className = on ? "live on" : "live off";
  badge.textContent = on ? "live" : "reconnecting";
}

function listen() {
  const source = new EventSource(ROOT + withToken(`${RUN_PATH}/events`));
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => setLive(false));
  // `hello` carries the step when the stream began: catch up on anything missed meanwhile.
  source.addEventListener("hello", (e) => {
    if (JSON.parse(e.data).step !== state.lastStep) update();
  });
  source.addEventListener("report", update);
  source.addEventListener("sample", update);
  window.addEventListener("pagehide", () => source.close());
}

await update();
if (state.data) {
  document.body.dataset.ready = "true";
  listen();
  setInterval(renderLastReport, 5000);
  setInterval(() => document.visibilityState === "visible" && update(), POLL_MS);
}
