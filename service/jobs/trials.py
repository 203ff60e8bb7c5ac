"""Trial models of a search, kept in the store until the search publishes one of them.

A trial (a child job) that trains to its end writes ``<store>/trials/<parent>/<job>.npz`` and
``<job>.json`` (its would-be version meta) instead of publishing a version; the parent publishes
the best trial's files as they are, so nothing is trained twice, and removes the folder when the
search ends. The store is the same directory on every host (a shared volume), so any process may
publish a trial another host trained.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from models import MLPClassifier


def trials_root(store: Path | str) -> Path:
    return Path(store) / "trials"


def trial_dir(store: Path | str, parent_id: str) -> Path:
    return trials_root(store) / parent_id


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_trial(store: Path | str, parent_id: str, job_id: str, clf: MLPClassifier,
               meta: dict[str, Any]) -> None:
    """Write the trial's artifact and meta atomically (OSError when the store refuses)."""
    folder = trial_dir(store, parent_id)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{job_id}.npz.{os.getpid()}.tmp", "wb") as f:
        clf.save(f)
    os.replace(folder / f".{job_id}.npz.{os.getpid()}.tmp", folder / f"{job_id}.npz")
    _write(folder / f"{job_id}.json", json.dumps(meta).encode())


def load_trial(store: Path | str, parent_id: str, job_id: str) -> tuple[bytes, dict[str, Any]]:
    """The artifact bytes and meta ``save_trial`` wrote; OSError when missing."""
    folder = trial_dir(store, parent_id)
    meta = json.loads((folder / f"{job_id}.json").read_bytes())
    return (folder / f"{job_id}.npz").read_bytes(), meta


def remove_trials(store: Path | str, parent_id: str) -> None:
    shutil.rmtree(trial_dir(store, parent_id), ignore_errors=True)


def trial_score(metrics: dict[str, Any] | None) -> tuple[float, float]:
    """The sort key of a finished trial, best first: validation loss (training loss without a
    validation part), ties broken by the higher validation accuracy."""
    metrics = metrics or {}
    loss = metrics.get("val_loss")
    if loss is None:
        loss = metrics.get("loss")
    accuracy = metrics.get("val_accuracy")
    if accuracy is None:
        accuracy = metrics.get("accuracy")
    loss = math.inf if loss is None or not math.isfinite(loss) else float(loss)
    return loss, -float(accuracy or 0.0)
