// "Try it": a form built from the model's features that calls POST /predict and shows the
// probabilities as bars. Tabular models get typed inputs from their input_schema.
import { api, el, errorBox, fmt, section } from "./common.js";

const MISSING = "";

function tabularField(col) {
  const id = `in-${col.name}`;
  if (col.type === "numeric") {
    return [col.name, el("input", { id, name: col.name, type: "number", step: "any",
      value: col.median ?? "", placeholder: `median ${fmt(col.median)}` })];
  }
  const options = col.type === "boolean" ? ["true", "false"] : col.categories;
  return [col.name, el("select", { id, name: col.name },
    options.map((o) => el("option", { value: o }, o)), el("option", { value: MISSING }, "(missing)"))];
}

// The request's one row, read from the form: a record for tabular models, else a list.
function readRow(form, meta) {
  if (!meta.input_schema) {
    return [...form.querySelectorAll("input")].map((i) => Number(i.value));
  }
  const record = {};
  for (const col of meta.input_schema.filter((c) => !c.dropped)) {
    const v = form.elements[col.name].value;
    record[col.name] = v === MISSING ? null
      : col.type === "numeric" ? Number(v) : col.type === "boolean" ? v === "true" : v;
  }
  return record;
}

function bars(out) {
  const probs = out.probabilities[0];
  return el("div", { id: "probabilities", class: "bars", role: "list" },
    el("p", { class: "muted" }, "Probability of each class (0 to 1; the bars sum to 1)"),
    out.classes.map((c, i) => {
      const fill = el("span", { class: "fill" });
      fill.style.width = `${(100 * probs[i]).toFixed(2)}%`;
      return el("div", { class: `bar${c === out.labels[0] ? " top" : ""}`, role: "listitem",
        dataset: { class: String(c), probability: String(probs[i]) } },
      el("span", { class: "label" }, String(c)), el("span", { class: "track" }, fill),
      el("span", { class: "value" }, fmt(probs[i])));
    }),
    el("p", {}, `Predicted: ${out.labels[0]} (model ${out.model}, version ${out.version})`),
    (out.warnings || []).map((w) => el("p", { class: "muted" }, `${w.feature}: ${w.kind.replace("_", " ")}`)));
}

export function tryIt(meta, name, version) {
  const fields = meta.input_schema
    ? meta.input_schema.filter((c) => !c.dropped).map(tabularField)
    : Array.from({ length: meta.n_features }, (_, i) => {
      const label = (meta.feature_names && meta.feature_names[i]) || `feature ${i}`;
      return [label, el("input", { id: `in-${i}`, name: `f${i}`, type: "number", step: "any", required: true })];
    });
  const result = el("div", { id: "try-result" });
  const form = el("form", { id: "try-it", class: "grid-form" },
    fields.map(([label, input]) => el("label", {}, el("span", {}, label), input)),
    el("button", { type: "submit" }, "Predict"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren(el("p", { class: "muted" }, "Predicting…"));
    try {
      const out = await api("/predict", { method: "POST",
        json: { model: name, version, instances: [readRow(form, meta)] } });
      result.replaceChildren(bars(out));
    } catch (err) {
      result.replaceChildren(errorBox(err));
    }
  });
  return section("Try it", el("p", { class: "muted" },
    meta.input_schema ? "Typed inputs from the input schema; a missing value is imputed as in training."
      : "One number per feature."), form, result);
}
