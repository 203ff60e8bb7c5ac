"""service.observability: /metrics, request ids, JSON request logs, multiprocess merging.

The multiprocess tests run real processes: two interpreters writing to one directory, and a real
gunicorn with two workers using the hooks the way ``service/gunicorn.conf.py`` does.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from service import create_app, observability

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def obs_app(tmp_path):
    app = create_app({"store": tmp_path / "store"})
    app.config["TESTING"] = True
    if not any(rule.rule == "/metrics" for rule in app.url_map.iter_rules()):
        observability.init_app(app)  # until create_app wires it
    return app


@pytest.fixture
def obs_client(obs_app):
    return obs_app.test_client()


@pytest.fixture
def json_logs(capsys):
    """configure_logging on the root logger for one test; returns a reader of JSON lines."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    observability.configure_logging("INFO")
    capsys.readouterr()

    def read() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    yield read
    root.handlers[:], level = saved
    root.setLevel(level)


@pytest.fixture
def sources():
    yield
    observability.set_models_loaded_source(None)
    observability.set_queue_depth_source(None)


def scrape(client) -> dict[tuple[str, frozenset], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(resp.get_data(as_text=True))
            for s in family.samples}


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_request_counter_and_latency_by_url_rule_and_status(obs_client):
    req = dict(method="GET", endpoint="/healthz", status="200")
    assets = dict(method="GET", endpoint="/docs/assets/<path:filename>", status="404")
    unmatched = dict(method="GET", endpoint=observability.UNMATCHED, status="404")
    before = scrape(obs_client)
    for _ in range(3):
        assert obs_client.get("/healthz").status_code == 200
    obs_client.get("/docs/assets/no-such-1.js")
    obs_client.get("/docs/assets/no-such-2.js")
    obs_client.get("/no/such/route")
    after = scrape(obs_client)
    assert sample(after, "nnserve_http_requests_total", **req) \
        - sample(before, "nnserve_http_requests_total", **req) == 3
    # two raw paths, one series: the label is the URL rule
    assert sample(after, "nnserve_http_requests_total", **assets) \
        - sample(before, "nnserve_http_requests_total", **assets) == 2
    assert sample(after, "nnserve_http_requests_total", **unmatched) \
        - sample(before, "nnserve_http_requests_total", **unmatched) == 1
    assert not any("no-such" in str(labels) for _, labels in after)
    assert sample(after, "nnserve_http_request_duration_seconds_count", **req) \
        - sample(before, "nnserve_http_request_duration_seconds_count", **req) == 3
    assert sample(after, "nnserve_http_request_duration_seconds_bucket", le="+Inf", **req) \
        == sample(after, "nnserve_http_request_duration_seconds_count", **req)


def test_metrics_route_is_not_in_openapi(obs_client):
    spec = obs_client.get("/openapi.json").get_json()
    assert "/metrics" not in spec["paths"]
    assert "/healthz" in spec["paths"]


def test_prediction_job_and_gauge_metrics(obs_client, sources):
    before = scrape(obs_client)
    observability.record_prediction("iris", 3, 10)
    observability.record_prediction("iris", 3, 5)
    observability.record_job_finished("succeeded", 12.5)
    observability.record_job_finished("cancelled", None)
    observability.set_models_loaded_source(lambda: 4)
    observability.set_queue_depth_source(lambda: 7)
    after = scrape(obs_client)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("nnserve_predictions_total", model="iris", version="3") == 2
    assert delta("nnserve_predicted_rows_total", model="iris", version="3") == 15
    assert delta("nnserve_training_jobs_total", status="succeeded") == 1
    assert delta("nnserve_training_jobs_total", status="cancelled") == 1
    assert delta("nnserve_training_duration_seconds_count", status="succeeded") == 1
    assert delta("nnserve_training_duration_seconds_sum", status="succeeded") == 12.5
    assert delta("nnserve_training_duration_seconds_count", status="cancelled") == 0
    assert sample(after, "nnserve_models_loaded") == 4
    assert sample(after, "nnserve_queue_depth") == 7


def test_the_metrics_table_in_the_docs_lists_exactly_the_exposed_metrics(obs_client, sources):
    observability.record_prediction("docs", 1, 1)
    observability.record_job_finished("succeeded", 1.0)
    observability.set_queue_depth_source(lambda: 0)
    text = obs_client.get("/metrics").get_data(as_text=True)
    exposed = {f.name + ("_total" if f.type == "counter" else "")
               for f in text_string_to_metric_families(text) if f.name.startswith("nnserve_")}
    docs = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(nnserve_\w+)` \|", docs, re.M))
    assert documented == exposed


def test_a_failing_source_leaves_its_metric_out_not_the_scrape(obs_client, sources):
    def broken() -> int:
        raise ConnectionError("job store down")

    observability.set_queue_depth_source(broken)
    observability.set_models_loaded_source(broken)
    assert obs_client.get("/healthz").status_code == 200
    assert ("nnserve_queue_depth", frozenset()) not in scrape(obs_client)


@pytest.mark.parametrize("sent", ["abc-123", "A.b_c-9", "x" * 128])
def test_sane_request_id_is_echoed(obs_client, sent):
    resp = obs_client.get("/healthz", headers={"X-Request-ID": sent})
    assert resp.headers["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has space", "a/b", "ünï", "a\tb"])
def test_other_request_ids_are_replaced_by_a_generated_one(obs_client, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = obs_client.get("/healthz", headers=headers).headers["X-Request-ID"]
    second = obs_client.get("/healthz", headers=headers).headers["X-Request-ID"]
    for rid in (first, second):
        assert len(rid) == 32 and int(rid, 16) >= 0
    assert first != second


def test_request_id_on_error_responses_too(obs_client):
    resp = obs_client.get("/no/such/route", headers={"X-Request-ID": "err-1"})
    assert resp.status_code == 404
    assert resp.headers["X-Request-ID"] == "err-1"


def test_one_json_log_line_per_request(obs_client, json_logs):
    obs_client.get("/healthz", headers={"X-Request-ID": "req-1"},
                   environ_base={"REMOTE_ADDR": "10.1.2.3"})
    obs_client.get("/no/such/route?q=1")
    lines = [line for line in json_logs() if line.get("event") == "request"]
    assert len(lines) == 2
    first, second = lines
    assert first["method"] == "GET" and first["path"] == "/healthz"
    assert first["status"] == 200 and first["request_id"] == "req-1"
    assert first["remote_addr"] == "10.1.2.3" and first["endpoint"] == "/healthz"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert first["level"] == "INFO" and first["logger"] == "nnserve.request"
    assert first["ts"].endswith("+00:00")
    assert second["path"] == "/no/such/route" and second["status"] == 404
    assert len(second["request_id"]) == 32


def test_configure_logging_is_idempotent_and_log_event_carries_fields(json_logs):
    observability.configure_logging("INFO")
    observability.configure_logging("info")
    observability.log_event("job_finished", job_id="j1", status="failed", seconds=1.5,
                            path=Path("/x"))
    logging.getLogger("nnserve.test").warning("plain %s", "message")
    lines = json_logs()
    assert len(lines) == 2
    event, plain = lines
    assert event["event"] == "job_finished" and event["message"] == "job_finished"
    assert event["job_id"] == "j1" and event["seconds"] == 1.5 and event["path"] == "/x"
    assert plain["message"] == "plain message" and plain["level"] == "WARNING"


def test_setup_refuses_once_prometheus_client_is_in_single_process_mode(tmp_path):
    assert not observability.multiprocess_enabled()  # this test process
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        observability.setup_multiprocess_dir(tmp_path)
    assert observability.MULTIPROC_ENV not in os.environ


# --- real processes ----------------------------------------------------------------------------

def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NNSERVE_") and k != observability.MULTIPROC_ENV}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _merged(directory: Path, name: str, **labels: str) -> float | None:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return registry.get_sample_value(name, labels)


def test_two_processes_merge_through_the_multiprocess_dir(tmp_path):
    mp = tmp_path / "mp"
    mp.mkdir()
    code = textwrap.dedent("""
        import sys
        from service import observability as o
        assert o.multiprocess_enabled()
        for _ in range(500):
            o.record_prediction("m", 1, 3)
        o.record_job_finished("succeeded", 2.0)
        o.set_models_loaded_source(lambda: int(sys.argv[1]))
        o._update_models_loaded()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)], cwd=ROOT,
                              env=_env(PROMETHEUS_MULTIPROC_DIR=str(mp))) for n in (2, 3)]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert _merged(mp, "nnserve_predictions_total", model="m", version="1") == 1000
    assert _merged(mp, "nnserve_predicted_rows_total", model="m", version="1") == 3000
    assert _merged(mp, "nnserve_training_jobs_total", status="succeeded") == 2
    assert _merged(mp, "nnserve_training_duration_seconds_sum", status="succeeded") == 4.0
    assert _merged(mp, "nnserve_models_loaded") == 5
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(procs[0].pid, path=str(mp))  # what child_exit does for a dead worker
    assert _merged(mp, "nnserve_models_loaded") == 3
    assert _merged(mp, "nnserve_predictions_total", model="m", version="1") == 1000


GUNICORN_APP = """
import os
from flask import Flask
from service import observability

app = Flask(__name__)
observability.configure_logging("INFO")
observability.init_app(app)
observability.set_models_loaded_source(lambda: 1)

@app.get("/hello/<name>")
def hello(name):
    return str(os.getpid())
"""

GUNICORN_CONF = """
from service import observability

bind = "127.0.0.1:{port}"
workers = 2
worker_class = "sync"
errorlog = "-"
logconfig_dict = observability.gunicorn_logconfig("INFO")

def on_starting(server):
    observability.on_starting(server)

def child_exit(server, worker):
    observability.child_exit(server, worker)

def on_exit(server):
    observability.on_exit(server)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def _scrape_url(url: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(_get(url + "/metrics"))
            for s in family.samples}


@pytest.mark.e2e
def test_gunicorn_workers_are_counted_together(tmp_path):
    mp = tmp_path / "mp"
    mp.mkdir()
    # A stale file of an earlier run: on_starting must wipe it, or the counts would be off by 1000.
    stale = ("from service import observability as o\n"
             "for _ in range(1000): o._get_metrics().requests.labels('GET', '/hello/<name>', "
             "'200').inc()\n")
    subprocess.run([sys.executable, "-c", stale], env=_env(PROMETHEUS_MULTIPROC_DIR=str(mp)),
                   cwd=ROOT, check=True, timeout=60)
    assert list(mp.glob("*.db"))
    port = _free_port()
    (tmp_path / "obs_app.py").write_text(GUNICORN_APP)
    (tmp_path / "conf.py").write_text(GUNICORN_CONF.format(port=port))
    log = tmp_path / "gunicorn.log"
    env = _env(PROMETHEUS_MULTIPROC_DIR=str(mp))
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{tmp_path}"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c",
                                 str(tmp_path / "conf.py"), "obs_app:app"], cwd=tmp_path,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        pids: set[str] = set()
        sent = 0
        while len(pids) < 2:  # until both workers have answered
            assert time.monotonic() < deadline, log.read_text()
            try:
                pids.add(_get(f"{url}/hello/n{sent}"))
                sent += 1
            except OSError:
                time.sleep(0.1)
        for i in range(20):
            pids.add(_get(f"{url}/hello/extra{i}"))
            sent += 1
        samples = _scrape_url(url)
        hello = dict(method="GET", endpoint="/hello/<name>", status="200")
        assert samples[("nnserve_http_requests_total", frozenset(hello.items()))] == sent
        assert samples[("nnserve_models_loaded", frozenset())] == 2  # livesum of both workers

        victim = int(next(iter(pids)))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (mp / f"gauge_livesum_{victim}.db").exists():  # child_exit → mark_process_dead
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        samples = _scrape_url(url)
        # the dead worker's requests are still counted; its live gauge is gone
        assert samples[("nnserve_http_requests_total", frozenset(hello.items()))] == sent
        assert samples[("nnserve_models_loaded", frozenset())] <= 2
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own, as JSON
    requests_logged = [line for line in lines if line.get("event") == "request"]
    assert len(requests_logged) == sent + 2  # + the two scrapes: one line each, no duplicates
    assert {line["pid"] for line in requests_logged if line["path"].startswith("/hello/")} \
        == {int(pid) for pid in pids}
    assert mp.is_dir()  # an operator's directory is not removed, only wiped at start


def test_gunicorn_builds_no_access_log_fields_unless_an_access_log_is_asked_for(monkeypatch):
    """The app logs each request; gunicorn's access-log fields (~13 us a request) would only be
    dropped, so the configured logger skips them, but still writes an ``accesslog`` if given."""
    import runpy

    from gunicorn.config import Config

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")  # what the config sets, undone after the test
    conf = runpy.run_path(str(ROOT / "service" / "gunicorn.conf.py"))
    cfg = Config()
    for name in ("accesslog", "logconfig_dict", "logger_class"):
        cfg.set(name, conf[name])
    assert cfg.logger_class is conf["AppLogsRequests"]
    logger = cfg.logger_class(cfg)
    asked = []
    monkeypatch.setattr(logger, "atoms", lambda *args: asked.append(args) or {})
    logger.access(None, None, {}, None)
    assert asked == []
    cfg.set("accesslog", "-")
    logger.access(None, None, {}, None)
    assert len(asked) == 1
