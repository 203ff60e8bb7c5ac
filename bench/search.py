"""The same hyper-parameter search with 1 training worker process and with 2: wall times and
the speed-up.

The search: scikit-learn's digits (1797 x 64), ``strategy: random`` over learning rate and
activation of a 192-wide layer, ``--trials`` trials of ``--epochs`` epochs each without early
stopping, so both runs do exactly the same work (random search samples its trials from the
seed; halving would promote by finishing order). Each worker process has one BLAS thread
(OPENBLAS_NUM_THREADS=1 and kin), and ``NNSERVE_SEARCH_SPARE_SLOTS=0`` lets the search use both
slots (by default it leaves one to other jobs). Wall time is from ``POST /train`` to the
parent job's end, read on the client.

Layouts:
- ``local``: an API (``nnserve serve --no-worker``) and 1 or 2 ``nnserve worker --concurrency 1``
  processes on loopback, SQLite queue in one store directory;
- ``netns``: separate network hosts (``bench/netns.py``): a Redis host, an API host and 1 or 2
  worker hosts, the store a shared directory. Needs root; says so and goes on without it.

Rounds alternate 1 and 2 workers; each speed-up is a round's 1-worker time over its 2-worker
time, printed per round with the median and the spread. Each round first measures the same-run
baseline: how much faster two bare fits of a trial's size finish than one, at the worker's
priority (nice 19, SCHED_IDLE) — the ceiling the cores allow at that moment, since other
tenants of a shared machine take their share first.

Usage: ``python bench/search.py [--rounds 3] [--trials 8] [--epochs 300] [--layout local,netns]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.netns import Lab, NetnsUnavailable  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def env(store: Path, **settings: object) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("NNSERVE_")}
    out.update(PYTHONPATH=str(ROOT), NNSERVE_STORE=str(store), NNSERVE_SEARCH_SPARE_SLOTS="0",
               **ONE_THREAD)
    out.update({f"NNSERVE_{k.upper()}": str(v) for k, v in settings.items()})
    return out


def nnserve(*args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", *args]


def wait_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_slots(url: str, slots: int, timeout: float = 30.0) -> None:
    """Until the workers have announced themselves (a search sizes itself on them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.post(f"{url}/train", headers=AUTH, timeout=10, json=probe()).json()
        wait_job(url, job["job_id"])
        if len(job["children"]) >= slots:  # trials started at once: one per slot
            return
        time.sleep(0.5)
    raise RuntimeError(f"fewer than {slots} worker slots announced")


def probe() -> dict:
    """A tiny search that starts one trial per announced slot."""
    return {"model": "probe", "strategy": "random", "search": {"l2": [0.0, 0.001]},
            "budget": {"trials": 2, "max_epochs": 1},
            "data": {"features": [[float(i % 2)] for i in range(20)],
                     "labels": [i % 2 for i in range(20)]}}


def wait_job(url: str, job_id: str, timeout: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(f"{url}/jobs/{job_id}", headers=AUTH, timeout=10).json()
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def search_request(trials: int, epochs: int) -> dict:
    X, y = load_digits(return_X_y=True)
    # Trials of one size, so the times measure the pool rather than how trials pack.
    return {"model": "digits", "strategy": "random",
            "params": {"early_stopping": False, "batch_size": 64, "hidden_layers": [192]},
            "search": {"learning_rate": {"log_uniform": [3e-4, 1e-2]},
                       "activation": ["relu", "tanh"]},
            "budget": {"trials": trials, "max_epochs": epochs},
            "data": {"features": X.tolist(), "labels": y.tolist()}}


def timed_search(url: str, body: dict) -> float:
    start = time.monotonic()
    job = requests.post(f"{url}/train", headers=AUTH, timeout=60, json=body).json()
    done = wait_job(url, job["job_id"])
    took = time.monotonic() - start
    if done["status"] != "succeeded":
        raise RuntimeError(f"search ended {done['status']}: {done.get('error')}")
    hosts = sorted({r["host"] for r in done["search"]["runs"]})
    print(f"    {took:6.2f} s  ({len(done['search']['runs'])} trials on {', '.join(hosts)})",
          flush=True)
    return took


CALIBRATE = """
import time
from sklearn.datasets import load_digits
from models import MLPClassifier
from service.jobs.worker import lower_priority
lower_priority()
X, y = load_digits(return_X_y=True)
MLPClassifier(hidden_layers=[192], epochs={epochs}, early_stopping=False, batch_size=64).fit(X, y)
"""


def calibrate(epochs: int) -> float:
    """The machine's own 1 -> 2 process speed-up right now: one trial-sized fit alone, then two
    at once, at a training worker's priority and one BLAS thread (other tenants of the cores
    show here as well)."""
    def fits(n: int) -> float:
        start = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-c", CALIBRATE.format(epochs=epochs)],
                                  cwd=ROOT, env=env(ROOT)) for _ in range(n)]
        for proc in procs:
            proc.wait()
        return time.monotonic() - start

    one, two = fits(1), fits(2)
    return 2 * one / two


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def run_local(workers: int, body: dict, tmp: Path) -> float:
    store = tmp / f"local-{workers}-{time.monotonic_ns()}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp / "local.log").open("ab")
    procs = [subprocess.Popen(nnserve("serve", "--no-worker"), cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True,
                              env=env(store, port=port, workers=1))]
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(url)
        procs += [subprocess.Popen(nnserve("worker", "--concurrency", "1"), cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=env(store)) for _ in range(workers)]
        wait_slots(url, workers)
        return timed_search(url, body)
    finally:
        stop(procs)


def run_netns(workers: int, body: dict, tmp: Path) -> float:
    store = tmp / f"netns-{workers}-{time.monotonic_ns()}"
    hosts = ["redis", "api", *[f"worker-{i}" for i in range(workers)]]
    lab = Lab.create(hosts)
    try:
        addr = lab.hosts["redis"]
        queue = f"redis://{addr}:6379/0"
        lab.run("redis", ["redis-server", "--bind", addr, "--port", "6379", "--save", "",
                          "--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp)],
                env(store), tmp / "redis.log")
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis(host=addr, socket_timeout=1) as client:
                    client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        api = lab.hosts["api"]
        lab.run("api", nnserve("serve", "--no-worker"), env(
            store, queue=queue, host=api, port=8000, workers=1,
            api_keys=f"{KEY}:predict+train+admin"), tmp / "api.log", cwd=ROOT)
        url = f"http://{api}:8000"
        wait_up(url)
        for i in range(workers):
            lab.run(f"worker-{i}", nnserve("worker", "--concurrency", "1"),
                    env(store, queue=queue), tmp / "workers.log", cwd=ROOT)
        wait_slots(url, workers)
        return timed_search(url, body)
    finally:
        lab.destroy()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--layout", default="local,netns")
    args = p.parse_args()
    body = search_request(args.trials, args.epochs)
    print(f"search: {args.trials} random trials x {args.epochs} epochs on digits "
          f"(1797 x 64), one BLAS thread per worker; {os.cpu_count()} cores")
    runners = {"local": run_local, "netns": run_netns}
    with tempfile.TemporaryDirectory(prefix="nnserve-bench-search-") as tmp:
        for layout in args.layout.split(","):
            print(f"\n{layout}:")
            times: dict[int, list[float]] = {1: [], 2: []}
            machine: list[float] = []
            try:
                for rnd in range(args.rounds):
                    machine.append(calibrate(args.epochs // 2))
                    print(f"  round {rnd + 1}: two bare fits run {machine[-1]:.2f}x as fast as "
                          "one (the cores available now)", flush=True)
                    for workers in (1, 2) if rnd % 2 == 0 else (2, 1):
                        print(f"  round {rnd + 1}, {workers} worker(s):", flush=True)
                        times[workers].append(runners[layout](workers, body, Path(tmp)))
            except NetnsUnavailable as exc:
                print(f"  skipped: {exc}")
                continue
            ratios = [a / b for a, b in zip(times[1], times[2], strict=True)]
            for workers in (1, 2):
                t = times[workers]
                print(f"  {workers} worker(s): median {statistics.median(t):.2f} s "
                      f"(min {min(t):.2f}, max {max(t):.2f})")
            print(f"  speed-up 1 -> 2 workers: median {statistics.median(ratios):.2f}x "
                  f"(per round: {', '.join(f'{r:.2f}' for r in ratios)}); bare fits: "
                  f"{', '.join(f'{r:.2f}' for r in machine)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
