"""The command line as people use it, against a real ``nnserve serve``: the progress bar on a
terminal (a pty), JSON lines off one, Ctrl-C, ``predict --output``, closed pipes, the tables and
the error lines."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import requests
from sklearn.datasets import load_digits, load_iris

from service.cli_output import fmt_metric, headline
from tests.server import free_port, nnserve_env, start_server, wait_job
from tests.terminal import run_on_terminal

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "service.cli"]
IRIS_HEADER = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("cli") / "store")
    yield srv
    assert srv.stop() == 0, srv.output()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """iris.csv (labels in `species`), and big.csv: digits twenty times over with noise, which
    trains for a few seconds, long enough to watch."""
    d = tmp_path_factory.mktemp("data")
    X, y = load_iris(return_X_y=True)
    np.savetxt(d / "iris.csv", np.column_stack([X, y]), delimiter=",", fmt="%g", comments="",
               header=",".join([*IRIS_HEADER, "species"]))
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    big = np.vstack([np.column_stack([X + rng.normal(0, 1, X.shape), y]) for _ in range(20)])
    np.savetxt(d / "big.csv", big, delimiter=",", fmt="%.3g", comments="",
               header=",".join([*(f"px{i}" for i in range(64)), "digit"]))
    return d


@pytest.fixture(scope="module")
def env(server):
    return nnserve_env(server.store, server=server.url)


@pytest.fixture(scope="module")
def iris_version(server, data, env):
    out = subprocess.run([*CLI, "train", str(data / "iris.csv"), "--model", "iris",
                          "--label-column", "species"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])["model_version"]


def _cli(env, *args, timeout=120):
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_progress_bar_on_a_terminal_appears_advances_and_ends_with_the_outcome(server, data,
                                                                                env):
    screen = run_on_terminal([*CLI, "train", str(data / "big.csv"), "--model", "bar"], env)
    text = screen.text
    assert screen.exit_code == 0, text[-2000:]
    assert "━" in text and "ETA" in text and "loss " in text and "val " in text
    frames = [f for f in text.split("\r") if "epoch " in f]
    epochs = [int(e) for e in re.findall(r"epoch (\d+)/50", text)]
    assert len(set(frames)) >= 3 and len(set(epochs)) >= 3, text[-2000:]  # it advanced
    assert epochs == sorted(epochs)
    assert not any(line.startswith("{") for line in text.splitlines())  # no JSON lines
    done = re.search(r"✓ succeeded: model bar version (\d+), held-out accuracy (\S+) "
                     r"\(job ([0-9a-f]{32})\)", text)
    assert done, text[-2000:]
    job = requests.get(f"{server.url}/jobs/{done[3]}", timeout=10).json()
    assert job["status"] == "succeeded" and job["model_version"] == int(done[1])
    assert max(epochs) == job["progress"]["epoch"]
    meta = requests.get(f"{server.url}/models/bar/versions/{done[1]}", timeout=10).json()
    assert done[2] == fmt_metric(headline(meta))  # "—" until the version has an evaluation


def test_train_prints_json_lines_off_a_terminal_and_with_json(server, data, env):
    out = _cli(env, "train", str(data / "iris.csv"), "--model", "lines", "--label-column",
               "species")
    assert out.returncode == 0 and out.stderr == ""
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert list(lines[0]) == ["job_id", "model", "status"] and lines[0]["status"] == "queued"
    assert list(lines[-1]) == ["job_id", "model", "status", "model_version", "error"]
    assert lines[-1]["status"] == "succeeded"
    epochs = lines[1:-1]
    assert epochs and all(list(e) == ["epoch", "epochs", "loss", "accuracy", "val_accuracy"]
                          for e in epochs)
    assert epochs[-1]["epoch"] == 50 and len({e["epoch"] for e in epochs}) == len(epochs)

    screen = run_on_terminal([*CLI, "train", str(data / "iris.csv"), "--model", "lines",
                              "--label-column", "species", "--json"], env)
    assert screen.exit_code == 0
    shown = [json.loads(line) for line in screen.text.splitlines() if line]
    assert shown[0]["status"] == "queued" and shown[-1]["status"] == "succeeded"


def test_ctrl_c_on_a_terminal_asks_and_cancels_the_job(server, data, env):
    state = {"interrupted": False, "answered": False}

    def react(out: bytes, type_keys) -> None:
        text = out.decode(errors="replace")
        if not state["interrupted"] and re.search(r"epoch [1-9]\d*/", text):
            state["interrupted"] = True
            type_keys(b"\x03")
        elif not state["answered"] and "[c]ancel / [d]etach" in text:
            state["answered"] = True
            type_keys(b"c\n")

    screen = run_on_terminal([*CLI, "train", str(data / "big.csv"), "--model", "stopped"], env,
                             react=react)
    assert state["answered"], screen.text[-2000:]
    assert screen.exit_code == 1
    done = re.search(r"✗ cancelled \(job ([0-9a-f]{32})\)", screen.text)
    assert done, screen.text[-2000:]
    assert requests.get(f"{server.url}/jobs/{done[1]}", timeout=10).json()["status"] == \
        "cancelled"
    assert requests.get(f"{server.url}/models/stopped", timeout=10).status_code == 404


def test_ctrl_c_without_a_terminal_detaches(server, data, env):
    proc = subprocess.Popen([*CLI, "train", str(data / "big.csv"), "--model", "detached"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        job_id = json.loads(proc.stdout.readline())["job_id"]
        for line in proc.stdout:
            if json.loads(line).get("epoch"):  # training has begun
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert err == f"detached: job {job_id} trains on; follow it with " \
                  "`nnserve jobs --model detached`\n"
    assert "status" not in rest  # no outcome line: the command did not wait for one
    assert wait_job(server.url, job_id)["status"] == "succeeded"


def test_predict_output_csv_has_the_rows_and_the_answer_of_predict(server, data, env,
                                                                   iris_version, tmp_path):
    out = _cli(env, "predict", str(data / "iris.csv"), "--model", "iris", "--drop-column",
               "species", "--output", str(tmp_path / "scored.csv"))
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert out.stderr == (f"wrote 150 rows to {tmp_path / 'scored.csv'} (iris version "
                          f"{iris_version}: p_0, p_1, p_2, label)\n")
    with (data / "iris.csv").open() as f:
        rows = [row[:4] for row in csv.reader(f)]
    body = "\n".join(",".join(r) for r in rows) + "\n"
    answer = requests.post(f"{server.url}/predict?model=iris", data=body,
                           headers={"Content-Type": "text/csv"}, timeout=30).json()
    with (tmp_path / "scored.csv").open() as f:
        scored = list(csv.reader(f))
    assert scored[0] == [*IRIS_HEADER, "p_0", "p_1", "p_2", "label"]
    assert len(scored) == 151
    for row, given, proba, label in zip(scored[1:], rows[1:], answer["probabilities"],
                                        answer["labels"], strict=True):
        assert row[:4] == given
        assert [float(p) for p in row[4:7]] == proba  # the very floats of the answer
        assert row[7] == str(label)


def test_predict_on_a_terminal_shows_a_table(server, data, env, iris_version):
    screen = run_on_terminal([*CLI, "predict", str(data / "iris.csv"), "--model", "iris",
                              "--drop-column", "species"], env)
    assert screen.exit_code == 0
    lines = screen.text.splitlines()
    assert lines[0].strip() == f"iris version {iris_version}"
    assert lines[1].split() == ["row", "label", "p(label)", "p_0", "p_1", "p_2"]
    body = [line.split() for line in lines[3:13]]
    assert [r[0] for r in body] == [str(i) for i in range(10)]
    assert all(r[1] == "0" and float(r[2]) == float(r[3]) > 0.5 for r in body)
    assert "10 of 150 rows; --output FILE.csv writes them all" in screen.text


def test_predict_into_a_closed_pipe_exits_0_quietly(server, data, env):
    X, y = load_digits(return_X_y=True)
    job = requests.post(f"{server.url}/train", json={
        "model": "digits", "params": {"epochs": 5},
        "data": {"features": X.tolist(), "labels": y.tolist()}}, timeout=30).json()
    assert wait_job(server.url, job["job_id"])["status"] == "succeeded"
    # ~9000 rows: an answer far larger than a pipe holds, so the write meets the closed pipe
    command = (f"{sys.executable} -m service.cli predict {data / 'big.csv'} --model digits "
               "--drop-column digit | head -c 100")
    out = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env,
                         capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout.startswith('{"model": "digits"')
    out = subprocess.run(["bash", "-o", "pipefail", "-c", command.replace(
        "head -c 100", "head -1")], env=env, capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stderr) == (0, "")


def test_models_and_jobs_tables(server, env, iris_version):
    assert requests.put(f"{server.url}/models/iris/aliases/production",
                        json={"version": iris_version}, timeout=10).status_code == 200
    table_env = dict(env, COLUMNS="120")
    out = _cli(table_env, "models")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "models" and lines[1].split() == [
        "model", "versions", "latest", "aliases", "created", "held-out", "accuracy"]
    iris = next(line.split() for line in lines if line.startswith("iris "))
    assert iris[:4] == ["iris", "1", str(iris_version), f"production→{iris_version}"]
    meta = requests.get(f"{server.url}/models/iris/versions/{iris_version}", timeout=10).json()
    accuracy = fmt_metric(headline(meta))  # "—" for a version without a held-out evaluation
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", iris[4]) and iris[6] == accuracy

    out = _cli(table_env, "models", "iris")
    lines = out.stdout.splitlines()
    assert lines[0] == "model iris"
    assert lines[1].split() == ["version", "aliases", "created", "rows", "classes", "held-out",
                                "accuracy"]
    row = lines[3].split()
    assert row[:2] == [str(iris_version), "production"]
    assert row[-3:] == [str(meta["dataset"]["rows"]), "3", accuracy]
    listed = json.loads(_cli(env, "models", "--json").stdout)["models"]
    iris_json = next(m for m in listed if m["name"] == "iris")
    assert iris_json["aliases"] == {"production": iris_version}
    assert "test_accuracy" in iris_json and iris_json["created_at"]
    details = json.loads(_cli(env, "models", "iris", "--json").stdout)["details"]
    assert details[0]["version"] == iris_version
    assert details[0]["rows"] == meta["dataset"]["rows"]
    assert details[0]["test_accuracy"] == headline(meta)

    out = _cli(table_env, "jobs", "--model", "iris", "--status", "succeeded")
    lines = out.stdout.splitlines()
    assert lines[1].split() == ["job", "model", "status", "progress", "version", "created",
                                "error"]
    job = lines[3].split()
    assert job[1:5] == ["iris", "succeeded", "50/50", str(iris_version)]
    assert re.fullmatch(r"[0-9a-f]{32}", job[0])
    answer = json.loads(_cli(env, "jobs", "--model", "iris", "--json").stdout)
    assert answer["total"] == 1 and answer["jobs"][0]["job_id"] == job[0]
    assert _cli(env, "jobs", "--model", "nobody").stdout == "no jobs of model nobody\n"


def test_errors_are_one_readable_line(server, data, env, iris_version, tmp_path):
    three = tmp_path / "three.csv"
    three.write_text("".join(",".join(line.split(",")[:3]) + "\n"
                             for line in (data / "iris.csv").read_text().splitlines()))
    out = _cli(env, "predict", str(three), "--model", "iris")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == ("nnserve: 422 Unprocessable Content: csv column 'petal_width': is "
                          "missing; the model's features are ['sepal_length', 'sepal_width', "
                          "'petal_length', 'petal_width']\n")
    out = _cli(env, "train", str(data / "iris.csv"), "--model", "../etc")
    assert out.returncode == 1 and out.stderr.startswith("nnserve: 422 Unprocessable Content: "
                                                         "model: must be")
    assert out.stderr.count("\n") == 1

    port = free_port()  # nothing listens there
    out = _cli(env, "jobs", "--server", f"http://127.0.0.1:{port}")
    assert out.returncode == 1
    assert out.stderr == (f"nnserve: no nnserve server answers at http://127.0.0.1:{port} "
                          "(connection refused). Start one with `nnserve serve`, or point "
                          "--server / NNSERVE_SERVER at yours.\n")
