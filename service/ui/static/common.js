// Shared by every console page: the JSON API with the person's key, the key prompt, DOM and
// number helpers, colours and line charts (uPlot, vendored). No page keeps data in its HTML.

const KEY = "nnserve.apiKey"; // sessionStorage only: never a URL, a cookie or localStorage

export class NeedKey extends Error {}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// fetch() under the key's scopes; JSON in and out (`text: true` for a text answer).
// `body` with `type` sends a raw body (a CSV file's text).
export async function api(path, { method = "GET", json, text = false, body, type } = {}) {
  const headers = { Accept: text ? "text/markdown, text/plain" : "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (type) headers["Content-Type"] = type;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const r = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit" });
  if (r.status === 401) {
    const hadKey = Boolean(key);
    sessionStorage.removeItem(KEY);
    throw new NeedKey(hadKey ? "the API key is not valid" : "");
  }
  const answered = r.headers.get("Content-Type") || "";
  const doc = r.status === 204 ? null : answered.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, typeof doc === "object" ? doc : { detail: doc });
  return doc;
}

// Run a page's render(main); on a 401 show the key form instead, and nothing else.
export async function start(render) {
  const main = document.getElementById("main");
  const forget = document.getElementById("forget-key");
  forget.hidden = !sessionStorage.getItem(KEY);
  forget.onclick = () => { sessionStorage.removeItem(KEY); location.reload(); };
  try {
    await render(main);
  } catch (err) {
    main.replaceChildren();
    if (err instanceof NeedKey) keyForm(main, err.message, () => start(render));
    else main.append(errorBox(err));
  }
}

function keyForm(main, message, again) {
  const input = el("input", { type: "password", id: "api-key", autocomplete: "off", required: true });
  const form = el("form", { id: "key-form", class: "card" },
    el("h1", {}, "API key needed"),
    el("p", {}, "This server asks for an API key. It is kept in this tab only (sessionStorage) ",
      "and sent as an Authorization header."),
    el("label", {}, "API key ", input), " ", el("button", { type: "submit" }, "Use key"),
    el("p", { class: "error", role: "alert" }, message));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    main.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    again();
  });
  main.append(form);
  input.focus();
}

export function errorBox(err) {
  const scope = err instanceof ApiError && err.status === 403;
  return el("p", { class: "error", role: "alert" }, scope ? `Not allowed with this key: ${err.message}`
    : err instanceof ApiError ? `${err.status}: ${err.message}` : String(err.message || err));
}

// el("a", {href: "/x", class: "y"}, "text", child, ...): text is set as text, never as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export function table(headers, rows, attrs = {}) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((r) => (r instanceof Node ? r : el("tr", {}, r.map((c) => el("td", {}, c)))))));
}

// Replace a node's children, leaving out the null parts of a page.
export const fill = (node, ...children) => node.replaceChildren(...children.flat().filter((c) => c));

export function section(title, ...children) {
  return el("section", { class: "card" }, el("h2", {}, title), ...children);
}

export const fmt = (x, digits = 3) =>
  x === null || x === undefined || Number.isNaN(x) ? "—" : typeof x === "number" ? x.toFixed(digits) : String(x);
export const pct = (x) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(1)} %`);
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
export const enc = encodeURIComponent;
// An alias's target as the registry gives it: a version number, or {"versions": {v: weight}}.
export const targetVersions = (t) =>
  typeof t === "number" ? [t] : t && t.versions ? Object.keys(t.versions).map(Number) : [];
export const target = (t) =>
  typeof t === "number" ? `v${t}`
    : t && t.versions ? Object.entries(t.versions).map(([v, w]) => `v${v} ${w}%`).join(" · ") : "—";

// The path's segments after /ui/: ["models", name, "versions", v].
export const pathParts = () => location.pathname.split("/").slice(2).map(decodeURIComponent);

// The held-out metrics of a version's meta, or null (no split, or made before evaluation).
export const heldOut = (meta) => (meta.evaluation && meta.evaluation.test) || null;

// Okabe–Ito: distinguishable with every common colour-vision deficiency.
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];

// Viridis (perceptually uniform, colour-blind safe) at t in [0, 1], with a readable text colour.
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
export function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const rgb = VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
  return { background: `rgb(${rgb.join(",")})`, color: t > 0.55 ? "#000" : "#fff" };
}

// A uPlot line chart: x values, series [{label, values, dash}], labelled axes with units.
export function lineChart(target, { title, x, xLabel, yLabel, series, xRange, yRange, points = true }) {
  const width = Math.max(320, Math.min(560, target.clientWidth || 520));
  const opts = {
    title, width, height: 260,
    scales: { x: { time: false, ...(xRange ? { range: xRange } : {}) },
      y: yRange ? { range: yRange } : {} },
    axes: [{ label: xLabel }, { label: yLabel }],
    legend: { live: false },
    series: [{ label: xLabel }, ...series.map((s, i) => ({
      label: s.label, stroke: s.color || PALETTE[i], width: 2, dash: s.dash, spanGaps: false,
      points: { show: s.points ?? points, size: 5, fill: s.color || PALETTE[i] },
      paths: s.bars ? uPlot.paths.bars({ size: [0.8] }) : undefined,
      fill: s.bars ? `${s.color || PALETTE[i]}99` : undefined,
    }))],
  };
  return new uPlot(opts, [x, ...series.map((s) => s.values)], target);
}

// Charts by name, for the tests and for a curious console user: window.nnserveCharts.loss.data
export function keepChart(name, chart) {
  window.nnserveCharts = window.nnserveCharts || {};
  window.nnserveCharts[name] = chart;
  return chart;
}
