"""The state of a search in its parent record: the request's plan, one *run* per child job (a
trial at one rung), the progress and the trial table derived from the runs. Pure functions."""

from __future__ import annotations

import uuid
from typing import Any

from service.config import Settings
from service.jobs import search_space as space_rules
from service.jobs.records import ACTIVE, QUEUED, RUNNING, SUCCEEDED
from service.jobs.trials import trial_score

KIND = "search"
PENDING = "pending"  # a run decided on whose child record may not exist yet
LIVE = (PENDING, *ACTIVE)
RUN_FIELDS = ("val_loss", "val_accuracy", "loss", "accuracy")


def plan_search(search: Any, strategy: Any, budget: Any, given: set[str],
                params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The initial ``search`` state of a request (422 on a bad space, strategy or budget)."""
    space = space_rules.check_space(search, given)
    strategy = space_rules.check_strategy(strategy)
    checked = space_rules.check_budget(budget, space, strategy, params["epochs"],
                                       settings.max_trials)
    return {"strategy": strategy, "space": space, "budget": checked, "eta": space_rules.ETA,
            "seed": params["seed"], "rungs": space_rules.rung_epochs(checked)
            if strategy == "halving" else [checked["max_epochs"]], "runs": []}


def search_record(state: dict[str, Any]) -> dict[str, Any]:
    """The fields a parent record adds to ``new_job``'s."""
    return {"kind": KIND, "search": state, "rev": 0, "children": [],
            "progress": progress_of(state, [])}


def progress_of(state: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    done = [r for r in runs if r["status"] not in LIVE]
    best = best_run(runs)
    return {"epoch": None, "epochs": state["budget"]["max_epochs"], "loss": None,
            "accuracy": None, "val_accuracy": None,
            "trials_total": state["budget"]["trials"],
            "trials_started": len({r["trial"] for r in runs}),
            "trials_done": len(done),
            "trials_running": sum(r["status"] == RUNNING for r in runs),
            "trials_queued": sum(r["status"] in (PENDING, QUEUED) for r in runs),
            "best": None if best is None else {
                "trial": best["trial"], "job_id": best["job_id"], "params": best["params"],
                "epochs": best["epochs_reached"], "val_loss": best["val_loss"],
                "val_accuracy": best["val_accuracy"]}}


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    done = [r for r in runs if r["status"] == SUCCEEDED]
    return min(done, key=trial_score, default=None)


def trial_table(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run: the trial, its rung, params, epochs reached, scores, status, host."""
    keys = ("trial", "rung", "epochs", "epochs_reached", "params", *RUN_FIELDS, "status",
            "host", "job_id", "error", "started_at", "finished_at")
    return [{k: r.get(k) for k in keys} for r in runs]


def new_run(trial: int, rung: int, epochs: int, params: dict[str, Any]) -> dict[str, Any]:
    return {"trial": trial, "rung": rung, "epochs": epochs, "params": params,
            "job_id": uuid.uuid4().hex, "status": PENDING, "epochs_reached": 0,
            "host": None, "error": None, "started_at": None, "finished_at": None,
            **dict.fromkeys(RUN_FIELDS)}
