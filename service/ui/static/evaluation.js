// One version's evaluation shown for people: the verdict, learning curves, confusion matrix,
// reliability diagram and per-class table. Everything comes from the version's meta.json.
import { el, fmt, keepChart, lineChart, PALETTE, section, table, viridis } from "./common.js";

const mark = (ok) => el("span", { class: ok ? "ok" : "warn", "aria-hidden": "true" }, ok ? "✓" : "!");
const line = (ok, ...text) => el("li", { class: ok ? "ok" : "warn" }, mark(ok), " ", ...text);

// Wilson 95 % interval of an accuracy p measured on n rows.
function wilson(p, n) {
  const z = 1.96, d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d, h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

// Plain-language answers to "should I trust it?", each with the number behind it.
export function verdict(meta) {
  const ev = meta.evaluation;
  const test = ev && ev.test, train = ev && ev.train;
  const items = [];
  if (!test) {
    const why = !ev ? "this version was made before held-out evaluation existed"
      : ev.split && ev.split.note ? ev.split.note : "it was trained with test_split = 0";
    items.push(line(false, `No held-out evaluation: ${why}. Its training metrics flatter it.`));
    return section("Can I trust it?", el("ul", { id: "verdict", class: "verdict" }, items));
  }
  const [lo, hi] = wilson(test.accuracy, test.rows);
  const majority = Math.max(...test.per_class.map((c) => c.support)) / test.rows;
  items.push(line(test.accuracy > majority + 0.05,
    `Accuracy ${fmt(test.accuracy)} on ${test.rows} rows it never trained on (95 % interval `,
    `${fmt(lo, 2)}–${fmt(hi, 2)}); always guessing the commonest class would score ${fmt(majority)}.`));
  if (train) {
    const gap = train.accuracy - test.accuracy;
    items.push(line(gap <= 0.05, `Training accuracy ${fmt(train.accuracy)}: `,
      gap > 0.05 ? `${fmt(gap)} above held-out — it may have memorised its training rows.`
        : "close to held-out — no sign of overfitting."));
  }
  const bins = test.calibration.filter((b) => b.count > 0);
  const conf = bins.reduce((s, b) => s + b.count * b.mean_confidence, 0) / test.rows;
  const side = conf > test.accuracy ? "over-confident" : "under-confident";
  items.push(line(test.ece < 0.05, `Calibration error (ECE) ${fmt(test.ece)}: `,
    test.ece < 0.05 ? "its probabilities can be read as chances."
      : test.ece < 0.1 ? `roughly right, somewhat ${side}.` : `${side} — do not read its probabilities as chances.`));
  const weakest = [...test.per_class].sort((a, b) => a.recall - b.recall)[0];
  items.push(line(weakest.recall >= 0.8, `Weakest class: ${weakest.class}, recall ${fmt(weakest.recall)} `,
    `(${weakest.support} test rows)${weakest.recall < 0.8 ? " — it misses many of these." : "."}`));
  if (test.rows < 50) items.push(line(false, `Only ${test.rows} test rows: the figures above are rough.`));
  return section("Can I trust it?", el("ul", { id: "verdict", class: "verdict" }, items));
}

const SCALARS = [["accuracy", "accuracy"], ["balanced_accuracy", "balanced accuracy"],
  ["macro_f1", "macro F1"], ["roc_auc", "ROC AUC (macro, one-vs-rest)"], ["log_loss", "log loss (nats)"],
  ["brier_score", "Brier score"], ["ece", "expected calibration error"], ["rows", "rows"]];

export function metricsTable(meta) {
  const ev = meta.evaluation || {};
  const cols = [["held-out (test)", ev.test], ["training rows", ev.train]];
  return section("Metrics", table(["metric", ...cols.map((c) => c[0])],
    SCALARS.map(([k, label]) => [label, ...cols.map(([, m]) => (m ? (k === "rows" ? m[k] : fmt(m[k])) : "—"))]),
    { id: "metrics" }), ev.split ? el("p", { class: "muted" }, `Split: test_split ${ev.split.test_split}, seed `,
    `${ev.split.seed}, ${ev.split.stratified ? "stratified" : "not stratified"}; ${ev.split.train_rows} rows trained on, `,
    `${ev.split.test_rows} held out.`) : null);
}

export function learningCurves(meta) {
  const h = meta.history || [];
  const box = section("Learning curves");
  if (!h.length) {
    box.append(el("p", { class: "muted" }, "No history."));
    return box;
  }
  const x = h.map((e) => e.epoch);
  const hasVal = h.some((e) => e.val_loss !== null && e.val_loss !== undefined);
  const pair = (key, yLabel, title) => {
    const last = h[h.length - 1];
    const target = el("div", { class: "chart", id: `chart-${key}`, role: "img", "aria-label":
      `${title}: ${h.length} epochs; last epoch training ${key} ${fmt(last[key])}` +
      (hasVal ? `, validation ${key} ${fmt(last[`val_${key}`])}` : "") });
    box.append(target);
    const series = [{ label: `training ${key}`, values: h.map((e) => e[key]) }];
    if (hasVal) series.push({ label: `validation ${key}`, values: h.map((e) => e[`val_${key}`]), dash: [6, 4] });
    keepChart(key, lineChart(target, { title, x, xLabel: "epoch (passes over the training rows)", yLabel,
      series, points: h.length <= 60 }));
  };
  box.dataset.epochs = h.length;
  pair("loss", "loss (cross-entropy, nats)", "Loss per epoch");
  pair("accuracy", "accuracy (fraction of rows)", "Accuracy per epoch");
  return box;
}

export function confusion(metrics, id = "confusion") {
  const cm = metrics.confusion_matrix, classes = metrics.classes;
  const head = el("tr", {}, el("th", { scope: "col" }, "true ↓ / predicted →"),
    classes.map((c) => el("th", { scope: "col" }, c)));
  const rows = cm.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return el("tr", {}, el("th", { scope: "row" }, classes[i]), row.map((n, j) => {
      const c = viridis(n / total);
      const td = el("td", { class: "cm", title: `true ${classes[i]}, predicted ${classes[j]}: ${n} rows (${fmt(100 * n / total, 1)} % of ${classes[i]})`,
        dataset: { row: i, col: j, count: n } }, n);
      td.style.background = c.background;
      td.style.color = c.color;
      return td;
    }));
  });
  return el("table", { id, class: "confusion" }, el("thead", {}, head), el("tbody", {}, rows));
}

export function reliability(metrics) {
  const bins = metrics.calibration;
  const target = el("div", { class: "chart", id: "chart-reliability", role: "img",
    "aria-label": "Reliability diagram; the bins are listed in the table below" });
  const box = section("Reliability diagram", target,
    el("p", { class: "muted" }, "Bars: how often the top class was right among rows whose top-class probability fell in ",
      "each 0.1-wide bin; the dashed line is perfect calibration. Empty bins have no bar."),
    el("details", {}, el("summary", {}, "bins"), table(["confidence", "rows", "mean confidence", "accuracy"],
      bins.map((b) => [`${fmt(b.lower, 1)}–${fmt(b.upper, 1)}`, b.count, fmt(b.mean_confidence), fmt(b.accuracy)]))));
  const x = bins.map((b) => (b.lower + b.upper) / 2);
  keepChart("reliability", lineChart(target, {
    title: "Accuracy against confidence (held-out rows)", x, xRange: [0, 1], yRange: [0, 1],
    xLabel: "top-class probability (bin centre)", yLabel: "accuracy in bin (fraction)",
    series: [{ label: "accuracy in bin", values: bins.map((b) => (b.count ? b.accuracy : null)), bars: true, points: false },
      { label: "perfect calibration", values: x, dash: [4, 4], color: PALETTE[1], points: false }],
  }));
  return box;
}

export function perClass(metrics) {
  return table(["class", "precision", "recall", "F1", "support (rows)", "ROC AUC"],
    metrics.per_class.map((c) => [c.class, fmt(c.precision), fmt(c.recall), fmt(c.f1), c.support, fmt(c.roc_auc)]),
    { id: "per-class" });
}
