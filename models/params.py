"""Hyper-parameters of ``MLPClassifier``: defaults, valid ranges and their validation.

``PARAM_RANGES`` is plain data (JSON-serialisable) so the service can reuse it to validate
training requests and to document them; ``check_params`` applies it and raises ``ValueError``
naming the offending parameter. Each entry has a ``type``:

- ``"int"`` / ``"float"``: ``min`` and ``max`` bounds, exclusive where ``min_exclusive`` /
  ``max_exclusive`` is true;
- ``"bool"``;
- ``"choice"``: one of ``choices``;
- ``"int_list"``: a list of ints each within ``min``..``max``, at most ``max_length`` long.
"""

from __future__ import annotations

import numbers
from typing import Any

DEFAULTS: dict[str, Any] = {
    "hidden_layers": (64,),
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "epochs": 50,
    "batch_size": 32,
    "l2": 0.0,
    "validation_split": 0.1,
    "early_stopping": True,
    "patience": 10,
    "seed": 0,
    "momentum": 0.9,
    "nesterov": False,
    "dtype": "float32",
}

#: Activations ``fit`` can train. ``step`` is also accepted by the constructor (see
#: ``INFERENCE_ONLY_ACTIVATIONS``) but has no gradient, so ``fit`` rejects it.
TRAINABLE_ACTIVATIONS = ("relu", "sigmoid", "tanh")
INFERENCE_ONLY_ACTIVATIONS = ("step",)

PARAM_RANGES: dict[str, dict[str, Any]] = {
    "hidden_layers": {"type": "int_list", "min": 1, "max": 4096, "max_length": 8},
    "activation": {"type": "choice", "choices": list(TRAINABLE_ACTIVATIONS)},
    "optimizer": {"type": "choice", "choices": ["adam", "momentum", "sgd"]},
    "learning_rate": {"type": "float", "min": 0.0, "min_exclusive": True, "max": 10.0},
    "epochs": {"type": "int", "min": 1, "max": 100_000},
    "batch_size": {"type": "int", "min": 1, "max": 65_536},
    "l2": {"type": "float", "min": 0.0, "max": 10.0},
    "validation_split": {"type": "float", "min": 0.0, "max": 0.5},
    "early_stopping": {"type": "bool"},
    "patience": {"type": "int", "min": 1, "max": 10_000},
    "seed": {"type": "int", "min": 0, "max": 2**32 - 1},
    "momentum": {"type": "float", "min": 0.0, "max": 1.0, "max_exclusive": True},
    "nesterov": {"type": "bool"},
    "dtype": {"type": "choice", "choices": ["float32", "float64"]},
}

#: How tabular input is encoded (``MLPClassifier.fit``'s keyword arguments, not network
#: hyper-parameters: a numeric model has none of them). Same entry format as ``PARAM_RANGES``.
TABULAR_DEFAULTS: dict[str, Any] = {"max_categories": 32, "min_frequency": 2}
TABULAR_PARAM_RANGES: dict[str, dict[str, Any]] = {
    "max_categories": {"type": "int", "min": 1, "max": 1024},
    "min_frequency": {"type": "int", "min": 1, "max": 1_000_000},
}

#: Options of a training job rather than of the model (``MLPClassifier`` never sees them):
#: ``test_split`` is the share of each class held out of training to evaluate the model on.
JOB_DEFAULTS: dict[str, Any] = {"test_split": 0.2}
JOB_PARAM_RANGES: dict[str, dict[str, Any]] = {
    "test_split": {"type": "float", "min": 0.0, "max": 0.5},
}


def _check_number(name: str, value: Any, spec: dict[str, Any]) -> int | float:
    kind = spec["type"]
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind == "int" and not is_int:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = int(value) if kind == "int" else float(value)
    lo, hi = spec["min"], spec["max"]
    too_low = value <= lo if spec.get("min_exclusive") else value < lo
    too_high = value >= hi if spec.get("max_exclusive") else value > hi
    if too_low or too_high or value != value:   # value != value: NaN
        left = "(" if spec.get("min_exclusive") else "["
        right = ")" if spec.get("max_exclusive") else "]"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return value


def _check_int_list(name: str, value: Any, spec: dict[str, Any]) -> list[int]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a list of integers, got {value!r}")
    items = list(value)
    if len(items) > spec["max_length"]:
        raise ValueError(f"{name} must have at most {spec['max_length']} entries, got {len(items)}")
    item_spec = {"type": "int", "min": spec["min"], "max": spec["max"]}
    return [int(_check_number(f"{name}[{i}]", v, item_spec)) for i, v in enumerate(items)]


def check_param(name: str, value: Any, allow_inference_only: bool = False) -> Any:
    """Validate one parameter against ``PARAM_RANGES`` and return it normalised.

    Parameters
    ----------
    name : str
        A key of ``PARAM_RANGES``, ``TABULAR_PARAM_RANGES`` or ``JOB_PARAM_RANGES``.
    value : Any
        The candidate value.
    allow_inference_only : bool
        Also accept activations that only work for inference (``step``).

    Returns
    -------
    value : int, float, bool, str or list of int
        Normalised (numpy scalars become Python ones, ``hidden_layers`` a list).

    Raises
    ------
    ValueError
        Naming the parameter and the valid range.
    """
    spec = PARAM_RANGES.get(name) or TABULAR_PARAM_RANGES.get(name) or \
        JOB_PARAM_RANGES.get(name)
    if spec is None:
        raise ValueError(f"unknown parameter {name!r}; expected one of {sorted(PARAM_RANGES)}")
    kind = spec["type"]
    if kind == "bool":
        if not isinstance(value, bool) and type(value).__name__ != "bool_":
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return bool(value)
    if kind == "choice":
        choices = list(spec["choices"])
        if allow_inference_only and name == "activation":
            choices += INFERENCE_ONLY_ACTIVATIONS
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        return value
    if kind == "int_list":
        return _check_int_list(name, value, spec)
    return _check_number(name, value, spec)


def check_params(params: dict[str, Any], allow_inference_only: bool = False) -> dict[str, Any]:
    """Validate a full or partial parameter dict; see ``check_param``.

    Returns
    -------
    params : dict
        Normalised copy, in ``PARAM_RANGES`` order.
    """
    unknown = set(params) - set(PARAM_RANGES)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}; "
                         f"expected some of {sorted(PARAM_RANGES)}")
    return {name: check_param(name, params[name], allow_inference_only)
            for name in PARAM_RANGES if name in params}
