"""POST /train at the HTTP edge: Idempotency-Key replays, back-pressure, listing and cancel."""

from __future__ import annotations

import pytest

from service import create_app

BODY = {"model": "m", "data": {"features": [[0, 1], [1, 0], [1, 1], [0, 0]],
                               "labels": ["a", "b", "b", "a"]}, "params": {"epochs": 2}}


@pytest.fixture
def client(settings_overrides):
    # No worker runs here: jobs stay queued, which is what these tests look at.
    return create_app({**settings_overrides, "max_queued_per_model": 3}).test_client()


def test_idempotency_key_replays_the_original_job(client):
    first = client.post("/train", json=BODY, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 202 and first.headers["Location"].endswith(
        first.get_json()["job_id"])
    again = client.post("/train", json=BODY, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    other = client.post("/train", json={**BODY, "params": {"epochs": 3}},
                        headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]
    assert client.get("/jobs?model=m").get_json()["total"] == 1


def test_queue_limit_answers_429_with_retry_after(client):
    for _ in range(3):
        assert client.post("/train", json=BODY).status_code == 202
    full = client.post("/train", json=BODY)
    assert full.status_code == 429 and int(full.headers["Retry-After"]) > 0
    assert full.mimetype == "application/problem+json"
    assert client.post("/train", json={**BODY, "model": "other"}).status_code == 202


def test_csv_body_queues_a_job_with_feature_names(client):
    csv = "x1,x2,label\n0,1,a\n1,0,b\n1,1,b\n0,0,a\n"
    resp = client.post("/train?model=c", data=csv, content_type="text/csv")
    assert resp.status_code == 202, resp.get_json()
    job = client.get(resp.headers["Location"]).get_json()
    assert job["status"] == "queued" and job["dataset"]["rows"] == 4
    assert job["dataset"]["features"] == 2


def test_cancel_queued_job_and_list_by_status(client):
    job = client.post("/train", json=BODY).get_json()
    resp = client.delete(f"/jobs/{job['job_id']}")
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    listed = client.get("/jobs?status=cancelled").get_json()
    assert [j["job_id"] for j in listed["jobs"]] == [job["job_id"]]
