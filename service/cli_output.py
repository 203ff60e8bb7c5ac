"""What the ``nnserve`` client commands print: tables of models, versions, jobs and predictions
(rich), the ``--output`` CSV of ``nnserve predict``, and the headline metric of a version.

Tables go to stdout whether or not it is a terminal (rich drops the colours off one); ``--json``
is the machine-readable form.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from service.client import CliError
from service.logs import escape_control

NONE = "—"  # a cell with no value (e.g. a version trained without a held-out split)
PREVIEW_ROWS = 10  # prediction rows a terminal table shows
PER_CLASS_COLUMNS = 6  # more classes than this: the table shows only the label's probability

STATUS_STYLES = {"queued": "cyan", "running": "yellow", "succeeded": "green",
                 "failed": "red", "cancelled": "magenta"}


def console(file: IO[str] | None = None) -> Console:
    """A console on stdout (or ``file``); its width follows the terminal or ``COLUMNS``, and
    off a terminal a table is not squeezed into 80 columns."""
    out = file or sys.stdout
    wide = not out.isatty() and not os.environ.get("COLUMNS")
    return Console(file=out, highlight=False, soft_wrap=False, width=160 if wide else None)


def show(*renderables: RenderableType) -> None:
    """Print on stdout; off a terminal without the spaces rich pads lines with."""
    out = console()
    if out.is_terminal:
        out.print(*renderables)
        return
    with out.capture() as captured:
        out.print(*renderables)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def headline(meta: dict[str, Any] | None) -> float | None:
    """The headline metric of a version: its held-out accuracy (``evaluation.test.accuracy``),
    None when the version has no held-out evaluation."""
    test = ((meta or {}).get("evaluation") or {}).get("test") or {}
    value = test.get("accuracy")
    return float(value) if isinstance(value, int | float) else None


def fmt_metric(value: float | None) -> str:
    return NONE if value is None else f"{value:.3f}"


def fmt_time(stamp: str | None) -> str:
    """An ISO-8601 stamp in local time to the minute."""
    if not stamp:
        return NONE
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def alias_weights(target: Any) -> dict[int, int]:
    """An alias's target as the registry gives it (a version, or ``{"versions": {v: w}}``) as
    ``{version: weight}``."""
    if isinstance(target, dict):
        return {int(v): int(w) for v, w in (target.get("versions") or {}).items()}
    return {int(target): 100}


def aliases_of(aliases: dict[str, Any], version: int) -> list[str]:
    """The aliases routing to ``version``; a weighted one with its share (``prod 10%``)."""
    found = []
    for alias, target in sorted(aliases.items()):
        weight = alias_weights(target).get(version)
        if weight is not None:
            found.append(alias if weight == 100 else f"{alias} {weight}%")
    return found


def fmt_aliases(aliases: dict[str, Any], version: int | None = None) -> str:
    """``production→2, staging→3`` (a canary: ``prod→1:90/2:10``); with ``version``, only the
    names pointing at it."""
    if version is not None:
        return ", ".join(aliases_of(aliases, version))
    return ", ".join(f"{a}→" + "/".join(f"{v}:{w}" if w != 100 else str(v)
                                        for v, w in alias_weights(t).items())
                     for a, t in sorted(aliases.items()))


def _table(title: str, columns: Sequence[tuple[str, str]], caption: str | None = None,
           wrap: str | None = None) -> Table:
    """A borderless table whose cells stay on one line, except the ``wrap`` column's."""
    table = Table(title=title, title_justify="left", title_style="bold", caption=caption,
                  caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False)
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=name != wrap,  # type: ignore[arg-type]
                         overflow="fold" if name == wrap else "ellipsis")
    return table


def plain(value: object) -> Text:
    """A value from the server as literal text: no rich markup, no raw control characters."""
    return value if isinstance(value, Text) else Text(escape_control(str(value)))


def _add_row(table: Table, *cells: object) -> None:
    table.add_row(*(plain(c) for c in cells))


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def models_table(rows: Sequence[dict[str, Any]]) -> Table:
    """One row per model: ``{"name", "versions", "aliases", "latest", "created_at",
    "test_accuracy"}`` (created and metric of the latest version)."""
    table = _table("models", (("model", "left"), ("versions", "right"), ("latest", "right"),
                              ("aliases", "left"), ("created", "left"),
                              ("held-out accuracy", "right")), wrap="aliases")
    for row in rows:
        _add_row(table, row["name"], str(len(row["versions"])), str(row["latest"]),
                      fmt_aliases(row["aliases"]) or NONE, fmt_time(row.get("created_at")),
                      fmt_metric(row.get("test_accuracy")))
    return table


def versions_table(name: str, rows: Sequence[dict[str, Any]]) -> Table:
    """One row per version of ``name``, newest first: ``{"version", "aliases", "created_at",
    "rows", "classes", "test_accuracy"}`` (``--json`` adds the job that made it)."""
    table = _table(f"model {name}", (("version", "right"), ("aliases", "left"),
                                     ("created", "left"), ("rows", "right"),
                                     ("classes", "right"), ("held-out accuracy", "right")),
                   wrap="aliases")
    for row in rows:
        _add_row(table, str(row["version"]), ", ".join(row["aliases"]) or NONE,
                      fmt_time(row.get("created_at")), _cell(row.get("rows")),
                      _cell(row.get("classes")), fmt_metric(row.get("test_accuracy")))
    return table


def progress_cell(progress: dict[str, Any] | None) -> str:
    """``37/50`` (epochs) of a job's progress; ``—`` before its first epoch."""
    progress = progress or {}
    epoch, epochs = progress.get("epoch"), progress.get("epochs")
    if epoch is None:
        return NONE
    if not epochs:
        return str(epoch)
    return f"{epoch}/{epochs}"


def jobs_table(jobs: Sequence[dict[str, Any]], total: int) -> Table:
    """Job summaries as ``GET /jobs`` lists them, newest first."""
    caption = f"{len(jobs)} of {total} jobs" if total > len(jobs) else None
    table = _table("jobs", (("job", "left"), ("model", "left"), ("status", "left"),
                            ("progress", "right"), ("version", "right"), ("created", "left"),
                            ("error", "left")), caption=caption, wrap="error")
    for job in jobs:
        error = job.get("error") or {}
        message = f"{error.get('type')}: {error.get('message')}" if error else ""
        _add_row(table, job["job_id"], job["model"], status_text(job["status"]),
                      progress_cell(job.get("progress")), _cell(job.get("model_version")),
                      fmt_time(job.get("created_at")), message)
    return table


def predictions_table(result: dict[str, Any], limit: int = PREVIEW_ROWS) -> Table:
    """The first ``limit`` rows of a ``/predict`` answer: label, its probability and, for a
    few classes, every class's probability."""
    classes = result["classes"]
    per_class = len(classes) <= PER_CLASS_COLUMNS
    columns = [("row", "right"), ("label", "left"), ("p(label)", "right")]
    columns += [(f"p_{cls}", "right") for cls in classes] if per_class else []
    table = _table(f"{result['model']} version {result['version']}", columns, wrap="label")
    index = {str(c): i for i, c in enumerate(classes)}
    for i, (label, proba) in enumerate(zip(result["labels"][:limit], result["probabilities"],
                                           strict=False)):
        cells = [str(i), str(label), f"{proba[index[str(label)]]:.3f}"]
        if per_class:
            cells += [f"{p:.3f}" for p in proba]
        _add_row(table, *cells)
    return table


def predictions_footer(result: dict[str, Any], limit: int = PREVIEW_ROWS) -> str:
    """The line under the table: how many rows there are, and how to get them all."""
    n = len(result["labels"])
    line = (f"{limit} of {n} rows; --output FILE.csv writes them all, --json prints the answer"
            if n > limit else f"{n} rows")
    warnings = result.get("warnings") or []
    if warnings:
        line += f"; {len(warnings)} warnings (imputed cells, unseen categories: see --json)"
    return line


def prediction_rows(header: Sequence[str], rows: Iterable[Sequence[str]],
                    result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The ``--output`` CSV: each input row, then ``p_<class>`` per class and ``label``.

    Probabilities are written with ``repr`` so that they read back as the very floats of the
    answer.
    """
    columns = [*header, *(f"p_{c}" for c in result["classes"]), "label"]
    clash = sorted({c for c in columns if columns.count(c) > 1})
    if clash:
        raise CliError(f"the input already has the column(s) {', '.join(clash)} that "
                       "--output adds; leave it out with --drop-column")
    out = [[*row, *(repr(float(p)) for p in proba), str(label)]
           for row, proba, label in zip(rows, result["probabilities"], result["labels"],
                                        strict=True)]
    return columns, out


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _cell(value: object) -> str:
    return NONE if value is None else str(value)
