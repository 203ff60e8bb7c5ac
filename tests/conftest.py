"""Fixtures: app → client (flaskr style), plus real ``nnserve serve`` processes on loopback."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from service import create_app


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failure: a missing service or package must not pass silently."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run every test: {report.longrepr}"


REDIS_URL = os.environ.get("NNSERVE_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request):
    """(queue setting, namespace); for Redis a unique namespace removed afterwards."""
    if request.param == "sqlite":
        yield "sqlite", "nnserve"
        return
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # an unreachable Redis fails the test, it does not skip it
    ns = f"nnt{uuid.uuid4().hex[:12]}"
    yield REDIS_URL, ns
    keys = list(client.scan_iter(match=f"{ns}:*")) + list(client.scan_iter(match=f"huey.*.{ns}"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def settings_overrides(tmp_path) -> dict:
    return {"store": tmp_path / "store", "heartbeat_interval": 0.2}


@pytest.fixture
def app(settings_overrides):
    app = create_app(settings_overrides)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()
