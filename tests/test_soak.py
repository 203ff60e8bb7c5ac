"""Soak: mixed prediction load while new versions are published and the alias moves.

Marked ``soak``: the default run leaves it out; ``pytest -m soak`` runs it (``.ci/run`` does,
for 15 s).

For ``NNSERVE_SOAK_SECONDS`` (default 60) three client threads predict the same rows by version
number, by ``latest`` and by the alias ``production`` while a publisher thread trains models in
this process, publishes each into the store (``ModelStore.publish``, as a training job does) and
moves ``production`` between versions over HTTP. Every response must be a 200 from a complete
version: one that was published, the one asked for (by number), not older than the newest one
published before the request (``latest``), one the alias pointed at while the request ran
(``production``), and with the probabilities that version gives when asked afterwards and that
the published model gives in this process (1e-6).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict

import numpy as np
import pytest
import requests
from sklearn.datasets import load_iris

from models import MLPClassifier
from service.store import ModelStore
from tests.factories import publish_trained
from tests.server import start_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.soak]

SECONDS = float(os.environ.get("NNSERVE_SOAK_SECONDS", "60"))
MAX_REQUESTS = 200_000  # per client thread: the loops are bounded in count as well as in time
MAX_VERSIONS = 1_000


def test_soak_predict_while_publishing_and_moving_the_alias(tmp_path):
    X, y = load_iris(return_X_y=True)
    rows = X[::10]
    store = ModelStore(tmp_path / "store")
    first, clf = publish_trained(store, "iris", X, y, hidden_layers=(16,), epochs=3, seed=0)
    store.set_alias("iris", "production", first)

    lock = threading.Lock()
    published: dict[int, MLPClassifier] = {first: clf}
    published_at: dict[int, float] = {first: 0.0}
    alias_moves: list[tuple[float, float, int]] = [(0.0, 0.0, first)]  # (sent, done, version)
    answers: defaultdict[int, list[np.ndarray]] = defaultdict(list)
    answered: list[tuple] = []  # (kind, ref, newest published at send, sent, done, version)
    problems: list[tuple] = []
    counts: Counter[str] = Counter()
    latencies: list[float] = []

    srv = start_server(store.root, "--no-worker")
    start = time.monotonic()
    stop = start + SECONDS
    try:
        def publisher() -> None:
            for seed in range(1, MAX_VERSIONS):
                if time.monotonic() >= stop:
                    return
                version, model = publish_trained(store, "iris", X, y, hidden_layers=(16,),
                                                 epochs=3, seed=seed)
                with lock:
                    published[version] = model
                    published_at[version] = time.monotonic()
                    counts["published"] += 1
                if seed % 2 == 0:
                    target = random.choice(list(published))
                    sent = time.monotonic()
                    try:
                        resp = requests.put(f"{srv.url}/models/iris/aliases/production",
                                            json={"version": target}, timeout=10)
                        failure = None if resp.status_code == 200 else (
                            resp.status_code, resp.text[:300])
                    except requests.RequestException as exc:
                        failure = repr(exc)
                    with lock:
                        if failure:
                            problems.append(("alias", target, time.monotonic() - start, failure))
                        alias_moves.append((sent, time.monotonic(), target))
                        counts["alias moves"] += 1
                time.sleep(0.25)

        def client(kind: str) -> None:
            session = requests.Session()
            for _ in range(MAX_REQUESTS):
                sent = time.monotonic()
                if sent >= stop:
                    return
                with lock:
                    newest = max(v for v, at in published_at.items() if at < sent)
                    ref = random.choice(list(published)) if kind == "number" else kind
                try:
                    resp = session.post(f"{srv.url}/predict", timeout=30, json={
                        "model": "iris", "version": ref, "instances": rows.tolist()})
                except requests.RequestException as exc:
                    with lock:
                        problems.append((kind, ref, time.monotonic() - start, repr(exc)))
                    continue
                done = time.monotonic()
                with lock:
                    counts[kind] += 1
                    latencies.append(done - sent)
                    if resp.status_code != 200:
                        problems.append((kind, ref, resp.status_code, resp.text[:300]))
                        continue
                    version = resp.json()["version"]
                    answers[version].append(np.asarray(resp.json()["probabilities"]))
                    # Judged after the load: a version is visible before publish() returns,
                    # an alias before the PUT's response is read.
                    answered.append((kind, ref, newest, sent, done, version))

        threads = [threading.Thread(target=publisher, daemon=True)] + [
            threading.Thread(target=client, args=(kind,), daemon=True)
            for kind in ("number", "latest", "production")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 60)
        assert not any(t.is_alive() for t in threads), "a load thread did not stop"
        assert srv.proc.poll() is None, f"the server exited ({srv.proc.returncode}) under load"
        elapsed = time.monotonic() - start

        for kind, ref, newest, sent, done, version in answered:
            if version not in published:
                problems.append((kind, ref, "unknown version", version))
            elif kind == "number" and version != ref:
                problems.append((kind, ref, "answered by", version))
            elif kind == "latest" and version < newest:
                problems.append((kind, "older than", newest, version))
            elif kind == "production" and version not in _alias_values(alias_moves, sent, done):
                problems.append((kind, "alias never pointed at", version, sent, done))
        p50, p99 = (np.quantile(latencies, q) * 1e3 for q in (0.5, 0.99))
        print(f"soak {elapsed:.0f} s: {dict(counts)}, {len(answers)} versions answered; "
              f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        assert not problems, problems[:10]
        assert counts["published"] >= 2 and counts["alias moves"] >= 1
        assert min(counts[k] for k in ("number", "latest", "production")) > 0

        for version, got in sorted(answers.items()):
            resp = requests.post(f"{srv.url}/predict", timeout=30, json={
                "model": "iris", "version": version, "instances": rows.tolist()})
            assert resp.status_code == 200, resp.text
            reference = np.asarray(resp.json()["probabilities"])
            np.testing.assert_allclose(reference, published[version].predict_proba(rows),
                                       atol=1e-6, err_msg=f"version {version}")
            worst = max(float(np.abs(a - reference).max()) for a in got)
            assert worst <= 1e-6, f"version {version}: an answer differs by {worst}"
        assert "Traceback" not in srv.output(), srv.output()
    except BaseException:
        print(srv.output())
        raise
    finally:
        assert srv.stop() == 0, srv.output()


def _alias_values(moves: list[tuple[float, float, int]], sent: float, done: float) -> set[int]:
    """Versions ``production`` may have pointed at some time between ``sent`` and ``done``."""
    settled = [m for m in moves if m[1] < sent]
    values = {max(settled, key=lambda m: m[1])[2]} if settled else set()
    # A move under way when the request was sent may not have landed yet: its predecessor too.
    values |= {m[2] for m in moves if m[0] <= done and m[1] >= sent}
    return values
