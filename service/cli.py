"""The ``nnserve`` command line: its parser and dispatch. ``serve`` and ``worker`` run here; the
commands against a running server live in ``service.cli_train`` and ``service.cli_commands``."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from service.client import DEFAULT_SERVER, Client, CliError
from service.config import Settings, settings_table


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return status
    except ValueError as exc:  # a setting that does not parse
        parser.exit(2, f"nnserve: {exc}\n")
    except CliError as exc:
        parser.exit(1, f"nnserve: {exc}\n")
    except OSError as exc:  # the CSV to read or write
        if isinstance(exc, BrokenPipeError):
            return _reader_went_away()
        parser.exit(1, f"nnserve: {exc.strerror or exc}: {exc.filename or ''}\n")
    except KeyboardInterrupt:
        return 130


def _reader_went_away() -> int:
    """The reader of stdout left (``| head -1``): end quietly, as the shell tools do."""
    # Python flushes stdout again at exit: point it at /dev/null so that flush cannot fail
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


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
                                   "/train and follow the job: a progress bar on a terminal, "
                                   "JSON lines otherwise. Ctrl-C asks whether to cancel the "
                                   "job or detach (detach when input is not a terminal).")
    t.add_argument("file", type=Path, help="CSV with a header row")
    t.add_argument("--model", required=True, help="model name")
    t.add_argument("--label-column", help="label column (default: 'label', else the last one)")
    t.add_argument("--no-wait", action="store_true", help="print the job and return at once")
    _client_options(t, "train")
    t.set_defaults(func=_train)

    r = sub.add_parser("predict", help="predict the rows of a CSV with a running server",
                       description="POST the rows of FILE.csv (header row; a --drop-column is "
                                   "left out) to /predict. On a terminal: a table of the first "
                                   "rows; otherwise (or with --json) the JSON answer.")
    r.add_argument("file", type=Path, help="CSV with a header row, or - for stdin")
    r.add_argument("--model", required=True, help="model name")
    r.add_argument("--version", help="version number, 'latest' or an alias")
    r.add_argument("--drop-column", help="a column to leave out (e.g. the labels)")
    r.add_argument("--output", "-o", type=Path, metavar="FILE.csv",
                   help="write the rows sent plus p_<class> per class and label to FILE.csv")
    _client_options(r, "predict")
    r.set_defaults(func=_predict)

    m = sub.add_parser("models", help="the models of a running server, or one model's versions",
                       description="A table of every model (versions, latest, aliases, created, "
                                   "held-out accuracy), or with NAME of its versions.")
    m.add_argument("name", nargs="?", help="a model: list its versions")
    _client_options(m, "predict", "print JSON, not a table")
    m.set_defaults(func=_models)

    j = sub.add_parser("jobs", help="training jobs of a running server, newest first",
                       description="A table of job summaries with their progress.")
    j.add_argument("--model", help="only this model's jobs")
    j.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"],
                   help="only jobs in this state")
    j.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    _client_options(j, "train", "print JSON, not a table")
    j.set_defaults(func=_jobs)

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
    try:
        worker_main(settings, concurrency=args.concurrency, parent=args.parent_pid)
    except KeyboardInterrupt:  # Ctrl-C before the consumer took over SIGINT: still a stop
        pass
    return 0


def _client_options(p: argparse.ArgumentParser, scope: str,
                    json_help: str = "print JSON (the default off a terminal)") -> None:
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--server", default=os.environ.get("NNSERVE_SERVER", DEFAULT_SERVER),
                   help=f"server URL (NNSERVE_SERVER, default {DEFAULT_SERVER})")
    p.add_argument("--api-key", default=os.environ.get("NNSERVE_API_KEY"),
                   help=f"bearer key with the {scope} scope (NNSERVE_API_KEY)")


def _client(args: argparse.Namespace) -> Client:
    return Client(args.server, args.api_key)


# The client commands import rich when they run: `nnserve serve` and `worker` never need it.
def _train(a: argparse.Namespace) -> int:
    from service.cli_train import train

    return train(_client(a), a.file, a.model, a.label_column, wait=not a.no_wait,
                 as_json=True if a.json else None)


def _predict(a: argparse.Namespace) -> int:
    from service.cli_commands import predict

    return predict(_client(a), a.file, a.model, version=a.version, drop_column=a.drop_column,
                   output=a.output, as_json=a.json)


def _models(a: argparse.Namespace) -> int:
    from service.cli_commands import models

    return models(_client(a), a.name, as_json=a.json)


def _jobs(a: argparse.Namespace) -> int:
    from service.cli_commands import jobs

    return jobs(_client(a), model=a.model, status=a.status, limit=a.limit, as_json=a.json)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
