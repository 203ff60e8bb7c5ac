// Jobs: queued and running jobs with a progress bar, finished jobs with outcome and error, and
// a cancel button. It polls GET /jobs (no stream: a stream would hold a gunicorn sync worker).
import { api, el, enc, errorBox, fmt, section, start, table, when } from "./common.js";

const POLL_MS = 1000;
const FINISHED = 25; // finished jobs listed

function progressCell(job) {
  const p = job.progress || {};
  const epochs = p.epochs || (job.params && job.params.epochs) || 1;
  const bar = el("progress", { max: epochs, value: p.epoch || 0, "aria-label": `job ${job.job_id} progress` });
  return el("td", { class: "progress" }, bar, el("span", { class: "muted" },
    ` epoch ${p.epoch || 0} / ${epochs} · loss ${fmt(p.loss, 4)} · accuracy ${fmt(p.accuracy)}`,
    p.val_accuracy !== null && p.val_accuracy !== undefined ? ` · validation ${fmt(p.val_accuracy)}` : ""));
}

function cancelButton(job, status) {
  return el("button", { type: "button", class: "danger", disabled: job.cancel_requested, onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      await api(`/jobs/${enc(job.job_id)}`, { method: "DELETE" });
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  } }, job.cancel_requested ? "Cancelling…" : "Cancel");
}

const modelLink = (job) => el("a", { href: `/ui/models/${enc(job.model)}` }, job.model);

function activeTable(jobs, status) {
  if (!jobs.length) return el("p", { class: "muted", id: "active" }, "No job is queued or running.");
  return table(["model", "job", "status", "progress", "queued", ""], jobs.map((j) =>
    el("tr", { id: j.job_id, dataset: { job: j.job_id, status: j.status } },
      el("td", {}, modelLink(j)), el("td", {}, el("code", {}, j.job_id)), el("td", {}, j.status),
      progressCell(j), el("td", {}, when(j.created_at)), el("td", {}, cancelButton(j, status)))), { id: "active" });
}

function finishedTable(jobs) {
  return table(["model", "job", "outcome", "version", "epochs", "error", "finished"], jobs.map((j) =>
    el("tr", { id: j.job_id, dataset: { job: j.job_id, status: j.status } },
      el("td", {}, modelLink(j)), el("td", {}, el("code", {}, j.job_id)),
      el("td", { class: `outcome ${j.status}` }, j.status),
      el("td", {}, j.model_version ? el("a", { href: `/ui/models/${enc(j.model)}/versions/${j.model_version}` },
        `v${j.model_version}`) : "—"),
      el("td", { class: "num" }, j.progress ? `${j.progress.epoch} / ${j.progress.epochs}` : "—"),
      el("td", {}, j.error ? `${j.error.type}: ${j.error.message}` : ""), el("td", {}, when(j.finished_at)))),
  { id: "finished" });
}

start(async (main) => {
  const status = el("div", { id: "jobs-status" });
  const active = section("Queued and running");
  const finished = section("Finished");
  let tick = 0, lastActive = "";
  const poll = async () => {
    const [running, queued] = await Promise.all(["running", "queued"].map((s) =>
      api(`/jobs?status=${s}&limit=100`)));
    const now = [...running.jobs, ...queued.jobs];
    active.replaceChildren(active.firstChild, activeTable(now, status));
    const ids = now.map((j) => j.job_id).join();
    // Finished jobs change only when an active one ends: fetch them then, or every 10 polls.
    if (ids !== lastActive || tick % 10 === 0) {
      const done = (await api(`/jobs?limit=${FINISHED + now.length}`)).jobs
        .filter((j) => !["queued", "running"].includes(j.status)).slice(0, FINISHED);
      finished.replaceChildren(finished.firstChild, done.length ? finishedTable(done)
        : el("p", { class: "muted" }, "No finished job yet."));
    }
    lastActive = ids;
    tick += 1;
  };
  await poll(); // the first answer decides: a missing key shows the key form and nothing else
  document.title = "Jobs · nnserve";
  main.replaceChildren(el("h1", {}, "Training jobs"), status, active, finished,
    el("p", { class: "muted" }, `Updated every ${POLL_MS / 1000} s while this tab is visible.`));
  document.body.dataset.ready = "true";
  const loop = async () => {
    if (!document.hidden) {
      try {
        await poll();
        status.replaceChildren();
      } catch (err) {
        status.replaceChildren(errorBox(err));
      }
    }
    setTimeout(loop, POLL_MS);
  };
  setTimeout(loop, POLL_MS);
});
