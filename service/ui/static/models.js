// Models: every model with its latest version, aliases and headline held-out accuracy.
import { api, el, enc, fmt, heldOut, section, start, table, target, when } from "./common.js";

start(async (main) => {
  const { models } = await api("/models");
  const metas = await Promise.all(models.map((m) =>
    api(`/models/${enc(m.name)}/versions/${m.latest}`).catch(() => null)));
  document.title = "Models · nnserve";
  const rows = models.map((m, i) => {
    const meta = metas[i] || {};
    const test = heldOut(meta);
    const aliases = Object.entries(m.aliases || {}).map(([a, v]) => el("span", { class: "badge" }, `${a} → ${target(v)}`));
    return el("tr", { dataset: { model: m.name } },
      el("td", {}, el("a", { href: `/ui/models/${enc(m.name)}` }, m.name)),
      el("td", {}, el("a", { href: `/ui/models/${enc(m.name)}/versions/${m.latest}` }, `v${m.latest}`)),
      el("td", { class: "num" }, m.versions.length),
      el("td", {}, aliases.length ? aliases : "—"),
      el("td", { class: "num headline", title: test ? `on ${test.rows} held-out rows` : "no held-out evaluation" },
        test ? fmt(test.accuracy) : "—"),
      el("td", { class: "num" }, test ? test.rows : "—"),
      el("td", {}, when(meta.created_at)));
  });
  main.replaceChildren(el("h1", {}, "Models"), section(
    `${models.length} model${models.length === 1 ? "" : "s"}`,
    models.length ? table(["model", "latest", "versions", "aliases", "held-out accuracy", "test rows",
      "latest created"], rows, { id: "models" })
      : el("p", { class: "muted" }, "No model yet: POST /train a data set, or run `nnserve train`."),
    el("p", { class: "muted" }, "Held-out accuracy: the latest version's accuracy on rows kept out of its training.")));
  document.body.dataset.ready = "true";
});
