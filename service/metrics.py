"""Prometheus metrics, correct across processes (no Flask here: handlers and workers use it).

prometheus_client's multiprocess mode: gunicorn's master calls :func:`on_starting` (an empty
``PROMETHEUS_MULTIPROC_DIR``, inherited by the workers and the embedded training worker),
:func:`child_exit` and :func:`on_exit`; ``GET /metrics`` merges every process's files.
prometheus_client fixes its mode when first imported, so this module imports it lazily, never
before the variable is set. Without it (tests, one process) the default registry is exposed.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily at run time: see above
    from prometheus_client import CollectorRegistry

log = logging.getLogger("nnserve.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TRAINING_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

Source = Callable[[], float | int | None]
_sources: dict[str, Source | None] = {"models_loaded": None, "queue_depth": None,
                                      "store_writable": None}
_owned_dir: Path | None = None  # the temporary metrics directory this process created
_lock = threading.Lock()


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # no *_created series: the same output as multiprocess mode
        http = ["method", "endpoint", "status"]
        self.requests = Counter("nnserve_http_requests", "HTTP requests answered.", http)
        self.latency = Histogram("nnserve_http_request_duration_seconds",
                                 "Seconds from request to response.", http)
        self.predictions = Counter("nnserve_predictions", "Prediction requests answered.",
                                   ["model", "version"])
        self.rows = Counter("nnserve_predicted_rows", "Rows predicted.", ["model", "version"])
        self.prediction_latency = Histogram(
            "nnserve_prediction_duration_seconds",
            "Seconds from request to response of answered predictions, by serving version.",
            ["model", "version"])
        self.unseen = Counter("nnserve_unseen_categories",
                              "Categorical cells never seen in training, served as 'other'.",
                              ["model", "feature"])
        self.jobs = Counter("nnserve_training_jobs", "Training jobs finished, by final status.",
                            ["status"])
        self.training = Histogram("nnserve_training_duration_seconds",
                                  "Seconds finished training jobs ran.", ["status"],
                                  buckets=TRAINING_BUCKETS)
        self.models_loaded = Gauge("nnserve_models_loaded", "Model versions loaded in caches.",
                                   multiprocess_mode="livesum")



_metrics: _Metrics | None = None
_default_registered = False  # the scrape-time collector, in single-process mode


def _get_metrics() -> _Metrics:
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = _Metrics()
    return _metrics


def multiprocess_enabled() -> bool:
    """Whether prometheus_client runs in multiprocess mode in this process (imports it)."""
    from prometheus_client import values

    return _is_multiprocess(values)


def _is_multiprocess(values: ModuleType) -> bool:
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class _ScrapeTimeCollector:
    """Gauges read from their sources at each scrape (the job store and the model store are
    shared, so one process's view is everyone's)."""

    _GAUGES = (("queue_depth", "nnserve_queue_depth", "Training jobs queued, not started."),
               ("store_writable", "nnserve_store_writable",
                "1 when the model store accepts new versions, 0 when it is full or read-only "
                "(predictions go on; training fails)."))

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for source, name, documentation in self._GAUGES:
            value = _call_source(source)
            if value is not None:
                yield GaugeMetricFamily(name, documentation, value=float(value))



_scrape_collector = _ScrapeTimeCollector()


def exposition_registry() -> CollectorRegistry:
    """What to expose: every process's files in multiprocess mode, else the default registry."""
    global _default_registered
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    _get_metrics()
    if multiprocess_enabled():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(_scrape_collector)
        return registry
    with _lock:
        if not _default_registered:
            REGISTRY.register(_scrape_collector)
            _default_registered = True
    return REGISTRY


_prediction_children: dict[tuple[str, int | str], tuple[Any, Any]] = {}


def record_prediction(model: str, version: int | str, rows: int) -> None:
    """Count one answered prediction request of ``rows`` rows."""
    children = _prediction_children.get((model, version))
    if children is None:  # labels() validates and hashes on every call: keep its children
        m = _get_metrics()
        children = _prediction_children[(model, version)] = (
            m.predictions.labels(model, str(version)), m.rows.labels(model, str(version)))
    children[0].inc()
    children[1].inc(rows)


_latency_children: dict[tuple[str, int], Any] = {}


def record_prediction_latency(model: str, version: int, seconds: float) -> None:
    """Observe the duration of one answered prediction request served by ``version``."""
    child = _latency_children.get((model, version))
    if child is None:
        child = _latency_children[(model, version)] = \
            _get_metrics().prediction_latency.labels(model, str(version))
    child.observe(seconds)


def record_unseen_categories(model: str, feature: str, count: int) -> None:
    """Count ``count`` cells of ``feature`` whose category ``model`` never saw in training."""
    _get_metrics().unseen.labels(model, feature).inc(count)


def record_job_finished(status: str, seconds: float | None) -> None:
    """Count a training job that reached its final ``status``; ``seconds`` it ran, if it did."""
    m = _get_metrics()
    m.jobs.labels(status).inc()
    if seconds is not None:
        m.training.labels(status).observe(seconds)


def set_models_loaded_source(source: Source | None) -> None:
    """``source()``, called in the app context after each request and at scrape time, returns
    this process's number of loaded model versions (None: unknown)."""
    _sources["models_loaded"] = source


def set_queue_depth_source(source: Source | None) -> None:
    """``source()``, called in the app context at scrape time, returns the queued job count."""
    _sources["queue_depth"] = source


def set_store_writable_source(source: Source | None) -> None:
    """``source()``, called in the app context at scrape time, returns 1 when the model store
    can be written, else 0."""
    _sources["store_writable"] = source


def _call_source(name: str) -> float | int | None:
    source = _sources[name]
    try:
        return None if source is None else source()
    except Exception:  # a broken source must break neither requests nor the scrape
        log.warning("metrics source %s failed", name, exc_info=True)
        return None


def _update_models_loaded() -> None:
    value = _call_source("models_loaded")
    if value is not None:
        _get_metrics().models_loaded.set(value)


def setup_multiprocess_dir(path: str | Path | None = None, *, wipe: bool = True) -> Path:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` to ``path`` (default: its current value, else a new
    temporary directory) and delete the ``*.db`` files there. Before prometheus_client loads."""
    global _owned_dir
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not _is_multiprocess(values):
        raise RuntimeError(f"prometheus_client was imported before {MULTIPROC_ENV} was set: "
                           "its metrics would stay per process")
    chosen = path or os.environ.get(MULTIPROC_ENV)
    if chosen:
        directory = Path(chosen)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db") if wipe else ():
            stale.unlink()
    else:
        directory = _owned_dir = Path(tempfile.mkdtemp(prefix="nnserve-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def on_starting(server: Any) -> None:
    """gunicorn ``on_starting``: an empty metrics directory for this run, before any fork."""
    directory = setup_multiprocess_dir()
    # Imported here, not first in child_exit: that runs in a SIGCHLD handler, and a second
    # signal during the first import re-enters it half done (ImportError: the master dies).
    import prometheus_client.multiprocess  # noqa: F401
    server.log.info("metrics directory %s", directory)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn ``child_exit``: drop the dead worker's live gauges (its counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any = None) -> None:
    """gunicorn ``on_exit`` (call it last): remove the temporary metrics directory, if any."""
    global _owned_dir
    if _owned_dir is not None:
        shutil.rmtree(_owned_dir, ignore_errors=True)
        _owned_dir = None


def init_worker_metrics(port: int, host: str) -> Path | None:
    """``nnserve worker``, before any job process starts: serve the metrics of this worker's
    processes at ``http://host:port/metrics``. Nothing when ``port`` is 0."""
    if not port:
        return None
    directory = setup_multiprocess_dir(wipe=False)
    atexit.register(on_exit)
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=exposition_registry())
    return directory
