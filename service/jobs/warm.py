"""``params.warm_start_from``: a training job that starts from an earlier version of its model.

At submit the reference (a version number, ``latest`` or an alias) is resolved to a version,
which the job record keeps in ``params.warm_start_from``, and the request is checked against
that version's metadata, so a mismatch is a 422 naming what differs rather than a failed job:
the architecture (``hidden_layers``, ``activation``), the data's columns against the parent's
input, the kind of labels, and no encoding options (the parent's encoding is kept). The job
then loads the parent's artifact and hands it to ``MLPClassifier.fit(warm_start=...)``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from models import MLPClassifier
from models.tabular import Table
from models.warm_start import WarmStartError, check_architecture, check_columns
from service.errors import ServiceError, field_error
from service.jobs.validation import TrainingData
from service.names import MAX_VERSION, is_version_ref, validate_alias
from service.store import ModelStore

PARAM = "warm_start_from"


def take(params: Any) -> tuple[Any, int | str | None]:
    """``params`` without ``warm_start_from``, and its value (None when absent)."""
    if not isinstance(params, dict) or PARAM not in params:
        return params, None
    rest = {k: v for k, v in params.items() if k != PARAM}
    ref = params[PARAM]
    if isinstance(ref, bool) or not isinstance(ref, int | str) or ref is None:
        raise field_error(f"params.{PARAM}", "must be a version number or an alias")
    if isinstance(ref, int) and not 1 <= ref <= MAX_VERSION:
        raise field_error(f"params.{PARAM}", f"version numbers are 1 to {MAX_VERSION}")
    if isinstance(ref, str) and ref != "latest" and not is_version_ref(ref):
        try:
            validate_alias(ref)
        except ServiceError:
            raise field_error(f"params.{PARAM}", "must be a version number or an "
                                                 "alias") from None
    return rest, ref


def check_parent(store: ModelStore, model: str, ref: int | str, params: dict[str, Any],
                 encoding: dict[str, Any], data: TrainingData) -> int:
    """The parent version ``ref`` names, once the request fits it; else 422 naming the field."""
    try:
        version = store.resolve(model, ref)
        meta = store.meta(model, version)
    except ServiceError as exc:
        raise field_error(f"params.{PARAM}", exc.detail) from None
    if encoding:
        name = next(iter(encoding))
        raise field_error(f"params.{name}", "a warm start keeps the parent's encoding; leave "
                                            "the encoding options out")
    try:
        check_architecture(meta["params"], params)
        schema = meta.get("input_schema")
        parent_names: list[str] | None
        if schema is not None:
            parent_names = [column["name"] for column in schema]
        else:
            if isinstance(data.X, Table) and data.feature_names is None:
                raise WarmStartError("the parent takes rows of numbers", "data.features")
            parent_names = meta.get("feature_names") or None
        width = len(data.X.names) if isinstance(data.X, Table) else int(data.X.shape[1])
        check_columns(parent_names, int(meta.get("n_features") or 0), data.feature_names,
                      width, schema is not None)
        parent_ints = all(isinstance(c, int) for c in meta.get("classes", []))
        if parent_ints != (data.y.dtype.kind == "i"):
            raise WarmStartError(
                f"the labels are {'integers' if data.y.dtype.kind == 'i' else 'strings'}; the "
                f"parent's classes are {'integers' if parent_ints else 'strings'}",
                "data.labels")
    except WarmStartError as exc:
        raise field_error(exc.field, f"{exc} (warm start from version {version})") from None
    return version


def load_parent(store: ModelStore, model: str, version: int) -> MLPClassifier:
    """The parent as the job trains from it; ValueError (the job fails ``invalid_data``) when
    it was deleted or cannot be read since the job was submitted."""
    try:
        return MLPClassifier.load(io.BytesIO(store.read_artifact(model, version)))
    except ServiceError as exc:
        raise ValueError(f"the warm start's parent, version {version}, cannot be read: "
                         f"{exc.detail}") from None


def lineage(job: dict[str, Any], clf: MLPClassifier) -> dict[str, Any]:
    """What the new version's metadata records of its parent (nothing for a cold start)."""
    parent = job["params"].get(PARAM)
    if parent is None:
        return {}
    added = np.asarray(clf.classes_added_).tolist() if clf.classes_added_ else []
    return {"parent_version": parent, "classes_added": added}
