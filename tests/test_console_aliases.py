"""The console's model page in a real headless Chromium: canary weights, alias history and
rollback, against a live ``nnserve serve`` with API keys on."""

from __future__ import annotations

import pytest
import requests
from sklearn.datasets import load_iris

from tests.server import wait_job
from tests.test_console_browser import (  # noqa: F401  (fixtures of the console's browser tests)
    AUTH,
    browser,
    console,
    server,
    shots,
    train,
)

pytestmark = pytest.mark.e2e


def test_weights_history_and_rollback_on_the_model_page(console, server, shots):  # noqa: F811
    X, y = load_iris(return_X_y=True)
    for _ in range(2):
        job = wait_job(server.url, train(server.url, "canary", X, y.tolist(), epochs=5)["job_id"],
                       headers=AUTH)
        assert job["status"] == "succeeded", job
    url = f"{server.url}/models/canary"
    assert requests.put(f"{url}/aliases/prod", json={"version": 1}, headers=AUTH,
                        timeout=10).status_code == 200
    assert requests.put(f"{url}/aliases/prod", json={"versions": {"1": 90, "2": 10}},
                        headers=AUTH, timeout=10).status_code == 200
    aliases = lambda: requests.get(url, headers=AUTH, timeout=10).json()["aliases"]  # noqa: E731

    page = console.open("/ui/models/canary")
    assert page.inner_text("tr[data-alias=prod] td.target") == "v1 90% · v2 10%"
    badges = page.inner_text("#versions tr[data-version='2'] td:nth-child(8)")
    assert "prod 10%" in badges
    history = page.eval_on_selector_all("#alias-history tbody tr",
                                        "els => els.map(e => +e.dataset.seq)")
    assert history == [2, 1]
    console.shot(shots, "model-canary")

    def act(selector: str) -> None:
        with page.expect_navigation():
            page.click(selector)
        page.wait_for_selector("body[data-ready=true]")

    page.fill("tr[data-alias=prod] input.weights", "2:100")
    act("tr[data-alias=prod] >> text=Set weights")
    assert aliases() == {"prod": 2}
    assert page.inner_text("tr[data-alias=prod] td.target") == "v2"
    act("tr[data-alias=prod] >> text=Roll back")
    assert aliases() == {"prod": {"versions": {"1": 90, "2": 10}}}
    reason = page.inner_text("#alias-history tr[data-seq='4'] td.reason")
    assert reason == "rollback of #3"
