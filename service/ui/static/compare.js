// Two versions side by side: their held-out metrics from meta.json, and both evaluated on the
// same rows (a CSV the person picks) through POST /models/<name>/versions/<v>/evaluate.
import { api, el, enc, errorBox, fmt, heldOut, section, table, when } from "./common.js";

export const brief = (p) => [p.hidden_layers && `[${p.hidden_layers.join(", ")}]`, p.activation, p.optimizer,
  p.epochs && `${p.epochs} epochs`, p.learning_rate && `lr ${p.learning_rate}`].filter(Boolean).join(" · ");

// [key of METRICS, label, which way is better: 1 higher, -1 lower]
const METRICS = [["accuracy", "accuracy", 1], ["balanced_accuracy", "balanced accuracy", 1],
  ["macro_f1", "macro F1", 1], ["roc_auc", "ROC AUC", 1], ["log_loss", "log loss (nats)", -1],
  ["brier_score", "Brier score", -1], ["ece", "ECE", -1]];

// [label, value from a version's meta, better (0: neither)]
const FROM_META = [
  ...METRICS.map(([k, label, better]) => [`held-out ${label}`, (m) => heldOut(m)?.[k], better]),
  ["training accuracy", (m) => m.evaluation?.train?.accuracy, 0], ["test rows", (m) => heldOut(m)?.rows, 0],
  ["rows", (m) => m.dataset?.rows, 0], ["epochs run", (m) => (m.history || []).length, 0],
  ["parameters", (m) => brief(m.params || {}), 0], ["created", (m) => when(m.created_at), 0],
];

// The same metrics from two answers of POST .../evaluate.
const FROM_EVALUATE = [...METRICS.map(([k, label, better]) => [label, (r) => r[k], better]),
  ["rows", (r) => r.rows, 0]];

function sideBySide(rowsSpec, left, right, names, id) {
  return table(["", ...names], rowsSpec.map(([label, get, better]) => {
    const x = get(left), y = get(right);
    const cell = (v, other) => el("td", { class: better && typeof v === "number" && typeof other === "number"
      && better * (v - other) > 0 ? "better" : "" }, typeof v === "number" && !Number.isInteger(v) ? fmt(v) : v ?? "—");
    return el("tr", {}, el("th", { scope: "row" }, label), cell(x, y), cell(y, x));
  }), { id });
}

function ownRows(name, pickA, pickB) {
  const file = el("input", { type: "file", id: "eval-file", accept: ".csv,text/csv", "aria-label": "CSV file" });
  const label = el("input", { id: "eval-label", placeholder: "label", "aria-label": "label column" });
  const out = el("div", { id: "eval-result" });
  const run = el("button", { type: "button", id: "eval-run" }, "Evaluate both");
  run.addEventListener("click", async () => {
    if (!file.files.length) return out.replaceChildren(el("p", { class: "error" }, "Choose a CSV file first."));
    out.replaceChildren(el("p", { class: "muted" }, "Evaluating…"));
    try {
      const csv = await file.files[0].text();
      const query = label.value.trim() ? `?label_column=${enc(label.value.trim())}` : "";
      const [a, b] = [pickA.value, pickB.value];
      const [ra, rb] = await Promise.all([a, b].map((v) => api(`/models/${enc(name)}/versions/${v}/evaluate${query}`,
        { method: "POST", body: csv, type: "text/csv" })));
      out.replaceChildren(sideBySide(FROM_EVALUATE, ra, rb, [`v${a}`, `v${b}`], "compare-own"));
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  });
  return el("div", {}, el("h3", {}, "On the same rows"), el("p", { class: "muted" },
    "A CSV with a header row and a label column; nothing is stored."), el("p", {}, file, " label column ", label, " ", run), out);
}

export function compare(name, metas) {
  const versions = Object.keys(metas).map(Number).sort((a, b) => b - a);
  const pick = (id, v) => el("select", { id, "aria-label": id },
    versions.map((n) => el("option", { value: n, selected: n === v }, `v${n}`)));
  const a = pick("compare-a", versions[1] ?? versions[0]), b = pick("compare-b", versions[0]);
  const out = el("div");
  const draw = () => out.replaceChildren(sideBySide(FROM_META, metas[a.value], metas[b.value],
    [`v${a.value}`, `v${b.value}`], "compare"));
  a.addEventListener("change", draw);
  b.addEventListener("change", draw);
  draw();
  return section("Two versions side by side", el("p", {}, a, " against ", b), out,
    el("p", { class: "muted" }, "Bold with ▲: the better of the two."), ownRows(name, a, b));
}
