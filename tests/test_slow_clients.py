"""Slow, truncated and oversized requests against a real ``nnserve serve`` (2 sync workers),
directly and behind Debian's nginx with the shipped front-door config.

Every trickling client is a thread that sends a byte a second for a bounded time, to loopback
only, and closes its socket when it stops.
"""

from __future__ import annotations

import io
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import requests
from sklearn.datasets import load_iris

from models import MLPClassifier
from service.store import ModelStore
from tests import front_door
from tests.server import free_port, start_server

pytestmark = pytest.mark.e2e

ROW = [5.1, 3.5, 1.4, 0.2]


def _publish_iris(root) -> None:
    x, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layers=(8,), epochs=5, seed=0).fit(x, y)
    buf = io.BytesIO()
    clf.save(buf)
    ModelStore(root).publish("iris", buf.getvalue(), {
        "n_features": 4, "classes": clf.classes_.tolist(), "params": clf.get_params()})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Default limits and timeouts, no training worker (nothing here should train)."""
    store = tmp_path_factory.mktemp("slow") / "store"
    _publish_iris(store)
    srv = start_server(store, "--no-worker")
    yield srv
    assert srv.stop() == 0, srv.output()


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """Short deadlines and an 8 MiB body limit, to see each limit hit within seconds."""
    store = tmp_path_factory.mktemp("tight") / "store"
    srv = start_server(store, "--no-worker", header_timeout=2, body_grace=1,
                       body_min_rate=64, max_body_mb=8)
    yield srv
    assert srv.stop() == 0, srv.output()


@pytest.fixture(scope="module")
def nginx(server, tmp_path_factory):
    door = front_door.start(tmp_path_factory.mktemp("nginx"), server.port, free_port())
    yield door
    door.stop()


class Trickler(threading.Thread):
    """Sends ``head`` then ``tail`` one byte a second until ``seconds`` pass or the server
    closes; records how the connection ended."""

    def __init__(self, port: int, head: bytes, tail: bytes, seconds: float) -> None:
        super().__init__(daemon=True)
        self.port, self.head, self.tail, self.seconds = port, head, tail, seconds
        self.answer = b""
        self.closed_after: float | None = None

    def run(self) -> None:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            try:
                sock.sendall(self.head)
                for byte in self.tail:
                    if time.monotonic() - start > self.seconds:
                        return
                    sock.sendall(bytes([byte]))
                    time.sleep(1)
            except OSError:
                pass
            finally:  # whatever the server said before closing
                try:
                    sock.settimeout(0.5)
                    while chunk := sock.recv(4096):
                        self.answer += chunk
                    self.closed_after = time.monotonic() - start
                except OSError:
                    pass


def _tricklers(port: int, seconds: float) -> list[Trickler]:
    body = b'{"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]}'
    kinds = [
        (b"", b"POST /predict HTTP/1.1\r\n"),  # the request line
        (b"POST /predict HTTP/1.1\r\nHost: x\r\n", b"Content-Type: application/json\r\n"),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         b"Content-Length: %d\r\n\r\n" % len(body), body),  # the body
    ]
    return [Trickler(port, head, tail, seconds) for head, tail in kinds * 2]


def _timed(call) -> float:
    start = time.monotonic()
    resp = call()
    assert resp.status_code == 200, resp.text
    return time.monotonic() - start


@pytest.mark.parametrize("front", ["direct", "nginx"])
def test_six_trickling_clients_do_not_stop_health_and_predict(front, request, server):
    url = request.getfixturevalue("nginx").url if front == "nginx" else server.url
    port = int(url.rsplit(":", 1)[1])
    slow = _tricklers(port, seconds=8)
    for t in slow:
        t.start()
    time.sleep(1.5)  # every trickler is connected and has sent something
    worst = 0.0
    for _ in range(8):
        worst = max(worst, _timed(lambda: requests.get(url + "/healthz", timeout=2)))
        worst = max(worst, _timed(lambda: requests.post(
            url + "/predict", json={"model": "iris", "instances": [ROW]}, timeout=2)))
        time.sleep(0.5)
    assert worst < 2.0
    assert sum(t.is_alive() for t in slow) >= 4, "the tricklers were still connected"
    for t in slow:
        t.join(15)


def test_slow_headers_are_closed_and_a_slow_body_gets_408(tight):
    head_trickler, _, body_trickler = _tricklers(tight.port, seconds=12)[:3]
    for t in (head_trickler, body_trickler):
        t.start()
    for t in (head_trickler, body_trickler):
        t.join(15)
    # headers never completed: closed without an answer, at NNSERVE_HEADER_TIMEOUT (2 s)
    assert head_trickler.answer == b""
    assert head_trickler.closed_after is not None and head_trickler.closed_after < 6
    # a body at 1 byte/s: 408 once the grace (1 s) is spent
    status, _, rest = body_trickler.answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", body_trickler.answer[:200]
    assert b"application/problem+json" in rest and b"NNSERVE_BODY_MIN_RATE" in rest
    assert body_trickler.closed_after < 8


def test_a_64_mib_upload_at_lan_speed_succeeds(server):
    """Just under the default 64 MiB limit, sent at about 25 MB/s (a slow LAN)."""
    cols = 64
    row = ",".join(["0.12345678901234567"] * cols) + ",1\n"
    n_rows = (64 * 1024 * 1024 - 4096) // len(row)
    header = ",".join(f"f{i}" for i in range(cols)) + ",label\n"
    body = (header + row * (n_rows // 2) + row.replace(",1\n", ",0\n") * (n_rows - n_rows // 2)
            ).encode()
    assert 60 * 2**20 < len(body) < 64 * 2**20

    class Paced(io.BytesIO):
        """The body at about 25 MB/s; its length gives requests the Content-Length."""

        start = time.monotonic()

        def __len__(self) -> int:
            return len(body)

        def read(self, size: int = -1) -> bytes:
            ahead = self.tell() / 25e6 - (time.monotonic() - self.start)
            if ahead > 0:
                time.sleep(ahead)
            return super().read(size)

    resp = requests.post(f"{server.url}/train?model=big&label_column=label", data=Paced(body),
                         headers={"Content-Type": "text/csv"}, timeout=120)
    assert resp.status_code == 202, resp.text[:500]
    job = requests.get(f"{server.url}/jobs/{resp.json()['job_id']}", timeout=10).json()
    assert job["status"] == "queued"


def test_413_reaches_a_client_that_writes_its_whole_body_first(tight):
    """urllib writes all 30 MB before it reads; the lingering close lets it read the 413."""
    body = b"a,b,label\n" + b"1,2,0\n" * (30 * 2**20 // 6)
    req = urllib.request.Request(f"{tight.url}/train?model=m", data=body, method="POST",
                                 headers={"Content-Type": "text/csv"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=30)
    assert caught.value.code == 413
    assert caught.value.headers["Content-Type"] == "application/problem+json"
    assert b"NNSERVE_MAX_BODY_MB" in caught.value.read()


def _raw(port: int, data: bytes, half_close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _status_and_problem(answer: bytes) -> tuple[int, dict]:
    import json

    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower(), head
    return int(head.split(b" ", 2)[1]), json.loads(body)


def _jobs_total(url: str) -> int:
    return requests.get(f"{url}/jobs", timeout=10).json()["total"]


def test_a_body_shorter_than_its_content_length_is_400_and_queues_nothing(server):
    csv = b"a,b,label\n" + b"".join(b"%d,%d,%d\n" % (i, i * 3, i % 2) for i in range(300))
    declared = len(csv) + 526
    cut = csv[:csv.rindex(b"\n", 0, 2048) + 1]  # ends at a line break, as in the report
    before = _jobs_total(server.url)
    status, problem = _status_and_problem(_raw(server.port, (
        b"POST /train?model=cut&label_column=label HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % declared) + cut))
    assert status == 400
    assert f"of the {declared} bytes" in problem["detail"]
    assert _jobs_total(server.url) == before


def test_a_chunked_body_without_its_last_chunk_is_400(server):
    csv = b"a,b,label\n1,2,0\n3,4,1\n"
    before = _jobs_total(server.url)
    status, problem = _status_and_problem(_raw(server.port, (
        b"POST /train?model=cut HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(csv)) + csv + b"\r\n"))
    assert status == 400 and "last chunk" in problem["detail"]
    assert _jobs_total(server.url) == before


def test_a_complete_chunked_body_is_read(server):
    body = b'{"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]}'
    answer = _raw(server.port, (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"10\r\n" + body[:16] + b"\r\n%x;ext=1\r\n" % (len(body) - 16) + body[16:] +
        b"\r\n0\r\nX-Trailer: 1\r\n\r\n"), half_close=False)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120))
     + b"\r\n", 431),
    (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400),
], ids=["url-over-4k", "huge-header", "too-many-headers", "bad-version"])
def test_requests_gunicorn_refuses_get_problem_json(server, request_bytes, status):
    got, problem = _status_and_problem(_raw(server.port, request_bytes))
    assert got == status and problem["status"] == status and problem["detail"]


def test_expect_100_continue_is_answered_before_the_body(server):
    body = b'{"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b"100 Continue" not in answer


def test_nginx_config_passes_nginx_t(tmp_path):
    checked = front_door.check(front_door.render(tmp_path, 8000, free_port()))
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_nginx_refuses_an_oversized_body_with_problem_json(nginx):
    resp = requests.post(nginx.url + "/predict", data=b"x" * (65 * 2**20),
                         headers={"Content-Type": "application/json"}, timeout=60)
    assert resp.status_code == 413
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json()["status"] == 413
