// One model: its versions as a table, two versions side by side, every alias's history and
// (admin key) alias moves, canary weights, rollbacks and deletions through the JSON API.
import { api, el, fill, enc, errorBox, fmt, heldOut, pathParts, section, start, table, target, targetVersions,
  when } from "./common.js";
import { brief, compare } from "./compare.js";

const MAX_VERSIONS = 100; // newest first; older ones are one click away by URL

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

// "6:90, 7:10" → {"6": 90, "7": 10}
function parseWeights(text) {
  return Object.fromEntries(text.split(",").map((p) => p.trim()).filter(Boolean).map((p) => {
    const [v, w] = p.split(":").map((x) => x.trim());
    return [v, Number(w)];
  }));
}

function aliasAdmin(name, model, status) {
  const path = (a) => `/models/${enc(name)}/aliases/${enc(a)}`;
  const rows = Object.entries(model.aliases || {}).map(([alias, t]) => {
    const versions = targetVersions(t);
    const to = el("input", { type: "number", min: 1, value: Math.max(...versions), "aria-label": `move ${alias} to version` });
    const weights = el("input", { class: "weights", placeholder: "6:90, 7:10", "aria-label": `${alias} weights`,
      value: t && t.versions ? Object.entries(t.versions).map(([v, w]) => `${v}:${w}`).join(", ") : "" });
    return el("tr", { dataset: { alias } }, el("td", {}, alias), el("td", { class: "target" }, target(t)),
      el("td", {}, to, " ", action("Move", () => api(path(alias), { method: "PUT", json: { version: Number(to.value) } }), status),
        " ", weights, " ", action("Set weights", () => api(path(alias), { method: "PUT", json: { versions: parseWeights(weights.value) } }), status),
        " ", action("Roll back", () => api(`${path(alias)}/rollback`, { method: "POST" }), status),
        " ", action("Delete alias", () => api(path(alias), { method: "DELETE" }), status)));
  });
  const alias = el("input", { id: "new-alias", placeholder: "production", "aria-label": "alias" });
  const ver = el("input", { id: "new-alias-version", type: "number", min: 1, value: model.latest, "aria-label": "version" });
  return section("Aliases (admin)", table(["alias", "target", ""], rows, { id: "aliases" }),
    el("p", {}, "Point ", alias, " at ", ver, " ",
      action("Set alias", () => api(path(alias.value.trim()), { method: "PUT", json: { version: Number(ver.value) } }), status)),
    el("p", { class: "muted" }, "Weights split the alias's traffic between versions (a canary): integers summing to 100, "
      + "e.g. 6:90, 7:10; 7:100 finishes the rollout. Roll back undoes the latest move not yet rolled back."));
}

// Every move of the model's aliases, newest first: who (key id), why, and a promotion's scores.
async function aliasHistory(name, model) {
  const aliases = Object.keys(model.aliases || {});
  if (!aliases.length) return null;
  const found = await Promise.all(aliases.map((a) =>
    api(`/models/${enc(name)}/aliases/${enc(a)}/history`).then((h) => h.history, () => [])));
  const entries = found.flat().sort((a, b) => b.seq - a.seq);
  const rows = entries.map((e) => {
    const p = e.promotion;
    const why = p && p.candidate !== undefined && p.candidate !== null
      ? `${e.reason}: ${p.metric} ${fmt(p.candidate)} vs ${fmt(p.current)}` : e.undoes ? `${e.reason} of #${e.undoes}` : e.reason;
    return el("tr", { dataset: { seq: e.seq, alias: e.alias } }, el("td", { class: "num" }, e.seq), el("td", {}, e.alias),
      el("td", {}, when(e.time)), el("td", {}, target(e.old)), el("td", {}, target(e.new)),
      el("td", {}, e.key_id ?? "—"), el("td", { class: "reason" }, why));
  });
  return section("Alias history", table(["#", "alias", "when", "from", "to", "key id", "reason"], rows, { id: "alias-history" }),
    el("p", { class: "muted" }, "Key id: the part of the API key before ':' (never the key)."));
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
  const aliasesOf = (v) => Object.entries(model.aliases || {}).filter(([, t]) => targetVersions(t).includes(v))
    .map(([a, t]) => (t && t.versions ? `${a} ${t.versions[v]}%` : a))
    .concat(v === model.latest ? ["latest"] : []);
  const history = await aliasHistory(name, model);
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
    admin ? el("p", { class: "muted" }, "A version an alias or a canary points at cannot be deleted (409): move the alias first.") : null),
    status,
    versions.length > 1 ? compare(name, metas) : null,
    admin ? aliasAdmin(name, model, status)
      : el("p", { class: "muted", id: "no-admin" }, "Alias moves and deletions need an admin key."),
    history);
  document.body.dataset.ready = "true";
});
