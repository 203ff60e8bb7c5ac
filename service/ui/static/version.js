// One version: verdict, metrics, learning curves, confusion matrix, reliability, per-class
// table, "try it", parameters and lineage, input schema and the model card.
import { api, el, fill, enc, errorBox, fmt, pathParts, section, start, table, when } from "./common.js";
import { confusion, learningCurves, metricsTable, perClass, reliability, verdict } from "./evaluation.js";
import { tryIt } from "./tryit.js";

const show = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

// [metrics | per class], learning curves, [confusion matrix | reliability diagram].
function evaluationSections(meta) {
  const ev = meta.evaluation;
  if (!ev) return [learningCurves(meta)];
  const sets = [["test", "held-out rows"], ["train", "training rows"]].filter(([k]) => ev[k]);
  const holder = el("div", {}, confusion(ev[sets[0][0]]));
  const pick = el("select", { id: "cm-set", "aria-label": "rows the matrix counts" },
    sets.map(([k, label]) => el("option", { value: k }, label)));
  pick.addEventListener("change", () => holder.replaceChildren(confusion(ev[pick.value])));
  const main = ev.test || ev.train;
  return [
    el("div", { class: "pair" }, metricsTable(meta), section("Per class",
      el("p", { class: "muted" }, ev.test ? "On the held-out rows." : "On the training rows."), perClass(main))),
    learningCurves(meta),
    el("div", { class: "pair" }, section("Confusion matrix", el("p", { class: "muted" }, "Rows counted: ", pick,
      ". Each cell counts rows; its colour is the share of that true class (viridis: dark 0 % → yellow 100 %)."),
    holder), reliability(main)),
  ];
}

function lineage(meta, name, aliases) {
  const v = (n) => el("a", { href: `/ui/models/${enc(name)}/versions/${n}` }, `v${n}`);
  const rows = [
    ["intended use", meta.description || "— (no description was given at POST /train)"],
    ["created", when(meta.created_at)],
    ["aliases", aliases.length ? aliases.join(", ") : "—"],
    ["made by job", meta.job_id ? el("a", { href: `/ui/jobs#${meta.job_id}` }, meta.job_id) : "—"],
    ["parent version", meta.parent_version ? v(meta.parent_version) : "—"],
    ["training time", meta.training_seconds ? `${fmt(meta.training_seconds, 2)} s` : "—"],
    ["dataset", meta.dataset ? `${meta.dataset.rows} rows × ${meta.dataset.features} features` : "—"],
    ["dataset sha256", el("code", {}, show(meta.dataset && meta.dataset.sha256))],
    ["artifact sha256", el("code", {}, show(meta.artifact_sha256))],
    ["classes (rows in the data set)", meta.classes.map((c, i) => (meta.dataset && meta.dataset.class_counts
      ? `${c} (${meta.dataset.class_counts[i]})` : c)).join(", ")],
    ["features", (meta.feature_names || []).join(", ") || `${meta.n_features} unnamed`],
  ];
  const params = Object.entries(meta.params || {}).map(([k, x]) => [k, show(x)]);
  return section("Parameters and lineage", el("div", { class: "two" },
    table(["", "value"], rows, { id: "lineage" }), table(["parameter", "value"], params, { id: "params" })));
}

function inputSchema(meta) {
  if (!meta.input_schema) return null;
  return section("Input schema", table(["column", "type", "missing in training", "encoding"],
    meta.input_schema.map((c) => [c.name, c.type, `${fmt(100 * c.missing_rate, 1)} %`,
      c.dropped ? `dropped (${c.dropped_reason})` : c.categories ? `categories: ${c.categories.join(", ")}`
        : `median ${fmt(c.median)}, mean ${fmt(c.mean)}, std ${fmt(c.std)}`]), { id: "input-schema" }));
}

function card(name, version) {
  const out = el("div", { id: "card" });
  const button = el("button", { type: "button" }, "Show the model card");
  button.addEventListener("click", async () => {
    try {
      out.replaceChildren(el("pre", { class: "card-text" }, await api(
        `/models/${enc(name)}/versions/${version}/card`, { text: true })));
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  });
  return section("Model card", el("p", { class: "muted" }, "Markdown, from ",
    el("code", {}, `GET /models/${name}/versions/${version}/card`), "."), button, out);
}

start(async (main) => {
  const [, name, , v] = pathParts();
  const version = Number(v);
  const [meta, model] = await Promise.all([
    api(`/models/${enc(name)}/versions/${version}`), api(`/models/${enc(name)}`)]);
  const aliases = Object.entries(model.aliases || {}).filter(([, n]) => n === version).map(([a]) => a);
  if (model.latest === version) aliases.unshift("latest");
  document.title = `${name} v${version} · nnserve`;
  fill(main,
    el("p", { class: "crumbs" }, el("a", { href: "/ui" }, "models"), " / ",
      el("a", { href: `/ui/models/${enc(name)}` }, name), ` / v${version}`),
    el("h1", {}, `${name} `, el("small", {}, `version ${version}`),
      aliases.map((a) => el("span", { class: "badge" }, a))),
    verdict(meta), ...evaluationSections(meta),
    tryIt(meta, name, version), lineage(meta, name, aliases), inputSchema(meta), card(name, version));
  document.body.dataset.ready = "true";
});
