"""Logs on stderr for every nnserve process (the API, gunicorn and the worker): JSON lines, or
one readable line per record on a terminal (``NNSERVE_LOG_FORMAT``).

Free of Flask (the training worker imports it); inside a Flask request a record also carries the
request's id.
"""

from __future__ import annotations

import logging
import re
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
        request_id = _request_id()
        if request_id and "request_id" not in payload:
            payload["request_id"] = request_id
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(payload, default=str,
                            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    """One readable line per record: time, level, logger, message, then ``key=value`` fields
    and the request id; the level is coloured when ``colour`` (stderr is a terminal)."""

    _COLOURS = {"DEBUG": "2", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}

    def __init__(self, colour: bool | None = None) -> None:
        super().__init__()
        self.colour = _isatty(sys.stderr) if colour is None else colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        level = f"{record.levelname:<7}"
        if self.colour:
            level = f"\x1b[{self._COLOURS.get(record.levelname, '0')}m{level}\x1b[0m"
        fields = dict(getattr(record, "fields", None) or {})
        fields.pop("event", None)  # the message is the event's name
        request_id = _request_id()
        if request_id and "request_id" not in fields:
            fields["request_id"] = request_id
        extra = "".join(f" {key}={_text_value(value)}" for key, value in fields.items())
        message = escape_control(record.getMessage())
        line = f"{stamp}.{int(record.msecs):03d} {level} {record.name}: {message}"
        line += extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


_BARE = re.compile(r"[^\s\"=\x00-\x1f\x7f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape_control(text: str) -> str:
    """``text`` with its control characters but tab and newline written as ``\\xNN``: a
    request's path or a client's value must not move the cursor or recolour a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value if _BARE.fullmatch(value) else orjson.dumps(value).decode()
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY
                        | orjson.OPT_NON_STR_KEYS).decode()


def _request_id() -> str | None:
    flask = sys.modules.get("flask")  # only a process serving HTTP has requests to name
    if flask is not None and flask.has_request_context():
        return flask.g.get("request_id")
    return None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def resolve_format(log_format: str = "auto") -> str:
    """``json`` or ``text``: ``auto`` is text when stderr is a terminal, JSON otherwise."""
    if log_format == "auto":
        return "text" if _isatty(sys.stderr) else "json"
    if log_format not in ("json", "text"):
        raise ValueError(f"unknown log format {log_format!r}: expected json, text or auto")
    return log_format


def make_formatter(log_format: str = "auto") -> logging.Formatter:
    """The formatter of ``log_format`` (``json``, ``text`` or ``auto``)."""
    return TextFormatter() if resolve_format(log_format) == "text" else JsonFormatter()


class GracefulStopIsNotAnError(logging.Filter):
    """Logs gunicorn's "Worker (pid:N) was sent SIGTERM!" at INFO: SIGTERM is how the arbiter
    stops its workers, and a worker that gets a second one while exiting dies of it (gunicorn
    logs that at ERROR since 21.0)."""

    _SIGTERM = re.compile(r"Worker \(pid:\d+\) was sent SIGTERM!")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and self._SIGTERM.fullmatch(record.getMessage()):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest swaps it)."""

    stream = property(lambda self: sys.stderr, lambda self, value: None)


def configure_logging(level: str | int = "INFO", log_format: str = "auto") -> None:
    """Make the root logger write to stderr at ``level`` in ``log_format`` (``json``, ``text``
    or ``auto``; idempotent: a second call keeps the first one's format)."""
    root = logging.getLogger()
    root.setLevel(level.upper() if isinstance(level, str) else level)
    if not any(isinstance(h.formatter, JsonFormatter | TextFormatter) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(make_formatter(log_format))
        root.addHandler(handler)


def gunicorn_logconfig(level: str, log_format: str = "auto") -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error log and the root logger on stderr in
    ``log_format``; its access log off (the app logs each request)."""
    level = level.upper()
    formatter = "TextFormatter" if resolve_format(log_format) == "text" else "JsonFormatter"
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"nnserve": {"()": f"{__name__}.{formatter}"}},
        "filters": {"graceful_stop": {"()": f"{__name__}.GracefulStopIsNotAnError"}},
        "handlers": {"stderr": {"class": f"{__name__}.StderrHandler", "formatter": "nnserve"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False,
                               "filters": ["graceful_stop"]},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False}},
    }


def log_event(event: str, /, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event (e.g. ``job_finished``) with its fields."""
    _event_log.log(level, event, extra={"fields": {"event": event, **fields}})
