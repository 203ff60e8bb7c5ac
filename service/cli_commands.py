"""``nnserve predict``, ``nnserve models`` and ``nnserve jobs``: calls to a running server,
printed as tables on a terminal and as JSON for machines."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from rich.text import Text

from service.cli_output import (
    aliases_of,
    headline,
    jobs_table,
    models_table,
    prediction_rows,
    predictions_footer,
    predictions_table,
    show,
    versions_table,
    write_csv,
)
from service.client import Client, CliError


def predict(client: Client, file: Path, model: str, *, version: str | None = None,
            drop_column: str | None = None, output: Path | None = None,
            as_json: bool = False) -> int:
    """Predict the rows of the CSV ``file`` (``-``: stdin) and print or write them."""
    text = sys.stdin.read() if str(file) == "-" else file.read_text("utf-8-sig")
    rows = [row for row in csv.reader(text.splitlines()) if row]
    if not rows:
        raise CliError(f"{file}: no header row")
    keep = [i for i, name in enumerate(rows[0]) if name.strip() != drop_column]
    sent = [[row[i] for i in keep if i < len(row)] for row in rows]
    body = io.StringIO()
    csv.writer(body, lineterminator="\n").writerows(sent)
    # the server reads the cells as the model's columns say
    result = client.call("POST", "/predict", {"model": model, "version": version},
                         body.getvalue().encode(), "text/csv")
    if output is not None:
        header, out = prediction_rows(sent[0], sent[1:], result)
        write_csv(output, header, out)
        print(f"wrote {len(out)} rows to {output} ({result['model']} version "
              f"{result['version']}: {', '.join(header[len(sent[0]):])})", file=sys.stderr)
    if as_json or (output is None and not sys.stdout.isatty()):
        print(json.dumps(result))
    elif output is None:
        show(predictions_table(result), Text(predictions_footer(result), style="dim"))
    return 0


def models(client: Client, name: str | None = None, *, as_json: bool = False) -> int:
    """The registry as a table: every model, or the versions of ``name``."""
    if name is None:
        rows = [_model_row(client, m) for m in client.call("GET", "/models")["models"]]
        if as_json:
            print(json.dumps({"models": rows}))
        elif rows:
            show(models_table(rows))
        else:
            print("no models yet: train one with `nnserve train FILE.csv --model NAME`")
        return 0
    summary = client.call("GET", f"/models/{name}")
    details = [_version_row(client, name, v, summary["aliases"])
               for v in reversed(summary["versions"])]
    if as_json:
        print(json.dumps({**summary, "details": details}))
    else:
        show(versions_table(name, details))
    return 0


def jobs(client: Client, *, model: str | None = None, status: str | None = None,
         limit: int = 50, as_json: bool = False) -> int:
    """Job summaries, newest first, as a table with a progress column."""
    answer = client.call("GET", "/jobs", {"model": model, "status": status, "limit": limit})
    if as_json:
        print(json.dumps(answer))
    elif answer["jobs"]:
        show(jobs_table(answer["jobs"], answer["total"]))
    else:
        print("no jobs" + (f" of model {model}" if model else "")
              + (f" with status {status}" if status else ""))
    return 0


def _model_row(client: Client, summary: dict[str, Any]) -> dict[str, Any]:
    meta = _meta(client, summary["name"], summary["latest"])
    return {**summary, "created_at": meta.get("created_at"), "test_accuracy": headline(meta)}


def _version_row(client: Client, name: str, version: int,
                 aliases: dict[str, Any]) -> dict[str, Any]:
    meta = _meta(client, name, version)
    return {"version": version, "aliases": aliases_of(aliases, version),
            "created_at": meta.get("created_at"),
            "rows": (meta.get("dataset") or {}).get("rows"),
            "classes": len(meta["classes"]) if meta.get("classes") else None,
            "test_accuracy": headline(meta), "job_id": meta.get("job_id")}


def _meta(client: Client, name: str, version: int) -> dict[str, Any]:
    try:
        meta = client.call("GET", f"/models/{name}/versions/{version}")
    except CliError:  # deleted between the listing and now
        return {}
    return meta if isinstance(meta, dict) else {}
