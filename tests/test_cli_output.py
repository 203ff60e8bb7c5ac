"""The command line's pieces without a server: error lines, tables, the --output rows."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from service.cli_output import (
    headline,
    jobs_table,
    models_table,
    prediction_rows,
    progress_cell,
    versions_table,
)
from service.client import CliError, problem_line


def test_a_problem_with_field_errors_names_each_field():
    body = json.dumps({"title": "Unprocessable Content", "status": 422, "detail": "bad params",
                       "errors": {"params.epochs": ["must be at least 1"],
                                  "params.foo": ["unknown parameter"]}}).encode()
    assert problem_line(422, "UNPROCESSABLE", body) == (
        "422 Unprocessable Content: bad params (params.epochs: must be at least 1, "
        "params.foo: unknown parameter)")
    assert problem_line(502, "Bad Gateway", b"<html>\n<b>502</b>\n</html>") == \
        "502 Bad Gateway: <html> <b>502</b> </html>"


def test_tables_show_the_held_out_accuracy_where_a_version_has_one():
    evaluated = {"evaluation": {"split": {"test_split": 0.2}, "test": {"accuracy": 0.96667},
                                "train": {"accuracy": 1.0}}}
    assert headline(evaluated) == 0.96667
    assert headline({"evaluation": {"test": None}}) is None and headline({}) is None
    console = Console(file=io.StringIO(), width=120)
    console.print(models_table([
        {"name": "a", "versions": [1, 2], "latest": 2, "aliases": {"prod": 1},
         "created_at": "2026-12-04T10:00:00.000+00:00", "test_accuracy": 0.96667},
        {"name": "b", "versions": [1], "latest": 1, "aliases": {}, "created_at": None,
         "test_accuracy": None}]))
    console.print(versions_table("a", [{"version": 2, "aliases": [], "created_at": None,
                                        "rows": 30, "classes": 3, "test_accuracy": 0.5}]))
    text = console.file.getvalue()
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["a"][:4] == ["a", "2", "2", "prod→1"] and rows["a"][-1] == "0.967"
    assert rows["b"][-1] == "—" and rows["2"][-1] == "0.500"


def test_jobs_table_shows_progress_and_errors():
    console = Console(file=io.StringIO(), width=160)
    console.print(jobs_table([
        {"job_id": "a" * 32, "model": "m", "status": "running",
         "progress": {"epoch": 12, "epochs": 50}, "model_version": None, "created_at": None},
        {"job_id": "b" * 32, "model": "m", "status": "failed", "progress": None,
         "model_version": None, "created_at": None,
         "error": {"type": "timeout", "message": "ran over 3600 s"}}], total=7))
    rows = [line.split() for line in console.file.getvalue().splitlines()]
    assert ["a" * 32, "m", "running", "12/50", "—", "—"] in rows
    assert ["b" * 32, "m", "failed", "—", "—", "—", "timeout:", "ran", "over", "3600", "s"] in rows
    assert ["2", "of", "7", "jobs"] in rows
    assert progress_cell({"epoch": 3, "epochs": None}) == "3" and progress_cell(None) == "—"


def test_output_rows_refuse_a_column_they_would_add_twice():
    result = {"classes": ["a", "b"], "probabilities": [[0.25, 0.75]], "labels": ["b"]}
    assert prediction_rows(["x"], [["1"]], result) == (
        ["x", "p_a", "p_b", "label"], [["1", "0.25", "0.75", "b"]])
    with pytest.raises(CliError, match="already has the column.s. label"):
        prediction_rows(["x", "label"], [["1", "a"]], result)


def test_text_from_the_server_is_shown_literally():
    """A message the server relays (a CSV column name in an error) is neither rich markup nor
    terminal control."""
    from service.cli_train import outcome_line

    console = Console(file=io.StringIO(), width=160, force_terminal=True)
    console.print(jobs_table([{"job_id": "c" * 32, "model": "m", "status": "failed",
                               "error": {"type": "bad_data", "message": "[bold]x\x1b[2J"}}], 1))
    console.print(outcome_line({"job_id": "c" * 32, "model": "m", "status": "failed",
                                "error": {"type": "bad_data", "message": "[red]y\x1b]0;t\x07"}},
                               None))
    shown = console.file.getvalue()
    assert "[bold]x\\x1b[2J" in shown and "\x1b[2J" not in shown
    assert "[red]y\\x1b]0;t\\x07" in shown and "\x07" not in shown
    assert problem_line(400, "Bad", b'{"detail": "a\\u001b[2Jb"}') == "400 Bad: a\\x1b[2Jb"
