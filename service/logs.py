"""Logs as JSON lines on stderr, for every nnserve process: the API, gunicorn and the worker.

Free of Flask (the training worker imports it); inside a Flask request a record also carries the
request's id.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_event_log = logging.getLogger("nnserve.events")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, pid, message, then the record's fields
    (``extra={"fields": {...}}``) and, inside a request, its request_id."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "pid": record.process,
            "message": record.getMessage()}
        for key, value in (getattr(record, "fields", None) or {}).items():
            payload.setdefault(key, value)
        flask = sys.modules.get("flask")  # only a process serving HTTP has requests to name
        if "request_id" not in payload and flask is not None and flask.has_request_context() \
                and flask.g.get("request_id"):
            payload["request_id"] = flask.g.request_id
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(payload, default=str,
                            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest swaps it)."""

    stream = property(lambda self: sys.stderr, lambda self, value: None)


def configure_logging(level: str | int = "INFO") -> None:
    """Make the root logger write JSON lines on stderr at ``level`` (idempotent)."""
    root = logging.getLogger()
    root.setLevel(level.upper() if isinstance(level, str) else level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error log and the root logger as JSON lines on
    stderr; its access log off (the app logs each request)."""
    level = level.upper()
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": f"{__name__}.StderrHandler", "formatter": "json"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False}},
    }


def log_event(event: str, /, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event (e.g. ``job_finished``) with its fields."""
    _event_log.log(level, event, extra={"fields": {"event": event, **fields}})
