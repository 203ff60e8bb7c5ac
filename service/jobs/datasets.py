"""Training sets on disk: ``<store>/datasets/<job_id>.npz``, written before a job is queued and
removed when it ends (``sweep_datasets`` removes those a crash left behind). The queue message
carries only the job id."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from service.config import Settings
from service.errors import NotFound
from service.jobs.records import FINISHED, JobStore


def dataset_path(store: Path | str, job_id: str) -> Path:
    return Path(store) / "datasets" / f"{job_id}.npz"


def fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the float64 features (with their shape) and the labels."""
    h = hashlib.sha256(f"{X.shape[0]}x{X.shape[1]}\0".encode())
    h.update(np.ascontiguousarray(X, dtype="<f8").tobytes())
    h.update(json.dumps(y.tolist()).encode())
    return h.hexdigest()


def write_dataset(path: Path, X: np.ndarray, y: np.ndarray,
                  feature_names: list[str] | None = None) -> None:
    """Write atomically: through a file object to a temp name, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"X": np.asarray(X, dtype=np.float64), "y": np.asarray(y)}
    if feature_names is not None:
        arrays["feature_names"] = np.asarray(feature_names, dtype=str)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_dataset(path: Path) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """``(X, y, feature_names or None)``, X float64 (float32 in sets written before it was);
    OSError when missing."""
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
        names = data["feature_names"].tolist() if "feature_names" in data.files else None
        return data["X"], data["y"], names


def remove_dataset(store: Path | str, job_id: str) -> None:
    with contextlib.suppress(OSError):
        dataset_path(store, job_id).unlink()


def sweep_datasets(job_store: JobStore, settings: Settings,
                   min_age_s: float = 3600.0) -> list[str]:
    """Remove dataset files older than ``min_age_s`` whose job has ended or has no record (an
    API process died between writing the file and creating the record)."""
    removed = []
    folder = settings.store / "datasets"
    if not folder.is_dir():
        return removed
    for path in folder.glob("*.npz"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime < min_age_s:
                continue
            try:
                ended = job_store.get(path.stem)["status"] in FINISHED
            except NotFound:
                ended = True
            if ended:
                path.unlink()
                removed.append(path.stem)
    return removed
