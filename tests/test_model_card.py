"""``GET /models/<name>/versions/<v>/card``: every section is there, its numbers are meta.json's,
and what was not recorded is said to be missing rather than made up."""

from __future__ import annotations

import numpy as np
import pytest

from service import create_app
from service.config import Settings
from service.handlers.card import ECE_THRESHOLD, LOW_RECALL, num, render_card
from service.jobs import JobService
from service.store import ModelStore
from tests.test_evaluation_job import SMALL, blobs, train

SECTIONS = ["## Model details", "## Intended use", "## Training data", "## Evaluation",
            "## Caveats and recommendations"]


@pytest.fixture
def svc(tmp_path) -> JobService:
    settings = Settings.from_env({"store": tmp_path / "store", "queue": "sqlite"}, environ={})
    return JobService(settings, ModelStore(settings.store))


@pytest.fixture
def client(svc):
    return create_app({"store": svc.settings.store}).test_client()


def _card(client, ref: str = "1", name: str = "m") -> str:
    resp = client.get(f"/models/{name}/versions/{ref}/card")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type == "text/markdown; charset=utf-8"
    return resp.get_data(as_text=True)


def _sections(card: str) -> dict[str, str]:
    out, current = {}, None
    for line in card.splitlines():
        if line.startswith("## "):
            current = line
            out[current] = ""
        elif current:
            out[current] += line + "\n"
    assert list(out) == SECTIONS
    return out


def test_card_of_a_trained_version_equals_its_meta(svc, client):
    X, y = blobs(90)
    meta = train(svc, X, y, {**SMALL, "test_split": 0.3}, feature_names=["a", "b", "c", "d"],
                 description="Three blobs.\nA teaching example | not for production.")
    card = _card(client)
    assert card.startswith("# Model card: m version 1\n")
    s = _sections(card)
    details = s["## Model details"]
    assert f"`{meta['artifact_sha256']}` ({meta['artifact_bytes']} bytes)" in details
    assert meta["created_at"] in details and meta["job_id"] in details
    assert "4 inputs → 8 (relu) → 3 outputs (softmax)" in details
    for key, value in meta["params"].items():
        assert f"| {key} | {value} |" in details
    assert s["## Intended use"].count("> ") == 2
    assert "> A teaching example \\| not for production." not in s["## Intended use"]
    assert "> A teaching example | not for production." in s["## Intended use"]
    data = s["## Training data"]
    split = meta["evaluation"]["split"]
    assert f"Rows: 90 ({split['train_rows']} trained on, {split['test_rows']} held out" in data
    assert meta["dataset"]["sha256"] in data and "4 numeric: a, b, c, d" in data
    for c, n in zip(meta["classes"], meta["dataset"]["class_counts"], strict=True):
        assert f"| {c} | {n} | {n / 90:.1%} |" in data
    test, trained = meta["evaluation"]["test"], meta["evaluation"]["train"]
    ev = s["## Evaluation"]
    assert f"On {test['rows']} held-out rows (30% of each class, seed 0)" in ev
    assert f"| Accuracy | {num(test['accuracy'])} | {num(trained['accuracy'])} |" in ev
    assert f"| Log loss | {num(test['log_loss'])} | {num(trained['log_loss'])} |" in ev
    assert f"| Brier score | {num(test['brier_score'])} |" in ev
    assert f"| Expected calibration error (10 bins) | {num(test['ece'])} |" in ev
    for c in test["per_class"]:
        assert (f"| {c['class']} | {num(c['precision'])} | {num(c['recall'])} | "
                f"{num(c['f1'])} | {c['support']} | {num(c['roc_auc'])} |") in ev
    for c, row in zip(test["classes"], test["confusion_matrix"], strict=True):
        assert f"| {c} | " + " | ".join(map(str, row)) + " |" in ev
    for b in test["calibration"]:
        line = f"| {b['lower']:.1f}–{b['upper']:.1f} | {b['count']} |"
        assert (line in ev) == bool(b["count"])
    caveats = s["## Caveats and recommendations"]
    assert f"expected calibration error {num(test['ece'])}" in caveats
    weak = [c for c in test["per_class"] if c["recall"] < LOW_RECALL]
    assert ("Low recall" in caveats) == bool(weak)
    assert "Only 27 held-out rows" in caveats  # 30% of 90


def test_caveats_follow_the_stated_thresholds():
    def metrics(ece: float, recalls: list[float], conf: float, acc: float) -> dict:
        return {"rows": 40, "classes": ["a", "b"], "accuracy": acc, "balanced_accuracy": acc,
                "log_loss": 0.5, "macro_f1": 0.5, "roc_auc": None, "brier_score": 0.2,
                "ece": ece, "confusion_matrix": [[20, 0], [0, 20]],
                "per_class": [{"class": c, "precision": 1.0, "recall": r, "f1": 1.0,
                               "support": 20, "roc_auc": None}
                              for c, r in zip("ab", recalls, strict=True)],
                "calibration": [{"lower": 0.9, "upper": 1.0, "count": 40,
                                 "mean_confidence": conf, "accuracy": acc}]}
    split = {"test_split": 0.2, "seed": 0, "stratified": True, "train_rows": 160,
             "test_rows": 40, "note": None}
    bad = render_card({"evaluation": {"split": split, "test": metrics(0.2, [0.5, 0.95], 0.95,
                                                                      0.75),
                                      "train": metrics(0.0, [1.0, 1.0], 0.99, 0.99)}})
    assert f"above {ECE_THRESHOLD}; the probabilities are over-confident" in bad
    assert "Low recall (below 0.7) on the held-out rows for: a (0.5000)" in bad
    assert "may be overfitting" in bad and "Only" not in bad
    good = render_card({"evaluation": {"split": split, "test": metrics(0.01, [0.9, 0.9], 0.9,
                                                                       0.9),
                                       "train": metrics(0.01, [0.9, 0.9], 0.9, 0.9)}})
    assert f"within {ECE_THRESHOLD}" in good and "at least 0.7" in good
    assert "Low recall" not in good and "overfitting" not in good


def test_tabular_features_and_a_skipped_split(svc, client):
    records = [{"colour": ["red", "blue"][i % 2], "size": float(i % 7) if i % 5 else None}
               for i in range(12)]
    labels = ["x"] * 10 + ["y"] * 2  # 2 rows of y: too few to hold one out at 0.2
    meta = train(svc, records, labels, SMALL)
    s = _sections(_card(client))
    assert "| colour | categorical | 0.0% |" in s["## Training data"]
    missing = meta["input_schema"][1]["missing_rate"]
    assert f"| size | numeric | {missing:.1%} |" in s["## Training data"]
    assert "No rows were held out: the test split was skipped" in s["## Evaluation"]
    assert "| Accuracy | — | " in s["## Evaluation"]
    assert "No held-out metrics" in s["## Caveats and recommendations"]
    assert "Not recorded: no `description`" in s["## Intended use"]


def test_versions_from_before_evaluation_still_work(client, tmp_path):
    from tests.protocol_models import publish_models

    publish_models(tmp_path / "store")
    meta = client.get("/models/iris/versions/1").get_json()
    assert "evaluation" not in meta and meta["classes"] == ["setosa", "versicolor", "virginica"]
    s = _sections(_card(client, "prod", "iris"))
    assert "Not recorded: this version was trained before held-out evaluation" in \
        s["## Evaluation"]
    assert "Class balance: not recorded" in s["## Training data"]
    assert "Not assessed" in s["## Caveats and recommendations"]
    assert "Not recorded: no `description`" in s["## Intended use"]
    assert "Training job: none recorded" in s["## Model details"]
    assert _card(client, "latest", "iris").startswith("# Model card: iris version 2")


def test_card_refs_that_do_not_resolve(client, tmp_path):
    from tests.protocol_models import publish_models

    publish_models(tmp_path / "store")
    assert client.get("/models/nope/versions/1/card").status_code == 404
    assert client.get("/models/iris/versions/7/card").status_code == 404
    assert client.get("/models/iris/versions/staging/card").status_code == 404
    bad = client.get("/models/iris/versions/0/card")
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert client.get("/models/i$s/versions/1/card").status_code == 422


def test_render_card_needs_nothing_but_meta():
    card = render_card({})
    assert [line for line in card.splitlines() if line.startswith("## ")] == SECTIONS
    assert "Architecture: not recorded" in card and np.isfinite(len(card))
