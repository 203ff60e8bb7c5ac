"""Pieces the TF Serving and KServe handlers share (transport-free).

Model names and versions arrive in URL paths, so a malformed one names nothing and is a 404; rows
can be given as objects keyed by the feature names a model was trained with (named CSV columns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from service.errors import BadRequest, NotFound
from service.model_cache import LoadedModel
from service.names import MAX_VERSION, is_model_name

INPUT = "features"  # the one input tensor of every model: shape [-1, n_features]
_VERSION_DIGITS = len(str(MAX_VERSION))


def check_name(name: str) -> str:
    """A model name from a URL; one that cannot exist is simply not found."""
    if not is_model_name(name):
        raise NotFound(f"model {name!r} not found")
    return name


def version_number(version: str, name: str) -> int:
    """A version number from a URL (digits); out of range → not found."""
    # Too many digits is out of range too: int() refuses more than 4300 (ValueError).
    number = int(version) if len(version) <= _VERSION_DIGITS else 0
    if not 1 <= number <= MAX_VERSION:
        raise NotFound(f"version {version[:32]} of model {name!r} not found")
    return number


def alias_ref(alias: str, name: str) -> str:
    """An alias (TF Serving label) from a URL; one that cannot exist → not found."""
    if alias != "latest" and (not is_model_name(alias) or alias.isdigit()):
        raise NotFound(f"alias {alias!r} of model {name!r} not found")
    return alias


def url_ref(name: str, version: str | None = None, label: str | None = None) -> int | str | None:
    """The version a URL names: a ``/versions/<v>`` segment is a version number when it is all
    digits and an alias otherwise, a ``/labels/<label>`` segment an alias; neither: the newest.

    A model name, version or alias that cannot exist is not found (404).
    """
    check_name(name)
    if label is not None:
        return alias_ref(label, name)
    if version is None:
        return None
    if version.isascii() and version.isdigit():
        return version_number(version, name)
    return alias_ref(version, name)


def feature_names(loaded: LoadedModel) -> list[str] | None:
    """The model's feature names (named CSV columns at training), or None."""
    names = loaded.meta.get("feature_names") or getattr(loaded.model, "feature_names_", None)
    return list(names) if names else None


def _listing(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _check_keys(keys: list[str], names: list[str], field: str) -> None:
    known = set(names)
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise BadRequest(f"{field}: unknown feature {_listing(unknown)}; the model's features "
                         f"are {_listing(names)}")
    present = set(keys)
    missing = [n for n in names if n not in present]
    if missing:
        raise BadRequest(f"{field}: missing feature {_listing(missing)}")


def _number(value: Any, field: str) -> int | float:
    if isinstance(value, list) and len(value) == 1:  # tf.Example style: a one-value feature list
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{field}: must be a number (or a list of one number)")
    return value


def named_row(obj: dict[str, Any], names: list[str], field: str) -> list[int | float]:
    """One row from ``{feature_name: value}``, columns in the model's feature order."""
    _check_keys(list(obj), names, field)
    return [_number(obj[n], f"{field}.{n}") for n in names]


def stack_columns(columns: dict[str, Any], names: list[str], field: str) -> np.ndarray:
    """A (n_rows, n_features) matrix from ``{feature_name: column}``; a column is [N] or [N, 1]."""
    _check_keys(list(columns), names, field)
    stacked, length = [], None
    for name in names:
        try:
            col = np.asarray(columns[name])
        except ValueError:
            raise BadRequest(f"{field}.{name}: must be a list of numbers") from None
        if col.ndim == 2 and col.shape[1] == 1:
            col = col[:, 0]
        if col.ndim != 1 or col.dtype.kind not in "iuf":
            raise BadRequest(f"{field}.{name}: must be a list of numbers, one per row")
        if length is not None and len(col) != length:
            raise BadRequest(f"{field}.{name}: has {len(col)} values; {field}.{names[0]} "
                             f"has {length}")
        length = len(col)
        stacked.append(col)
    return np.column_stack(stacked)
