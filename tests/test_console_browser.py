"""The console in a real headless Chromium (Debian's, driven by Playwright) against a live
``nnserve serve`` with API keys on. When the browser cannot start, these tests fail.

Screenshots of every page go to ``$NNSERVE_SCREENSHOTS`` (default: a pytest temp directory).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright
from sklearn.datasets import load_digits, load_iris

from tests.server import start_server, wait_job
from tests.test_engine_tabular_fit import mixed_data

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); never a downloaded one
ADMIN, READER = "console-admin-key", "console-reader-key"
KEYS = f"{ADMIN}:admin,{READER}:predict"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("NNSERVE_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("console-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        # No skip: a browser that cannot start is a failed test.
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("console") / "store", api_keys=KEYS)
    yield srv
    assert srv.stop() == 0, srv.output()


def train(url: str, model: str, X, y, **params) -> dict:
    resp = requests.post(f"{url}/train", headers=AUTH, timeout=30, json={
        "model": model, "params": params,
        "data": {"features": X.tolist(), "labels": list(y), "feature_names": IRIS_FEATURES}})
    assert resp.status_code == 202, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def iris(server) -> dict:
    """Two versions of ``iris``; returns the meta of version 1 (the better trained)."""
    X, y = load_iris(return_X_y=True)
    names = [["setosa", "versicolor", "virginica"][i] for i in y]
    for epochs in (60, 15):
        job = wait_job(server.url, train(server.url, "iris", X, names, epochs=epochs,
                                         learning_rate=0.01)["job_id"], headers=AUTH)
        assert job["status"] == "succeeded", job
    return requests.get(f"{server.url}/models/iris/versions/1", headers=AUTH, timeout=10).json()


class Console:
    """One browser tab on the console, with the page errors and CSP refusals it logged."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.page: Page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.url, self.errors = url, []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" and "Failed to load resource" not in m.text else None)

    def open(self, path: str, key: str | None = ADMIN) -> Page:
        self.page.goto(self.url + path)
        if key:
            self.give_key(key)
        self.page.wait_for_selector("body[data-ready=true]")
        return self.page

    def give_key(self, key: str) -> None:
        self.page.fill("#api-key", key)
        self.page.click("#key-form button")

    def shot(self, shots: Path, name: str) -> None:
        self.page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.page.close()
        assert not self.errors, self.errors


@pytest.fixture
def console(browser, server):
    tab = Console(browser, server.url)
    yield tab
    tab.close()


def test_nothing_shows_until_a_key_is_given(console, iris, shots):
    page = console.page
    page.goto(console.url + "/")  # redirects to /ui
    page.wait_for_selector("#key-form")
    assert page.url == console.url + "/ui"
    assert "iris" not in page.inner_text("main") and page.query_selector("#models") is None
    console.shot(shots, "key-prompt")
    console.give_key("not-a-key")
    page.wait_for_selector("#key-form .error:text('not valid')")
    assert "iris" not in page.inner_text("main")
    assert page.evaluate("sessionStorage.length") == 0
    console.give_key(ADMIN)
    page.wait_for_selector("#models tr[data-model=iris]")
    assert page.evaluate("sessionStorage.getItem('nnserve.apiKey')") == ADMIN
    assert ADMIN not in page.url and page.context.cookies() == []
    latest = requests.get(f"{console.url}/models/iris/versions/2", headers=AUTH, timeout=10).json()
    shown = page.inner_text("#models tr[data-model=iris] td.headline")
    assert shown == f"{latest['evaluation']['test']['accuracy']:.3f}"
    console.shot(shots, "models")
    page.click("header a[href='/ui/jobs']")  # asked once: the next page needs no key
    page.wait_for_selector("body[data-ready=true]")
    assert page.query_selector("#key-form") is None


def test_version_page_draws_what_the_json_says(console, iris, shots):
    page = console.open("/ui/models/iris/versions/1")
    test = iris["evaluation"]["test"]
    cells = page.eval_on_selector_all(
        "#confusion td.cm", "els => els.map(e => [+e.dataset.row, +e.dataset.col, +e.textContent])")
    cm = test["confusion_matrix"]
    assert cells == [[i, j, n] for i, row in enumerate(cm) for j, n in enumerate(row)]
    assert page.eval_on_selector_all("#confusion thead th", "els => els.map(e => e.textContent)")[
        1:] == test["classes"]
    epochs = [h["epoch"] for h in iris["history"]]
    for name, key in (("loss", "loss"), ("accuracy", "accuracy")):
        x, train_y, *val = page.evaluate(f"nnserveCharts.{name}.data.map(s => Array.from(s))")
        assert x == epochs and len(train_y) == len(iris["history"])
        assert train_y == pytest.approx([h[key] for h in iris["history"]])
        labels = page.evaluate(f"nnserveCharts.{name}.axes.map(a => a.label)")
        assert all(labels) and "epoch" in labels[0]
    bars = page.evaluate("nnserveCharts.reliability.data[1].map(v => v === null ? null : +v)")
    assert bars == [b["accuracy"] if b["count"] else None for b in test["calibration"]]
    rows = page.eval_on_selector_all("#per-class tbody tr", "els => els.length")
    assert rows == len(test["classes"])
    assert page.inner_text("#verdict")
    page.click("text=Show the model card")
    card = requests.get(f"{console.url}/models/iris/versions/1/card", headers=AUTH, timeout=10)
    assert card.status_code == 200
    assert page.wait_for_selector("#card pre").text_content() == card.text


def test_try_it_shows_the_probabilities_of_predict(console, iris, shots):
    page = console.open("/ui/models/iris/versions/1")
    row = [6.3, 2.8, 5.1, 1.5]
    for i, value in enumerate(row):
        page.fill(f"#in-{i}", str(value))
    page.click("#try-it button")
    page.wait_for_selector("#probabilities")
    shown = page.eval_on_selector_all(
        "#probabilities [data-probability]",
        "els => els.map(e => [e.dataset.class, +e.dataset.probability])")
    want = requests.post(f"{console.url}/predict", headers=AUTH, timeout=10, json={
        "model": "iris", "version": 1, "instances": [row]}).json()
    assert [c for c, _ in shown] == want["classes"]
    assert [p for _, p in shown] == pytest.approx(want["probabilities"][0], rel=1e-12)
    console.shot(shots, "version")


def test_model_page_lists_and_compares_versions(console, iris, shots):
    page = console.open("/ui/models/iris")
    versions = page.eval_on_selector_all("#versions tbody tr",
                                         "els => els.map(e => +e.dataset.version)")
    assert versions == [2, 1]
    acc = page.inner_text("#versions tr[data-version='1'] td:nth-child(3)")
    assert acc == f"{iris['evaluation']['test']['accuracy']:.3f}"
    assert page.inner_text("#compare thead").split() == ["v1", "v2"]
    console.shot(shots, "model")


def test_admin_moves_and_deletes_aliases_and_versions(console, browser, server, iris):
    X, y = load_iris(return_X_y=True)
    for _ in range(2):
        wait_job(server.url, train(server.url, "scratch", X, y.tolist(), epochs=5)["job_id"],
                 headers=AUTH)
    aliases = lambda: requests.get(f"{server.url}/models/scratch", headers=AUTH,  # noqa: E731
                                   timeout=10).json()["aliases"]
    page = console.open("/ui/models/scratch")
    page.on("dialog", lambda dialog: dialog.accept())  # "Delete version ...?"

    def act(selector: str) -> None:
        with page.expect_navigation():
            page.click(selector)
        page.wait_for_selector("body[data-ready=true]")

    page.fill("#new-alias", "production")
    page.fill("#new-alias-version", "1")
    act("text=Set alias")
    assert aliases() == {"production": 1}
    page.fill("tr[data-alias=production] input", "2")
    act("tr[data-alias=production] >> text=Move")
    assert aliases() == {"production": 2}
    act("#versions tr[data-version='1'] >> text=Delete version")
    assert requests.get(f"{server.url}/models/scratch/versions/1", headers=AUTH,
                        timeout=10).status_code == 404
    act("tr[data-alias=production] >> text=Delete alias")
    assert aliases() == {}
    reader = Console(browser, server.url)  # a predict-only key sees the data, not the controls
    try:
        tab = reader.open("/ui/models/scratch", key=READER)
        assert tab.query_selector("#no-admin") and tab.query_selector("text=Delete version") is None
    finally:
        reader.close()


def test_a_running_jobs_progress_bar_advances_and_cancels(console, server, iris, shots):
    X, y = load_digits(return_X_y=True)
    resp = requests.post(f"{server.url}/train", headers=AUTH, timeout=30, json={
        "model": "slow", "data": {"features": X.tolist(), "labels": y.tolist()},
        "params": {"hidden_layers": [128, 128], "epochs": 5000, "batch_size": 8,
                   "early_stopping": False}})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    page = console.open("/ui/jobs")
    row = f"#active tr[data-job='{job_id}']"
    page.wait_for_selector(f"{row}[data-status=running]", timeout=60_000)
    seen, deadline = [], time.monotonic() + 60
    while len(seen) < 3 and time.monotonic() < deadline:  # three advancing values, polled
        value = page.eval_on_selector(f"{row} progress", "e => [e.value, e.max]")
        if not seen or value[0] > seen[-1][0]:
            seen.append(value)
        time.sleep(0.3)
    assert len(seen) == 3 and all(m == 5000 for _, m in seen), seen
    assert seen[0][0] < seen[1][0] < seen[2][0]
    console.shot(shots, "jobs")
    page.click(f"{row} button")
    page.wait_for_selector(f"#finished tr[data-job='{job_id}'][data-status=cancelled]",
                           timeout=60_000)
    job = requests.get(f"{server.url}/jobs/{job_id}", headers=AUTH, timeout=10).json()
    assert job["status"] == "cancelled"


def test_try_it_for_a_tabular_model_uses_typed_inputs(console, server):
    records, labels = mixed_data(300, seed=1)
    resp = requests.post(f"{server.url}/train", headers=AUTH, timeout=30, json={
        "model": "mixed", "params": {"epochs": 10},
        "data": {"records": records, "labels": labels.tolist()}})
    job = wait_job(server.url, resp.json()["job_id"], headers=AUTH)
    assert job["status"] == "succeeded", job
    meta = requests.get(f"{server.url}/models/mixed/versions/1", headers=AUTH, timeout=10).json()
    schema = {c["name"]: c for c in meta["input_schema"]}
    page = console.open("/ui/models/mixed/versions/1")
    assert page.query_selector("#input-schema")
    colours = page.eval_on_selector_all("#in-colour option", "els => els.map(e => e.value)")
    assert colours == [*schema["colour"]["categories"], ""]  # "" is (missing)
    assert page.get_attribute("#in-size", "type") == "number"
    assert page.eval_on_selector_all("#in-flag option", "els => els.map(e => e.value)") == [
        "true", "false", ""]
    for name in (n for n, c in schema.items() if c["dropped"]):  # unused in training: no input
        assert page.query_selector(f"#in-{name}") is None
    record = {"colour": "red", "size": 0.25, "flag": False, "level": "b"}
    page.select_option("#in-colour", "red")
    page.fill("#in-size", "0.25")
    page.select_option("#in-flag", "false")
    page.select_option("#in-level", "b")
    page.click("#try-it button")
    page.wait_for_selector("#probabilities")
    shown = page.eval_on_selector_all("#probabilities [data-probability]",
                                      "els => els.map(e => +e.dataset.probability)")
    want = requests.post(f"{server.url}/predict", headers=AUTH, timeout=10, json={
        "model": "mixed", "version": 1, "instances": [record]}).json()
    assert shown == pytest.approx(want["probabilities"][0], rel=1e-12)


def test_two_versions_evaluated_on_the_same_rows(console, iris, tmp_path):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    csv = tmp_path / "rows.csv"
    csv.write_text(",".join([*IRIS_FEATURES, "species"]) + "\n" + "".join(
        ",".join([*map(str, row), label]) + "\n" for row, label in zip(X, names, strict=True)))
    page = console.open("/ui/models/iris")
    page.set_input_files("#eval-file", str(csv))
    page.fill("#eval-label", "species")
    page.click("#eval-run")
    page.wait_for_selector("#compare-own")
    shown = page.eval_on_selector_all("#compare-own tbody tr", "els => els.map(e => "
                                      "Array.from(e.children, c => c.textContent))")
    for v, column in ((1, 1), (2, 2)):  # v1 against v2, as the pickers start
        want = requests.post(f"{console.url}/models/iris/versions/{v}/evaluate",
                             params={"label_column": "species"}, data=csv.read_bytes(),
                             timeout=30, headers={**AUTH, "Content-Type": "text/csv"}).json()
        row = {r[0]: r[column].removesuffix(" ▲") for r in shown}
        assert row["accuracy"] == f"{want['accuracy']:.3f}" and row["rows"] == "150"
        assert row["log loss (nats)"] == f"{want['log_loss']:.3f}"
