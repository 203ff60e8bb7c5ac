"""The ``nnserve`` command: ``serve``, ``worker``, and ``train`` / ``predict`` against a server."""

from __future__ import annotations

import argparse
import csv
import io
import ipaddress
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from service.config import Settings, settings_table

DEFAULT_SERVER = "http://127.0.0.1:8000"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # a setting that does not parse
        parser.exit(2, f"nnserve: {exc}\n")
    except CliError as exc:
        parser.exit(1, f"nnserve: {exc}\n")


class CliError(Exception):
    """A failure to report on stderr with exit code 1."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnserve", description=(
        "Train and serve NumPy neural-network classifiers. Settings come from NNSERVE_* "
        "environment variables (see README); options override them."))
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP API (gunicorn) and a training worker",
                       description="Start gunicorn with the nnserve app and, unless --no-worker, "
                                   "the training worker beside it. Ctrl-C / SIGTERM stops both.")
    s.add_argument("--host", help="address to bind (NNSERVE_HOST, default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port to bind (NNSERVE_PORT, default 8000)")
    s.add_argument("--workers", type=int, help="gunicorn worker processes (NNSERVE_WORKERS)")
    s.add_argument("--no-worker", action="store_true",
                   help="API only: run training workers separately with `nnserve worker`")
    s.add_argument("--insecure", action="store_true",
                   help="allow a non-loopback address without NNSERVE_API_KEYS")
    s.set_defaults(func=_serve)

    w = sub.add_parser("worker", help="run only the training worker (scale out with several)",
                       description="Consume training jobs from the queue (NNSERVE_QUEUE) until "
                                   "SIGTERM or Ctrl-C.")
    w.add_argument("--concurrency", type=int,
                   help="jobs trained at once (NNSERVE_WORKER_CONCURRENCY, default 1)")
    w.add_argument("--parent-pid", type=int, metavar="PID",
                   help="stop when process PID exits (nnserve serve starts its worker so)")
    w.set_defaults(func=_worker)

    t = sub.add_parser("train", help="post a CSV to a running server and follow the job",
                       description="POST FILE.csv (header row; one column holds the labels) to "
                                   "/train and poll the job until it ends.")
    t.add_argument("file", type=Path, help="CSV with a header row")
    t.add_argument("--model", required=True, help="model name")
    t.add_argument("--label-column", help="label column (default: 'label', else the last one)")
    t.add_argument("--server", default=os.environ.get("NNSERVE_SERVER", DEFAULT_SERVER),
                   help=f"server URL (NNSERVE_SERVER, default {DEFAULT_SERVER})")
    t.add_argument("--api-key", default=os.environ.get("NNSERVE_API_KEY"),
                   help="bearer key with the train scope (NNSERVE_API_KEY)")
    t.add_argument("--no-wait", action="store_true", help="print the job and return at once")
    t.set_defaults(func=_train)

    r = sub.add_parser("predict", help="predict the rows of a CSV with a running server",
                       description="POST the rows of FILE.csv (header row, numbers only; a "
                                   "--drop-column is left out) to /predict; prints JSON.")
    r.add_argument("file", type=Path, help="CSV with a header row, or - for stdin")
    r.add_argument("--model", required=True, help="model name")
    r.add_argument("--version", help="version number, 'latest' or an alias")
    r.add_argument("--drop-column", help="a column to leave out (e.g. the labels)")
    r.add_argument("--server", default=os.environ.get("NNSERVE_SERVER", DEFAULT_SERVER),
                   help=f"server URL (NNSERVE_SERVER, default {DEFAULT_SERVER})")
    r.add_argument("--api-key", default=os.environ.get("NNSERVE_API_KEY"),
                   help="bearer key with the predict scope (NNSERVE_API_KEY)")
    r.set_defaults(func=_predict)
    st = sub.add_parser("settings", help="print every NNSERVE_* setting as a Markdown table",
                        description="The settings table the README carries.")
    st.set_defaults(func=lambda args: print(settings_table()) or 0)
    return p


def _serve(args: argparse.Namespace) -> int:
    env = os.environ
    for opt, var in (("host", "NNSERVE_HOST"), ("port", "NNSERVE_PORT"),
                     ("workers", "NNSERVE_WORKERS")):
        if getattr(args, opt) is not None:
            env[var] = str(getattr(args, opt))
    if args.no_worker:
        env["NNSERVE_EMBEDDED_WORKER"] = "false"
    settings = Settings.from_env()
    if not settings.api_keys and not _is_loopback(settings.host) and not args.insecure:
        raise CliError(
            f"refusing to serve on {settings.host}, a non-loopback address, without API keys: "
            "anyone who can reach it could train, delete and replace models. Set "
            "NNSERVE_API_KEYS (see README), or pass --insecure if the network is trusted.")
    settings.store.mkdir(parents=True, exist_ok=True)
    conf = Path(__file__).with_name("gunicorn.conf.py")
    argv = [sys.executable, "-m", "gunicorn", "-c", str(conf)]
    os.execve(sys.executable, argv, dict(env))  # gunicorn becomes this process (PID 1 in Docker)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from service.jobs.worker import main as worker_main

    settings = Settings.from_env()
    worker_main(settings, concurrency=args.concurrency, parent=args.parent_pid)
    return 0


def _train(args: argparse.Namespace) -> int:
    query = {"model": args.model}
    if args.label_column:
        query["label_column"] = args.label_column
    job = _call(args, "POST", f"/train?{urllib.parse.urlencode(query)}",
                args.file.read_bytes(), "text/csv")
    print(json.dumps({k: job.get(k) for k in ("job_id", "model", "status")}), flush=True)
    if args.no_wait:
        return 0
    last_epoch = None
    while job["status"] in ("queued", "running"):
        time.sleep(0.5)
        job = _call(args, "GET", f"/jobs/{job['job_id']}")
        progress = job.get("progress") or {}
        if progress.get("epoch") not in (None, last_epoch):
            last_epoch = progress["epoch"]
            print(json.dumps({"epoch": last_epoch, "epochs": progress.get("epochs"),
                              "loss": progress.get("loss"),
                              "accuracy": progress.get("accuracy"),
                              "val_accuracy": progress.get("val_accuracy")}), flush=True)
    print(json.dumps({k: job.get(k) for k in ("job_id", "model", "status", "model_version",
                                              "error")}), flush=True)
    return 0 if job["status"] == "succeeded" else 1


def _predict(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text("utf-8-sig")
    rows = [row for row in csv.reader(text.splitlines()) if row]
    if not rows:
        raise CliError(f"{args.file}: no header row")
    keep = [i for i, name in enumerate(rows[0]) if name.strip() != args.drop_column]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([row[i] for i in keep if i < len(row)]
                                                    for row in rows)
    query = {"model": args.model}  # the server reads the cells as the model's columns say
    if args.version is not None:
        query["version"] = args.version
    result = _call(args, "POST", f"/predict?{urllib.parse.urlencode(query)}",
                   out.getvalue().encode(), "text/csv")
    print(json.dumps(result))
    return 0


def _call(args: argparse.Namespace, method: str, path: str, body: bytes | None = None,
          content_type: str | None = None) -> dict[str, Any]:
    req = urllib.request.Request(args.server.rstrip("/") + path, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    if args.api_key:
        req.add_header("Authorization", f"Bearer {args.api_key}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise CliError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") \
            from None
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach {args.server}: {exc.reason}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
