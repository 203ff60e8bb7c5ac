"""Training sets on disk: ``<store>/datasets/<job_id>.npz``, written before a job is queued and
removed when it ends (``sweep_datasets`` removes those a crash left behind). The queue message
carries only the job id."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from models.tabular import Table
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


def _table_json(table: Table) -> bytes:
    return orjson.dumps({"names": table.names, "columns": [list(c) for c in table.columns],
                         "text": table.text})


def table_fingerprint(table: Table, y: np.ndarray) -> str:
    """sha256 of a tabular set: its columns as JSON (cells as given) and the labels."""
    h = hashlib.sha256(_table_json(table))
    h.update(json.dumps(y.tolist()).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Dataset:
    """A training set as a job reads it back: a float64 matrix or a ``Table``."""

    X: np.ndarray | Table
    y: np.ndarray
    feature_names: list[str] | None
    encoding: dict[str, Any]


def write_dataset(path: Path, X: np.ndarray | Table, y: np.ndarray,
                  feature_names: list[str] | None = None,
                  encoding: dict[str, Any] | None = None) -> None:
    """Write atomically: through a file object to a temp name, then ``os.replace``.

    A ``Table`` is kept as JSON bytes (a uint8 array), so the file holds no pickle either way.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"y": np.asarray(y)}
    if isinstance(X, Table):
        arrays["table"] = np.frombuffer(_table_json(X), dtype=np.uint8)
    else:
        arrays["X"] = np.asarray(X, dtype=np.float64)
    if feature_names is not None:
        arrays["feature_names"] = np.asarray(feature_names, dtype=str)
    if encoding:
        arrays["encoding"] = np.frombuffer(orjson.dumps(encoding), dtype=np.uint8)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_dataset(path: Path) -> Dataset:
    """The set written by ``write_dataset`` (float32 X in sets written before float64 was);
    OSError when missing, ValueError when unreadable."""
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
        names = data["feature_names"].tolist() if "feature_names" in data.files else None
        encoding = orjson.loads(data["encoding"].tobytes()) if "encoding" in data.files else {}
        if "table" in data.files:
            doc = orjson.loads(data["table"].tobytes())
            X: np.ndarray | Table = Table(doc["names"], doc["columns"], doc["text"])
        else:
            X = data["X"]
        return Dataset(X, data["y"], names, encoding)


def remove_dataset(store: Path | str, job_id: str) -> None:
    with contextlib.suppress(OSError):
        dataset_path(store, job_id).unlink()


def sweep_datasets(job_store: JobStore, settings: Settings,
                   min_age_s: float = 3600.0) -> list[str]:
    """Remove dataset files older than ``min_age_s`` whose job has ended or has no record (an
    API process died between writing the file and creating the record)."""
    removed: list[str] = []
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
