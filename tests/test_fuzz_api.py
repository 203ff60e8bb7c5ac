"""Property-based fuzzing of the whole OpenAPI spec with schemathesis, over real HTTP.

One ``nnserve serve`` (API only) runs on loopback with one trained model (``iris``, versions 1
and 2, ``production`` → 1, so deleting v1 is a 409 and model-specific paths get real hits). Its
training worker is stopped after that training, so jobs the fuzzer submits stay queued: nothing
trains in the background and the per-model queue limit (429) is reached. Every operation of the
spec gets schemathesis' examples, coverage and fuzzing phases with a bounded number of examples,
and every response must pass every check schemathesis runs by default: no 5xx, and status code,
content type, headers and body as documented.

The spec is built at collection time by the same app factory gunicorn runs (schemathesis'
``pytest.from_fixture`` lazy loader does not work with pytest ≥ 9.2, it sets
``Function._nodeid``); ``test_live_spec_is_the_fuzzed_spec`` checks the server serves that same
``/openapi.json``.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from unittest import mock

import pytest
import requests
import schemathesis
from sklearn.datasets import load_iris

from service import create_app, observability
from tests.server import start_server, start_worker, wait_job

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = int(os.environ.get("NNSERVE_FUZZ_EXAMPLES", "25"))
# Past this many seconds of fuzzing the remaining cases are generated but not sent, so the whole
# file stays within ~3 minutes on 2 cores; test_fuzzing_was_not_cut_short then fails, so a slow
# run is never mistaken for a complete one.
BUDGET_SECONDS = float(os.environ.get("NNSERVE_FUZZ_SECONDS", "150"))

_CONFIG = {
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "request-timeout": 20,
    "suppress-health-check": ["all"],
}


def _app_spec() -> dict:
    """``/openapi.json`` of the app factory (no store is created, logging is left alone)."""
    unused = Path(tempfile.gettempdir()) / "nnserve-fuzz-spec-unused-store"
    with mock.patch.object(observability, "configure_logging", lambda *a, **k: None):
        app = create_app({"store": unused})
    return app.test_client().get("/openapi.json").get_json()


SPEC = _app_spec()
schema = schemathesis.openapi.from_dict(SPEC, config=schemathesis.Config.from_dict(_CONFIG))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    store = tmp_path_factory.mktemp("fuzz") / "store"
    srv = start_server(store, "--no-worker", max_queued_per_model=4)
    worker = start_worker(store)
    try:
        X, y = load_iris(return_X_y=True)
        body = {"model": "iris", "params": {"epochs": 5},
                "data": {"features": X.tolist(), "labels": y.tolist()}}
        for _ in range(2):
            resp = requests.post(f"{srv.url}/train", json=body, timeout=30)
            assert resp.status_code == 202, resp.text
            job = wait_job(srv.url, resp.json()["job_id"], timeout=120)
            assert job["status"] == "succeeded", job
        assert requests.put(f"{srv.url}/models/iris/aliases/production", json={"version": 1},
                            timeout=10).status_code == 200
    except BaseException:
        srv.stop(signal.SIGKILL)
        raise
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    yield srv
    assert srv.stop() == 0, srv.output()


_started: list[float] = []
_sent: Counter[str] = Counter()
_unsent: Counter[str] = Counter()


def test_live_spec_is_the_fuzzed_spec(fuzz_server):
    assert requests.get(f"{fuzz_server.url}/openapi.json", timeout=10).json() == SPEC


@schema.parametrize()
def test_openapi_conformance(case, fuzz_server):
    """No 5xx; status, content type, headers and body of every response as the spec says."""
    if not _started:
        _started.append(time.monotonic())
    label = f"{case.method} {case.operation.path}"
    if time.monotonic() - _started[0] > BUDGET_SECONDS:
        _unsent[label] += 1
        return
    _sent[label] += 1
    case.call_and_validate(base_url=fuzz_server.url)


def test_fuzzing_was_not_cut_short(fuzz_server):
    """Runs after the fuzz tests: every generated case was sent within the time budget."""
    assert _sent, "the fuzz tests did not run"
    assert not _unsent, f"the {BUDGET_SECONDS}s budget cut fuzzing short: {dict(_unsent)}"
