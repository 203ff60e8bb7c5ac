// One model: its versions as a table, two versions side by side, and (admin key) alias moves
// and deletions through the JSON API.
import { api, el, fill, enc, errorBox, fmt, heldOut, pathParts, section, start, table, when } from "./common.js";

const MAX_VERSIONS = 100; // newest first; older ones are one click away by URL

const brief = (p) => [p.hidden_layers && `[${p.hidden_layers.join(", ")}]`, p.activation, p.optimizer,
  p.epochs && `${p.epochs} epochs`, p.learning_rate && `lr ${p.learning_rate}`].filter(Boolean).join(" · ");

const COMPARE = [
  ["held-out accuracy", (m) => heldOut(m)?.accuracy, 1], ["balanced accuracy", (m) => heldOut(m)?.balanced_accuracy, 1],
  ["macro F1", (m) => heldOut(m)?.macro_f1, 1], ["ROC AUC", (m) => heldOut(m)?.roc_auc, 1],
  ["log loss (nats)", (m) => heldOut(m)?.log_loss, -1], ["Brier score", (m) => heldOut(m)?.brier_score, -1],
  ["ECE", (m) => heldOut(m)?.ece, -1], ["training accuracy", (m) => m.evaluation?.train?.accuracy, 0],
  ["test rows", (m) => heldOut(m)?.rows, 0], ["rows", (m) => m.dataset?.rows, 0],
  ["epochs run", (m) => (m.history || []).length, 0], ["parameters", (m) => brief(m.params || {}), 0],
  ["created", (m) => when(m.created_at), 0],
];

function compare(metas) {
  const versions = Object.keys(metas).map(Number).sort((a, b) => b - a);
  const pick = (id, v) => el("select", { id, "aria-label": id },
    versions.map((n) => el("option", { value: n, selected: n === v }, `v${n}`)));
  const a = pick("compare-a", versions[1] ?? versions[0]), b = pick("compare-b", versions[0]);
  const out = el("div");
  const draw = () => {
    const ma = metas[a.value], mb = metas[b.value];
    out.replaceChildren(table(["", `v${a.value}`, `v${b.value}`], COMPARE.map(([label, get, better]) => {
      const x = get(ma), y = get(mb);
      const cell = (v, other) => el("td", { class: better && typeof v === "number" && typeof other === "number"
        && better * (v - other) > 0 ? "better" : "" }, typeof v === "number" && !Number.isInteger(v) ? fmt(v) : v ?? "—");
      return el("tr", {}, el("th", { scope: "row" }, label), cell(x, y), cell(y, x));
    }), { id: "compare" }), el("p", { class: "muted" }, "Bold with ▲: the better of the two on held-out rows."));
  };
  a.addEventListener("change", draw);
  b.addEventListener("change", draw);
  draw();
  return section("Two versions side by side", el("p", {}, a, " against ", b), out);
}

// An admin-only action: run it, then reload the page's data; a refusal is shown, not thrown.
function action(label, run, status, ask) {
  return el("button", { type: "button", class: "danger", onclick: async () => {
    if (ask && !window.confirm(ask)) return;
    status.replaceChildren();
    try {
      await run();
      location.reload();
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  } }, label);
}

function aliasAdmin(name, model, status) {
  const path = (a) => `/models/${enc(name)}/aliases/${enc(a)}`;
  const rows = Object.entries(model.aliases || {}).map(([alias, v]) => {
    const to = el("input", { type: "number", min: 1, value: v, "aria-label": `move ${alias} to version` });
    return el("tr", { dataset: { alias } }, el("td", {}, alias), el("td", {}, `v${v}`),
      el("td", {}, to, " ", action("Move", () => api(path(alias), { method: "PUT", json: { version: Number(to.value) } }), status),
        " ", action("Delete alias", () => api(path(alias), { method: "DELETE" }), status)));
  });
  const alias = el("input", { id: "new-alias", placeholder: "production", "aria-label": "alias" });
  const ver = el("input", { id: "new-alias-version", type: "number", min: 1, value: model.latest, "aria-label": "version" });
  return section("Aliases (admin)", table(["alias", "version", ""], rows, { id: "aliases" }),
    el("p", {}, "Point ", alias, " at ", ver, " ",
      action("Set alias", () => api(path(alias.value.trim()), { method: "PUT", json: { version: Number(ver.value) } }), status)));
}

start(async (main) => {
  const [, name] = pathParts();
  const model = await api(`/models/${enc(name)}`);
  const versions = [...model.versions].sort((a, b) => b - a).slice(0, MAX_VERSIONS);
  const list = await Promise.all(versions.map((v) => api(`/models/${enc(name)}/versions/${v}`)));
  const metas = Object.fromEntries(versions.map((v, i) => [v, list[i]]));
  // HEAD of an artifact needs the admin scope: it tells whether to offer admin actions.
  const admin = await api(`/models/${enc(name)}/versions/${model.latest}/artifact`, { method: "HEAD" })
    .then(() => true, () => false);
  const status = el("div", { id: "admin-status" });
  const aliasesOf = (v) => Object.entries(model.aliases || {}).filter(([, n]) => n === v).map(([a]) => a)
    .concat(v === model.latest ? ["latest"] : []);
  const rows = versions.map((v) => {
    const m = metas[v], t = heldOut(m);
    return el("tr", { dataset: { version: v } },
      el("td", {}, el("a", { href: `/ui/models/${enc(name)}/versions/${v}` }, `v${v}`)),
      el("td", {}, when(m.created_at)),
      el("td", { class: "num" }, fmt(t?.accuracy)), el("td", { class: "num" }, fmt(t?.log_loss)),
      el("td", { class: "num" }, fmt(t?.ece)), el("td", { class: "num" }, m.dataset?.rows ?? "—"),
      el("td", {}, brief(m.params || {})),
      el("td", {}, aliasesOf(v).map((a) => el("span", { class: "badge" }, a))),
      admin ? el("td", {}, action("Delete version", () => api(`/models/${enc(name)}/versions/${v}`, { method: "DELETE" }),
        status, `Delete ${name} version ${v}? Its files are removed for good.`)) : null);
  });
  document.title = `${name} · nnserve`;
  fill(main,
    el("p", { class: "crumbs" }, el("a", { href: "/ui" }, "models"), ` / ${name}`),
    el("h1", {}, name, " ", el("small", {}, `${model.versions.length} version${model.versions.length === 1 ? "" : "s"}`)),
    section("Versions", table(["version", "created", "held-out accuracy", "log loss", "ECE", "rows", "params", "aliases",
      ...(admin ? ["admin"] : [])], rows, { id: "versions" }),
    el("p", { class: "muted" }, "Held-out metrics are on the rows each version kept out of training; log loss in nats; ECE: expected calibration error."),
    admin ? el("p", { class: "muted" }, "A version an alias points at cannot be deleted (409): move the alias first.") : null),
    status,
    versions.length > 1 ? compare(metas) : null,
    admin ? aliasAdmin(name, model, status)
      : el("p", { class: "muted", id: "no-admin" }, "Alias moves and deletions need an admin key."));
  document.body.dataset.ready = "true";
});
