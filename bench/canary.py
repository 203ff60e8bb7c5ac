"""Canary benchmark: predict rate through a weighted alias against a plain one, in one run.

A real ``nnserve serve`` (2 sync workers) with two versions of a digits model (64 features):
alias ``plain`` → v1, alias ``canary`` → ``{"1": 90, "2": 10}``. wrk sends 1-row ``POST
/predict`` to each alias in ``--rounds`` alternating rounds; prints each round's req/s, the
ratio weighted / plain (target >= 0.95 x; median, min and max over the rounds) and the split
the canary rounds actually got, from the server's per-version prediction counters. First, in
this process, the cost of resolving each alias per request (``ModelCache.get``, the one place
every protocol resolves through), which the HTTP rates measure along with everything else.

Needs wrk (Debian package ``wrk``).

    .venv/bin/python bench/canary.py [--seconds 20] [--connections 4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from launch import start_server  # bench/ is the script's directory, on sys.path
from serve import wrk
from sklearn.datasets import load_digits

from models import MLPClassifier
from service.model_cache import ModelCache
from service.routing import Split
from service.store import ModelStore


def _publish(store: ModelStore, seed: int) -> int:
    digits = load_digits()
    clf = MLPClassifier(hidden_layers=(64,), epochs=10, seed=seed).fit(digits.data,
                                                                        digits.target)
    buf = io.BytesIO()
    clf.save(buf)
    return store.publish("digits", buf.getvalue(), {
        "params": clf.get_params(), "n_features": 64, "classes": clf.classes_.tolist()})


def _counts(url: str) -> dict[str, float]:
    text = requests.get(url + "/metrics", timeout=10).text
    return {v: float(n) for v, n in re.findall(
        r'^nnserve_predictions_total\{model="digits",version="(\d+)"\} ([\d.e+]+)', text, re.M)}


def resolve_cost(store: ModelStore, rounds: int, calls: int = 20_000) -> None:
    """Microseconds per ``ModelCache.get`` of the plain and the weighted alias, alternating."""
    cache = ModelCache(store, racy_window=0.0)
    costs: dict[str, list[float]] = {"plain": [], "canary": []}
    for _ in range(rounds):
        for alias in costs:
            cache.get("digits", alias)
            start = time.perf_counter()
            for _ in range(calls):
                cache.get("digits", alias)
            costs[alias].append((time.perf_counter() - start) / calls * 1e6)
    for alias, values in costs.items():
        print(f"resolve {alias}: median {statistics.median(values):.2f} us per request "
              f"(min {min(values):.2f}, max {max(values):.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=20, help="shared by all rounds")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/canary.py needs wrk: apt-get install wrk")
    row = load_digits().data[:1].tolist()
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(Path(tmp) / "store")
        one, two = _publish(store, 0), _publish(store, 1)
        store.set_alias("digits", "plain", one)
        store.set_alias("digits", "canary", Split({one: 90, two: 10}))
        time.sleep(0.01)  # the cache trusts a freshness token once it is older than its window
        resolve_cost(store, args.rounds)
        server = start_server(store.root, log_dir=Path(tmp))
        try:
            bodies = {alias: json.dumps({"model": "digits", "version": alias,
                                         "instances": row}).encode()
                      for alias in ("plain", "canary")}
            for body in bodies.values():  # load both versions in both workers
                wrk(server.url + "/predict", 1, args.connections, body)
            seconds = max(1, args.seconds // (2 * args.rounds))
            ratios, split = [], {"1": 0.0, "2": 0.0}
            for n in range(args.rounds):
                plain = wrk(server.url + "/predict", seconds, args.connections,
                            bodies["plain"])
                before = _counts(server.url)
                weighted = wrk(server.url + "/predict", seconds, args.connections,
                               bodies["canary"])
                after = _counts(server.url)
                for v in split:
                    split[v] += after.get(v, 0.0) - before.get(v, 0.0)
                ratios.append(weighted["rps"] / plain["rps"])
                print(f"round {n + 1}: plain {plain['rps']:.0f} req/s (p50 "
                      f"{plain['p50_ms']:.2f} ms), weighted {weighted['rps']:.0f} req/s (p50 "
                      f"{weighted['p50_ms']:.2f} ms), ratio {ratios[-1]:.3f}")
            total = sum(split.values())
            print(f"weighted / plain: median {statistics.median(ratios):.3f} x "
                  f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target >= 0.95 x)")
            print(f"canary split: v1 {100 * split['1'] / total:.2f}%, v2 "
                  f"{100 * split['2'] / total:.2f}% of {total:.0f} predictions (weights 90/10)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
