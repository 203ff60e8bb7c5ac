"""NNSERVE_LOG_FORMAT: readable coloured lines on a terminal, JSON lines otherwise, and a normal
shutdown that logs nothing at ERROR."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from service.config import Settings
from service.logs import (
    GracefulStopIsNotAnError,
    JsonFormatter,
    TextFormatter,
    make_formatter,
    resolve_format,
)
from tests.server import ROOT, free_port, nnserve_env, start_server
from tests.terminal import run_on_terminal

TEXT_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: .*")


def _record(message: str, level: int = logging.INFO, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("nnserve.events", level, __file__, 1, message, None, None)
    record.fields = fields
    return record


def test_text_lines_carry_time_level_logger_message_and_fields():
    line = TextFormatter(colour=False).format(_record(
        "job_finished", event="job_finished", job_id="abc", status="succeeded", seconds=1.5,
        error="store is full"))
    assert TEXT_LINE.fullmatch(line), line
    assert line.endswith(" INFO    nnserve.events: job_finished job_id=abc status=succeeded "
                         'seconds=1.5 error="store is full"')
    hostile = TextFormatter(colour=False).format(_record("GET /\x1b[2J", path="/\x1b[31m"))
    assert "\x1b" not in hostile and hostile.endswith(': GET /\\x1b[2J path="/\\u001b[31m"')
    coloured = TextFormatter(colour=True).format(_record("boom", logging.ERROR))
    assert "\x1b[31mERROR  \x1b[0m nnserve.events: boom" in coloured


def test_auto_is_text_on_a_terminal_and_json_otherwise(monkeypatch):
    assert Settings.from_env(environ={}).log_format == "auto"
    with pytest.raises(ValueError, match="NNSERVE_LOG_FORMAT='xml': expected json or text or "
                                         "auto"):
        Settings.from_env(environ={"NNSERVE_LOG_FORMAT": "xml"})
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert resolve_format("auto") == "json" and isinstance(make_formatter(), JsonFormatter)
    assert resolve_format("text") == "text" and resolve_format("json") == "json"
    assert not TextFormatter().colour  # text asked for off a terminal: no colour codes
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert resolve_format("auto") == "text" and isinstance(make_formatter(), TextFormatter)
    assert TextFormatter().colour and resolve_format("json") == "json"


def test_a_worker_sent_sigterm_is_info_and_other_signals_stay_errors():
    """What gunicorn's arbiter logs when a worker dies of a signal, through the logging set-up
    gunicorn.conf.py gives it."""
    script = (
        "import logging.config\n"
        "from service.logs import gunicorn_logconfig\n"
        "logging.config.dictConfig(gunicorn_logconfig('INFO', 'json'))\n"
        "log = logging.getLogger('gunicorn.error')\n"
        "log.error('Worker (pid:%s) was sent SIGTERM!'.replace('%s', '41'))\n"
        "log.error('Worker (pid:42) was sent SIGKILL! Perhaps out of memory?')\n"
        "log.error('Worker (pid:43) exited with code 3')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True)
    levels = [(r["level"], r["message"][:15]) for r in map(json.loads, out.stderr.splitlines())]
    assert levels == [("INFO", "Worker (pid:41)"), ("ERROR", "Worker (pid:42)"),
                      ("ERROR", "Worker (pid:43)")]
    assert GracefulStopIsNotAnError().filter(_record("anything", logging.ERROR))


@pytest.mark.e2e
def test_serve_on_a_terminal_logs_coloured_text_and_stops_without_errors(tmp_path):
    env = nnserve_env(tmp_path / "store", port=free_port(), workers=2)
    stopped = {"sent": False}

    def react(out: bytes, type_keys) -> None:
        if not stopped["sent"] and b"training worker started" in out and b"Booting" in out:
            stopped["sent"] = True
            time.sleep(1)  # the worker's consumer is running, as it is once someone looks
            type_keys(b"\x03")  # Ctrl-C, as a person at the terminal stops it

    screen = run_on_terminal([sys.executable, "-m", "service.cli", "serve"], env, react=react,
                             timeout=60)
    assert stopped["sent"], screen.text
    assert screen.exit_code == 0, screen.text
    shown = screen.text.replace("\r", "").replace("^C", "").splitlines()  # ^C: the echo
    lines = [line for line in shown if re.match(r"\d\d:\d\d:", line)]
    assert len(lines) > 10 and all(TEXT_LINE.fullmatch(line) for line in lines), screen.text
    # the only other lines: huey's list of its tasks, the rest of a multi-line message
    assert all(line.startswith("+ ") for line in shown if line and line not in lines)
    assert b"\x1b[32mINFO   \x1b[0m" in screen.raw  # the level in colour
    assert any("gunicorn.error: Listening at: http://127.0.0.1:" in line for line in lines)
    assert any("nnserve.jobs: training worker started" in line for line in lines)
    assert not any(" ERROR " in line or " CRITICAL " in line for line in lines), screen.text


@pytest.mark.e2e
def test_serve_off_a_terminal_logs_json_and_stops_without_errors(tmp_path):
    srv = start_server(tmp_path / "store")
    assert srv.stop() == 0
    records = [json.loads(line) for line in srv.log.read_text().splitlines() if line]
    assert any(r["message"].startswith("Listening at:") for r in records)
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], records


@pytest.mark.e2e
def test_a_group_sigterm_twice_logs_no_error(tmp_path):
    """A supervisor that signals the whole process group (systemd's control group, `timeout`,
    a shell's kill of a job) reaches each worker once from it and once from the arbiter: a
    worker then dies of the second SIGTERM while exiting, which gunicorn logs at ERROR."""
    srv = start_server(tmp_path / "store")
    time.sleep(0.5)
    os.killpg(srv.proc.pid, signal.SIGTERM)
    time.sleep(0.05)
    os.killpg(srv.proc.pid, signal.SIGTERM)
    assert srv.proc.wait(30) == 0
    records = [json.loads(line) for line in srv.log.read_text().splitlines() if line]
    stops = [r for r in records if re.fullmatch(r"Worker \(pid:\d+\) was sent SIGTERM!",
                                                r["message"])]
    assert all(r["level"] == "INFO" for r in stops)
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], records
