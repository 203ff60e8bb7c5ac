"""A hyper-parameter search: a parent job that holds no worker, and its trials as child jobs.

The parent is a job record (``kind: "search"``) whose ``search`` field is the state of the
search: strategy, space, budget, seed and one *run* per child job (a trial at one rung of
successive halving). Nothing waits on it. ``Searcher.advance`` is one step of a state machine,
taken whenever a trial ends (by the worker process that ran it, right after), and by every
reaper pass (so a trial failed by the reaper, or a step lost with a killed process, is caught
up within one ``heartbeat_timeout``): it reads the children's records, starts the next runs up
to the search's share of the worker slots, and, once nothing is left to run, publishes the best
trial's model as the version. The step writes the parent by compare-and-set on its ``rev``, so
two workers that finish trials at once never lose an update: the loser reads again and retries.

Starting a run is written to the state first (``pending``, with its child job id), then the
child record is created and its message queued; a step that finds a pending run without a
record creates it, and a second create of the same id fails, so exactly one message is queued.

How the queue is shared: a search keeps at most ``max(1, slots - spare)`` of its runs queued
or running, where ``slots`` is the sum of the training processes of the live workers (each
``nnserve worker`` announces its concurrency in the job store every reaper pass, for
``heartbeat_timeout`` seconds) and ``spare`` is ``NNSERVE_SEARCH_SPARE_SLOTS`` (1). With more
than one slot one is so left for other training jobs; with one slot the search still
completes, one trial at a time, since the parent itself occupies none.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.config import Settings
from service.errors import NotFound, ServiceError
from service.jobs import search_space as space_rules
from service.jobs.datasets import dataset_path, remove_dataset
from service.jobs.events import job_ended
from service.jobs.records import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobStore,
    error,
    new_job,
    parse_iso,
)
from service.jobs.search_state import (
    KIND,
    LIVE,
    PENDING,
    RUN_FIELDS,
    best_run,
    new_run,
    progress_of,
    trial_table,
)
from service.jobs.trials import load_trial, remove_trials, trial_score, trials_root
from service.store import ModelStore, PublishWithdrawn

log = logging.getLogger("nnserve.jobs")
CAS_ATTEMPTS = 100


@dataclass
class Searcher:
    """Advances searches. ``enqueue`` and ``revoke`` put and withdraw a job's queue message."""

    settings: Settings
    job_store: JobStore
    enqueue: Callable[[str], None]
    revoke: Callable[[str], None]

    # -- start and advance ----------------------------------------------------------------
    def start(self, parent_id: str) -> None:
        self.job_store.transition(parent_id, (QUEUED,), RUNNING, worker=None)
        self.advance(parent_id)

    def parallel(self) -> int:
        """How many runs one search may have queued or running (see the module doc)."""
        return max(1, self.job_store.worker_slots() - max(0, self.settings.search_spare_slots))

    def advance(self, parent_id: str) -> None:
        """One step of the search ``parent_id`` (a no-op for other jobs); see the module doc."""
        for _ in range(CAS_ATTEMPTS):
            parent = self.job_store.get(parent_id)
            if parent.get("kind") != KIND:
                return
            if parent["status"] != RUNNING:
                self.wind_down(parent)
                return
            state = parent["search"]
            runs = [dict(r) for r in state["runs"]]
            for run in runs:
                if run["status"] in LIVE:
                    self._refresh(run)
            for run in self._next_runs(parent, state, runs):
                runs.append(run)
            live = [r for r in runs if r["status"] in LIVE]
            if runs == state["runs"]:  # nothing new: no write (a sweep of an idle search)
                if not live and self._publisher_lost(parent):
                    self._finish(parent, runs)
                for run in live:
                    if run["status"] == PENDING:
                        self._launch(parent, run)
                return
            if not self.job_store.compare_and_update(
                    parent_id, "rev", parent["rev"], rev=parent["rev"] + 1,
                    search={**state, "runs": runs}, progress=progress_of(state, runs),
                    children=[r["job_id"] for r in runs]):
                continue  # another process advanced it meanwhile: read again
            for run in live:
                if run["status"] == PENDING:
                    self._launch(parent, run)
            if not live:  # this step wrote the last change: it publishes
                self._finish(parent, runs)
            return
        log.warning("search %s: could not write its state after %d attempts; the next reaper "
                    "pass goes on", parent_id, CAS_ATTEMPTS)

    def _publisher_lost(self, parent: dict[str, Any]) -> bool:
        """Whether the step that was to publish this finished search is gone: its state has
        not changed for ``heartbeat_timeout`` and the search still runs."""
        changed = parse_iso(parent["updated_at"]) or 0.0
        return self.job_store.now() - changed > self.settings.heartbeat_timeout

    def _refresh(self, run: dict[str, Any]) -> None:
        try:
            child = self.job_store.get(run["job_id"])
        except NotFound:
            return  # still pending: its record is about to be created
        run["status"] = child["status"]
        run["epochs_reached"] = (child.get("progress") or {}).get("epoch") or 0
        run["host"] = str(child["worker"]).split(":")[0] if child.get("worker") else None
        metrics = child.get("metrics") or {}
        for key in RUN_FIELDS:
            run[key] = metrics.get(key)
        run["error"] = child.get("error")
        run["started_at"], run["finished_at"] = child.get("started_at"), child.get("finished_at")

    def _next_runs(self, parent: dict[str, Any], state: dict[str, Any],
                   runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        free = self.parallel() - sum(r["status"] in LIVE for r in runs)
        out: list[dict[str, Any]] = []
        while free > 0:
            run = self._next_run(state, [*runs, *out])
            if run is None:
                break
            out.append(run)
            free -= 1
        return out

    def _next_run(self, state: dict[str, Any], runs: list[dict[str, Any]]
                  ) -> dict[str, Any] | None:
        rungs = state["rungs"]
        if state["strategy"] == "halving":  # promotions first, from the highest rung down
            for rung in range(len(rungs) - 2, -1, -1):
                results = [(r["trial"], trial_score(r)[0]) for r in runs
                           if r["rung"] == rung and r["status"] == SUCCEEDED]
                promoted = {r["trial"] for r in runs if r["rung"] == rung + 1}
                trial = space_rules.promotable(results, promoted)
                if trial is not None:
                    params = next(r["params"] for r in runs if r["trial"] == trial)
                    return new_run(trial, rung + 1, rungs[rung + 1], params)
        started = len({r["trial"] for r in runs})
        if started >= state["budget"]["trials"]:
            return None
        params = space_rules.sample(state["space"], state["strategy"], state["seed"], started)
        return new_run(started, 0, rungs[0], params)

    def _launch(self, parent: dict[str, Any], run: dict[str, Any]) -> None:
        """Create the child record of a pending run and queue it (once: a second create of
        the same id fails)."""
        child_id = run["job_id"]
        params = {**parent["params"], **run["params"], "epochs": run["epochs"]}
        child = new_job(child_id, parent["model"], params, parent["dataset"])
        child.update(parent=parent["job_id"], trial={"trial": run["trial"], "rung": run["rung"]},
                     description=parent.get("description"))
        try:
            self.job_store.create(child)
        except Exception:  # created by another step, or the store refused: the next step sees
            return
        try:
            os.link(dataset_path(self.settings.store, parent["job_id"]),
                    dataset_path(self.settings.store, child_id))
        except FileExistsError:
            pass
        except OSError as exc:
            if self.job_store.transition(child_id, (QUEUED,), FAILED, error=error(
                    "dataset_error", f"the search's training data is gone: {exc.strerror}")):
                job_ended(self.job_store, child_id)
            return
        if self.job_store.get(parent["job_id"])["status"] != RUNNING:  # cancelled meanwhile
            if self.job_store.transition(child_id, (QUEUED,), CANCELLED, cancel_requested=True):
                remove_dataset(self.settings.store, child_id)
                job_ended(self.job_store, child_id)
            return
        try:
            self.enqueue(child_id)
        except Exception as exc:
            if self.job_store.transition(child_id, (QUEUED,), FAILED, error=error(
                    "queue_error", f"the job queue is unreachable: {exc}")):
                job_ended(self.job_store, child_id)

    # -- the end ----------------------------------------------------------------------------
    def _finish(self, parent: dict[str, Any], runs: list[dict[str, Any]]) -> None:
        parent_id = parent["job_id"]
        best = best_run(runs)
        if best is None:
            reasons = sorted({(r.get("error") or {}).get("type", r["status"]) for r in runs})
            if self.job_store.transition(parent_id, (RUNNING,), FAILED, error=error(
                    "search_failed", f"no trial succeeded ({', '.join(reasons) or 'none ran'})")):
                job_ended(self.job_store, parent_id)
            self._clean(parent_id)
            return
        try:
            artifact, meta = load_trial(self.settings.store, parent_id, best["job_id"])
            meta.update(job_id=parent_id, search={
                "strategy": parent["search"]["strategy"], "budget": parent["search"]["budget"],
                "space": parent["search"]["space"], "best_trial": best["trial"],
                "trials": trial_table(runs)})

            def commit(version: int) -> bool:
                return self.job_store.transition(parent_id, (RUNNING,), SUCCEEDED,
                                                 model_version=version)

            version = ModelStore(self.settings.store).publish(parent["model"], artifact, meta,
                                                              commit=commit)
        except PublishWithdrawn:
            return  # another step published it, or the search was cancelled meanwhile
        except (OSError, ServiceError) as exc:
            if self.job_store.transition(parent_id, (RUNNING,), FAILED, error=error(
                    "store_error", f"could not publish the best trial: {exc}")):
                job_ended(self.job_store, parent_id)
            return
        log.info("search %s published %s version %d (trial %d)", parent_id, parent["model"],
                 version, best["trial"])
        job_ended(self.job_store, parent_id)
        self._clean(parent_id)

    def _clean(self, parent_id: str) -> None:
        remove_trials(self.settings.store, parent_id)
        remove_dataset(self.settings.store, parent_id)

    def wind_down(self, parent: dict[str, Any]) -> None:
        """For a search that ended (cancelled, failed): cancel its live children; once none
        is left, remove its trial models and data."""
        live = 0
        for child_id in parent.get("children") or []:
            try:
                child = self.job_store.get(child_id)
            except NotFound:
                continue
            if child["status"] == QUEUED and self.job_store.transition(
                    child_id, (QUEUED,), CANCELLED, cancel_requested=True):
                remove_dataset(self.settings.store, child_id)
                try:
                    self.revoke(child_id)
                except Exception:  # the task skips cancelled jobs anyway
                    log.warning("could not revoke trial %s", child_id)
                job_ended(self.job_store, child_id)
            elif child["status"] == RUNNING:
                live += 1
                if not child["cancel_requested"]:
                    self.job_store.transition(child_id, (RUNNING,), RUNNING,
                                              cancel_requested=True)
        if not live:
            self._clean(parent["job_id"])

    def cancel(self, parent: dict[str, Any]) -> bool:
        """Cancel a running search and every queued and running trial of it."""
        if not self.job_store.transition(parent["job_id"], (QUEUED, RUNNING), CANCELLED,
                                         cancel_requested=True):
            return False
        job_ended(self.job_store, parent["job_id"])
        self.wind_down(self.job_store.get(parent["job_id"]))
        return True

    def after_child(self, child_id: str) -> None:
        """Advance the search of ``child_id`` (if it is a trial) once it ended."""
        try:
            parent_id = self.job_store.get(child_id).get("parent")
            if parent_id:
                self.advance(parent_id)
        except Exception:  # the reaper's next pass advances it
            log.warning("could not advance the search of trial %s", child_id, exc_info=True)

    def sweep(self) -> None:
        """Advance every running search, and finish cleaning up the ended ones whose trials
        outlived them (each reaper pass)."""
        jobs, _ = self.job_store.list(status=RUNNING, limit=500)
        for job in jobs:
            if job.get("kind") == KIND:
                self.advance(job["job_id"])
        folder = trials_root(self.settings.store)
        for leftover in folder.iterdir() if folder.is_dir() else ():
            try:
                parent = self.job_store.get(leftover.name)
            except NotFound:
                continue
            if parent["status"] != RUNNING:
                self.wind_down(parent)
