"""Fixtures: app → client (flaskr style), a store with real iris models for the protocol tests,
the queue backends."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from service import create_app
from service.store import ModelStore
from tests.protocol_models import publish_models


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


@pytest.fixture
def store(tmp_path) -> ModelStore:
    """The store the ``app`` fixture serves (``tmp_path / "store"``) with the iris versions of
    :mod:`tests.protocol_models` (modules that need an empty store define their own)."""
    return publish_models(tmp_path / "store")


@pytest.fixture
def make_client(tmp_path, store):
    """A client of an app over the same store with other settings (``max_rows=2``, ...)."""

    def make(**settings):
        app = create_app({"store": tmp_path / "store", **settings})
        app.config["TESTING"] = True
        return app.test_client()

    return make
