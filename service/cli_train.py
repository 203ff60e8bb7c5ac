"""``nnserve train``: post a CSV, then follow the job — as a live progress bar on a terminal,
as JSON lines otherwise (or with ``--json``) — and end with its outcome.

Ctrl-C while following asks whether to cancel the job or detach from it (it trains on); with
no terminal to ask on, it detaches.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from service.cli_output import NONE, console, fmt_metric, headline, plain
from service.client import Client, CliError

FINAL = ("succeeded", "failed", "cancelled")


class View(Protocol):
    """How a followed job is shown."""

    poll_interval: float

    def submitted(self, job: dict[str, Any]) -> None: ...
    def update(self, job: dict[str, Any]) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def finished(self, job: dict[str, Any], metric: float | None) -> None: ...


class JsonLines:
    """One JSON object per line: the job, each new epoch, the outcome (the format scripts
    read; kept as it is)."""

    poll_interval = 0.5

    def __init__(self) -> None:
        self.last_epoch: int | None = None

    def submitted(self, job: dict[str, Any]) -> None:
        _print_json({k: job.get(k) for k in ("job_id", "model", "status")})

    def update(self, job: dict[str, Any]) -> None:
        progress = job.get("progress") or {}
        if progress.get("epoch") not in (None, self.last_epoch):
            self.last_epoch = progress["epoch"]
            _print_json({"epoch": self.last_epoch, "epochs": progress.get("epochs"),
                         "loss": progress.get("loss"), "accuracy": progress.get("accuracy"),
                         "val_accuracy": progress.get("val_accuracy")})

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def finished(self, job: dict[str, Any], metric: float | None) -> None:
        _print_json({k: job.get(k) for k in ("job_id", "model", "status", "model_version",
                                             "error")})


class ProgressBar:
    """A rich progress bar: epoch / epochs, loss, accuracy, validation accuracy, elapsed and
    ETA; then one line with the job's outcome and the new version's held-out accuracy."""

    poll_interval = 0.25

    def __init__(self, out: Console | None = None) -> None:
        self.console = out or console()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=24),
            TextColumn("epoch {task.fields[epoch]}"), TextColumn("loss {task.fields[loss]}"),
            TextColumn("acc {task.fields[accuracy]}"),
            TextColumn("val {task.fields[val_accuracy]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, refresh_per_second=8)
        self.task: TaskID | None = None

    def submitted(self, job: dict[str, Any]) -> None:
        self.console.print(Text.assemble("job ", plain(job["job_id"]), " for model ",
                                         (str(plain(job["model"])), "bold"), ": ",
                                         plain(job["status"])))

    def update(self, job: dict[str, Any]) -> None:
        if self.task is None:
            self.task = self.progress.add_task(job["model"], total=None, epoch="", loss=NONE,
                                               accuracy=NONE, val_accuracy=NONE)
        progress = job.get("progress") or {}
        epoch, epochs = progress.get("epoch"), progress.get("epochs")
        self.progress.update(
            self.task, total=epochs or None, completed=epoch or 0,
            epoch=f"{epoch}/{epochs}" if epoch is not None else f"– ({job['status']})",
            loss=_num(progress.get("loss"), 4), accuracy=_num(progress.get("accuracy"), 3),
            val_accuracy=_num(progress.get("val_accuracy"), 3))
        if not self.progress.live.is_started:
            self.progress.start()

    def pause(self) -> None:
        self.progress.stop()

    def resume(self) -> None:
        self.progress.start()

    def finished(self, job: dict[str, Any], metric: float | None) -> None:
        if job["status"] == "succeeded" and self.task is not None:
            total = self.progress.tasks[0].total
            if total:
                self.progress.update(self.task, completed=total)
        self.progress.stop()
        self.console.print(outcome_line(job, metric))


def outcome_line(job: dict[str, Any], metric: float | None) -> Text:
    """``✓ succeeded: model iris version 3, held-out accuracy 0.967 (job …)`` and the like."""
    status, job_id = job["status"], plain(job["job_id"])
    if status == "succeeded":
        return Text.assemble(("✓ succeeded", "green"), ": model ",
                             (str(plain(job["model"])), "bold"), " version ",
                             (str(job.get("model_version")), "bold"),
                             f", held-out accuracy {fmt_metric(metric)} (job ", job_id, ")")
    error = job.get("error") or {}
    reason = plain(f": {error.get('type')}: {error.get('message')}" if error else "")
    colour = "red" if status == "failed" else "magenta"
    return Text.assemble((f"✗ {plain(status)}", colour), reason, " (job ", job_id, ")")


def train(client: Client, file: Path, model: str, label_column: str | None, *,
          wait: bool = True, as_json: bool | None = None) -> int:
    """Submit ``file`` as a training set of ``model`` and follow the job; 0 when it succeeded
    (or, without ``wait``, was accepted; or the user detached). ``as_json`` None: JSON lines
    unless stdout is a terminal."""
    if as_json is None:
        as_json = not sys.stdout.isatty()
    view: View = JsonLines() if as_json else ProgressBar()
    job = client.call("POST", "/train", {"model": model, "label_column": label_column},
                      file.read_bytes(), "text/csv")
    view.submitted(job)
    if not wait:
        return 0
    while True:
        try:
            job = _follow(client, job, view)
            break
        except KeyboardInterrupt:
            view.pause()
            if not _ask_cancel(job):
                print(f"detached: job {job['job_id']} trains on; follow it with "
                      f"`nnserve jobs --model {job['model']}`", file=sys.stderr)
                return 0
            try:
                job = client.call("DELETE", f"/jobs/{job['job_id']}")
            except CliError:  # it ended meanwhile (409): show how
                job = client.call("GET", f"/jobs/{job['job_id']}")
            view.resume()
    metric = _metric(client, job) if job["status"] == "succeeded" and not as_json else None
    view.finished(job, metric)
    return 0 if job["status"] == "succeeded" else 1


def _follow(client: Client, job: dict[str, Any], view: View) -> dict[str, Any]:
    view.update(job)
    while job["status"] not in FINAL:
        time.sleep(view.poll_interval)
        job = client.call("GET", f"/jobs/{job['job_id']}")
        view.update(job)
    return job


def _ask_cancel(job: dict[str, Any]) -> bool:
    """Whether the user wants ``job`` cancelled; no terminal to ask on (or no answer) means
    detach. The question goes to stderr: stdout may be JSON lines."""
    if not sys.stdin.isatty():
        return False
    print(f"\nCancel job {job['job_id']}, or detach and let it train on? "
          "[c]ancel / [d]etach (default): ", end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        return False
    return answer.strip().lower() in ("c", "cancel")


def _metric(client: Client, job: dict[str, Any]) -> float | None:
    try:
        return headline(client.call(
            "GET", f"/models/{job['model']}/versions/{job['model_version']}"))
    except CliError:
        return None


def _num(value: float | None, digits: int) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def _print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)
