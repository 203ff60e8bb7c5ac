"""All configuration, read from ``NNSERVE_*`` environment variables in this one place.

``SETTINGS`` is the table the README documents (name, default, meaning); ``Settings.from_env``
reads it, and ``create_app(test_config)`` may override any field by its lower-case name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


class LogFormat(str):
    """A log format name: ``json``, ``text`` or ``auto``."""

    choices = ("json", "text", "auto")

    def __new__(cls, raw: object) -> LogFormat:
        value = str(raw).strip().lower()
        if value not in cls.choices:
            raise ValueError(raw)
        return super().__new__(cls, value)


# (env var, field, type, default, meaning) — the README's settings table is generated from this.
SETTINGS: list[tuple[str, str, type, Any, str]] = [
    ("NNSERVE_STORE", "store", Path, "./var",
     "Directory holding models (`models/<name>/<version>/`), job records and the SQLite queue."),
    ("NNSERVE_QUEUE", "queue", str, "sqlite",
     "`sqlite` (embedded, a file in the store) or `redis://host:port/db` to scale out."),
    ("NNSERVE_HOST", "host", str, "127.0.0.1", "Address `nnserve serve` binds."),
    ("NNSERVE_PORT", "port", int, 8000, "Port `nnserve serve` binds."),
    ("NNSERVE_WORKERS", "workers", int, 2, "gunicorn worker processes."),
    ("NNSERVE_EMBEDDED_WORKER", "embedded_worker", bool, True,
     "Whether `nnserve serve` also starts a training worker (`--no-worker` sets it false)."),
    ("NNSERVE_WORKER_CONCURRENCY", "worker_concurrency", int, 1,
     "Training jobs one `nnserve worker` runs at once (processes)."),
    ("NNSERVE_GRACEFUL_TIMEOUT", "graceful_timeout", int, 8,
     "Seconds gunicorn lets in-flight requests finish after SIGTERM (keep below compose's "
     "`stop_grace_period`)."),
    ("NNSERVE_MAX_BODY_MB", "max_body_mb", float, 64.0,
     "Largest request body in MiB; larger ones get 413."),
    ("NNSERVE_HEADER_TIMEOUT", "header_timeout", float, 10.0,
     "Seconds a client has to send its request line and headers; then the connection is "
     "closed. Also bounds the time to write an answer to a client that does not read it."),
    ("NNSERVE_BODY_MIN_RATE", "body_min_rate_kib", float, 64.0,
     "KiB/s a request body must keep up after `NNSERVE_BODY_GRACE`; a slower client gets 408."),
    ("NNSERVE_BODY_GRACE", "body_grace", float, 5.0,
     "Seconds a request body may take before `NNSERVE_BODY_MIN_RATE` applies."),
    ("NNSERVE_TRUSTED_PROXIES", "trusted_proxies", str, "",
     "Comma-separated addresses or networks of proxies (the nginx front door) whose "
     "`X-Forwarded-For` gives the client address; empty: the header is ignored."),
    ("NNSERVE_MAX_ROWS", "max_rows", int, 100_000, "Rows per predict request or training set."),
    ("NNSERVE_MAX_FEATURES", "max_features", int, 10_000, "Features per row."),
    ("NNSERVE_MAX_TRAIN_WORK", "max_train_work", int, 50_000_000,
     "Upper bound of epochs × rows for one training job."),
    ("NNSERVE_JOB_TIMEOUT", "job_timeout", float, 3600.0,
     "Wall-clock seconds one training job may run before it is failed."),
    ("NNSERVE_MAX_QUEUED_PER_MODEL", "max_queued_per_model", int, 16,
     "Queued or running jobs per model name; beyond it POST /train answers 429."),
    ("NNSERVE_MAX_TRIALS", "max_trials", int, 64,
     "Trials one hyper-parameter search may run (`budget.trials`, a grid's size); more: 422."),
    ("NNSERVE_SEARCH_SPARE_SLOTS", "search_spare_slots", int, 1,
     "Worker slots a search leaves to other training jobs when the pool has more than one "
     "(it runs at most slots − this many trials at once, and always at least one)."),
    ("NNSERVE_HEARTBEAT_INTERVAL", "heartbeat_interval", float, 2.0,
     "Seconds between a worker's heartbeats on its running job."),
    ("NNSERVE_HEARTBEAT_TIMEOUT", "heartbeat_timeout", float, 30.0,
     "A running job whose heartbeat is older than this is failed (its worker died)."),
    ("NNSERVE_CACHE_SIZE", "cache_size", int, 16, "Loaded model versions kept per API process."),
    ("NNSERVE_API_KEYS", "api_keys", str, "",
     "API keys: `key:scope1+scope2,...` (scopes predict, train, admin) or `@file` with one "
     "`sha256hex:scopes` per line. Empty: no authentication (loopback only)."),
    ("NNSERVE_LOG_LEVEL", "log_level", str, "INFO", "Log level of the logs."),
    ("NNSERVE_LOG_FORMAT", "log_format", LogFormat, "auto",
     "`json` (one object per line), `text` (one readable line, level in colour on a terminal) "
     "or `auto`: text when stderr is a terminal, JSON otherwise."),
    ("NNSERVE_WORKER_METRICS_PORT", "worker_metrics_port", int, 0,
     "Port where `nnserve worker` serves its own `/metrics` (training jobs); 0: none. The "
     "embedded worker of `nnserve serve` is counted in the API's `/metrics` instead."),
    ("NNSERVE_IDEMPOTENCY_TTL", "idempotency_ttl", float, 86400.0,
     "Seconds an Idempotency-Key of POST /train is remembered."),
]


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}


def _convert(kind: type, raw: Any) -> Any:
    if kind is Path:
        return Path(raw)
    if kind is bool and isinstance(raw, str):
        if raw.strip().lower() not in _BOOLEANS:
            raise ValueError(raw)
        return _BOOLEANS[raw.strip().lower()]
    return kind(raw)


@dataclass(frozen=True)
class Settings:
    store: Path
    queue: str
    host: str
    port: int
    workers: int
    embedded_worker: bool
    worker_concurrency: int
    graceful_timeout: int
    max_body_mb: float
    header_timeout: float
    body_min_rate_kib: float
    body_grace: float
    trusted_proxies: str
    max_rows: int
    max_features: int
    max_train_work: int
    job_timeout: float
    max_queued_per_model: int
    max_trials: int
    search_spare_slots: int
    heartbeat_interval: float
    heartbeat_timeout: float
    cache_size: int
    api_keys: str
    log_level: str
    log_format: str
    worker_metrics_port: int
    idempotency_ttl: float

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None,
                 environ: dict[str, str] | None = None) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``), then apply overrides.

        Raises ``ValueError`` naming the variable when a value does not parse.
        """
        env = os.environ if environ is None else environ
        overrides = {k.lower(): v for k, v in (overrides or {}).items()}
        values: dict[str, Any] = {}
        for var, name, kind, default, _ in SETTINGS:
            raw = overrides.get(name, env.get(var, default))
            try:
                values[name] = _convert(kind, raw)
            except (TypeError, ValueError) as exc:
                expected = " or ".join(getattr(kind, "choices", ())) or kind.__name__
                raise ValueError(f"{var}={raw!r}: expected {expected}") from exc
        return cls(**values)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def uses_redis(self) -> bool:
        return self.queue.startswith(("redis://", "rediss://", "unix://"))

    def as_env(self) -> dict[str, str]:
        """These settings as environment variables, for child processes."""
        names = {f.name for f in fields(self)}
        return {var: str(getattr(self, name)) for var, name, *_ in SETTINGS if name in names}


def settings_table() -> str:
    """The README's settings table (``nnserve settings`` prints it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for var, _, _, default, meaning in SETTINGS:
        rows.append(f"| `{var}` | `{default}` | {meaning} |")
    return "\n".join(rows)
