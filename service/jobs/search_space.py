"""Search spaces, strategies and budgets of a hyper-parameter search: their checks (422 naming
the field), reproducible sampling, the grid, and the rungs of asynchronous successive halving.

A space maps a parameter of ``MLPClassifier`` to a list of choices or to one distribution:
``{"log_uniform": [lo, hi]}``, ``{"uniform": [lo, hi]}`` or ``{"int_uniform": [lo, hi]}``
(both ends included). ``"auto"`` is ``AUTO_SPACE``. Pure functions: no store, no queue.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from models.params import PARAM_RANGES, check_param
from service.errors import Unprocessable, field_error

STRATEGIES = ("grid", "random", "halving")
DISTRIBUTIONS = ("log_uniform", "uniform", "int_uniform")
ETA = 3  # successive halving: the top 1/ETA of a rung go on with ETA× the epochs
DEFAULT_TRIALS = 16
#: Parameters a search may not vary: the budget owns epochs, and one seed keeps trials fair.
NOT_SEARCHABLE = ("epochs", "seed")

#: ``"search": "auto"``: a space for small tabular MLPs, adapted from AutoGluon's tabular
#: neural network (autogluon.tabular, TabularNeuralNetTorchModel's default search space:
#: learning_rate Real(1e-4, 3e-2, log), weight_decay Real(1e-12, 0.1, log), hidden_size
#: Int(8, 256) / 128-512 wide layers, activation relu/softrelu/tanh). Here: weight decay is
#: ``l2`` (from 1e-6: below that it does nothing at our epoch counts), widths 32-512 in one or
#: two layers (our data sets are small), and batch sizes a CPU trains quickly.
AUTO_SPACE: dict[str, Any] = {
    "hidden_layers": [[64], [128], [256], [512], [128, 128], [256, 128]],
    "activation": ["relu", "tanh"],
    "learning_rate": {"log_uniform": [1e-4, 3e-2]},
    "l2": {"log_uniform": [1e-6, 1e-1]},
    "batch_size": [32, 64, 128],
}


def check_space(space: Any, fixed: set[str] | dict[str, Any]) -> dict[str, Any]:
    """The search space, checked against the engine's parameter ranges; 422 naming
    ``search.<param>`` (or ``params.<param>`` when a searched parameter is also fixed)."""
    if space == "auto":
        space = AUTO_SPACE
    if not isinstance(space, dict) or not space:
        raise field_error("search", 'must be "auto" or an object: parameter → a list of choices '
                                    f"or one of {list(DISTRIBUTIONS)}")
    out: dict[str, Any] = {}
    for name, spec in space.items():
        field = f"search.{name}"
        if name not in PARAM_RANGES:
            raise field_error(field, "unknown parameter")
        if name in NOT_SEARCHABLE:
            raise field_error(field, "cannot be searched: the budget sets epochs, and the "
                                     "search's seed is params.seed")
        if name in fixed:
            raise field_error(f"params.{name}", "is searched (in search); give it in one place")
        out[name] = _check_dimension(field, name, spec)
    return out


def _check_dimension(field: str, name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        if not spec:
            raise field_error(field, "must list at least one choice")
        return [_value(f"{field}[{i}]", name, v) for i, v in enumerate(spec)]
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise field_error(field, f"must be a list of choices or one of {list(DISTRIBUTIONS)}")
    kind, bounds = next(iter(spec.items()))
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)):
        raise field_error(f"{field}.{kind}", "must be [low, high], two numbers")
    lo, hi = bounds
    if not lo < hi:
        raise field_error(f"{field}.{kind}", f"low ({lo}) must be below high ({hi})")
    numeric = PARAM_RANGES[name]["type"] in ("int", "float")
    if not numeric or (kind == "int_uniform" and PARAM_RANGES[name]["type"] != "int"):
        raise field_error(f"{field}.{kind}", f"does not fit {name}; give a list of choices")
    if kind == "log_uniform" and lo <= 0:
        raise field_error(f"{field}.{kind}", "needs a positive low end")
    if kind == "int_uniform" and not all(float(b).is_integer() for b in bounds):
        raise field_error(f"{field}.{kind}", "must be two integers")
    for end in bounds:
        _value(f"{field}.{kind}", name, int(end) if kind == "int_uniform" else end)
    return {kind: [lo, hi]}


def _value(field: str, name: str, value: Any) -> Any:
    try:
        return check_param(name, value)
    except ValueError as exc:
        raise field_error(field, str(exc)) from None


def check_strategy(strategy: Any) -> str:
    if strategy is None:
        return "halving"
    if strategy not in STRATEGIES:
        raise field_error("strategy", f"must be one of {list(STRATEGIES)}")
    return str(strategy)


def check_budget(budget: Any, space: dict[str, Any], strategy: str, default_epochs: int,
                 max_trials: int) -> dict[str, int]:
    """``{"trials", "max_epochs", "min_epochs"}``; the grid's size is its number of trials."""
    if budget is None:
        budget = {}
    if not isinstance(budget, dict):
        raise field_error("budget", 'must be an object: {"trials": N, "max_epochs": E}')
    unknown = sorted(set(budget) - {"trials", "max_epochs"})
    if unknown:
        raise field_error(f"budget.{unknown[0]}", "unknown field; use trials and max_epochs")
    for key in ("trials", "max_epochs"):
        value = budget.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise field_error(f"budget.{key}", "must be a positive integer")
    max_epochs = budget.get("max_epochs") or default_epochs
    _value("budget.max_epochs", "epochs", max_epochs)
    if strategy == "grid":
        size = grid_size(space)
        trials = budget.get("trials")
        if trials is not None and trials < size:
            raise field_error("budget.trials", f"is {trials}, but the grid has {size} points")
        trials = size
    else:
        trials = budget.get("trials") or min(DEFAULT_TRIALS, max_trials)
    if trials > max_trials:
        raise Unprocessable(f"budget.trials: {trials} trials exceed NNSERVE_MAX_TRIALS "
                            f"({max_trials})",
                            errors={"budget.trials": [f"at most {max_trials} (NNSERVE_MAX_TRIALS)"
                                                      f", got {trials}"]})
    min_epochs = max_epochs
    if strategy == "halving":  # as many rungs as the trials fill: ETA**k trials reach rung k
        rungs = int(math.log(trials, ETA) + 1e-9)
        min_epochs = max(1, round(max_epochs / ETA ** rungs))
    return {"trials": trials, "max_epochs": max_epochs, "min_epochs": min_epochs}


def grid_size(space: dict[str, Any]) -> int:
    for name, spec in space.items():
        if not isinstance(spec, list):
            raise field_error(f"search.{name}", "a grid takes lists of choices only")
    return math.prod(len(spec) for spec in space.values())


def sample(space: dict[str, Any], strategy: str, seed: int, index: int) -> dict[str, Any]:
    """The parameters of trial ``index``: the grid's point in order, or a draw from an RNG
    seeded by ``(seed, index)``, so a search and each of its trials are reproducible."""
    if strategy == "grid":
        names = list(space)
        point = next(itertools.islice(itertools.product(*space.values()), index, None))
        return dict(zip(names, point, strict=True))
    rng = np.random.default_rng([seed, index])
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            out[name] = spec[int(rng.integers(len(spec)))]
            continue
        kind, (lo, hi) = next(iter(spec.items()))
        if kind == "log_uniform":
            value: Any = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        elif kind == "uniform":
            value = float(rng.uniform(lo, hi))
        else:
            value = int(rng.integers(int(lo), int(hi) + 1))
        out[name] = check_param(name, value)
    return out


def rung_epochs(budget: dict[str, int]) -> list[int]:
    """Epochs of each rung: ``min_epochs``, ×ETA, ... up to ``max_epochs`` (the last rung)."""
    rungs = [budget["min_epochs"]]
    while rungs[-1] < budget["max_epochs"]:
        rungs.append(min(budget["max_epochs"], rungs[-1] * ETA))
    return rungs


def promotable(results: list[tuple[int, float]], promoted: set[int]) -> int | None:
    """ASHA's rule for one rung: among the ``(trial, loss)`` results finished there so far, a
    trial in the top ``len // ETA`` (lowest loss) not promoted yet, else None."""
    top = sorted(results, key=lambda r: r[1])[:len(results) // ETA]
    return next((trial for trial, _ in top if trial not in promoted), None)
