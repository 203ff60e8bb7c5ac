// One model: its versions as a table, two versions side by side, and (admin key) alias moves
// and deletions through the JSON API.
import { api, el, fill, enc, errorBox, fmt, heldOut, pathParts, section, start, table, when } from "./common.js";
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
    versions.length > 1 ? compare(name, metas) : null,
    admin ? aliasAdmin(name, model, status)
      : el("p", { class: "muted", id: "no-admin" }, "Alias moves and deletions need an admin key."));
  document.body.dataset.ready = "true";
});
