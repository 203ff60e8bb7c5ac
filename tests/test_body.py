"""service.api.body.raw_body on gunicorn's own request stream (the one `nnserve serve` gives)."""

from __future__ import annotations

import socket
import threading

import orjson
import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from service.api.body import raw_body


@pytest.mark.parametrize("buffered", [0, 100, 8192])
def test_gunicorn_body_is_read_whole_and_exactly(app, monkeypatch, buffered):
    """The body arrives partly with the headers (already in gunicorn's buffer) and partly on the
    socket, followed by the next pipelined request: raw_body returns exactly Content-Length
    bytes, leaves the stream at its end and the next request unread. It reads past Body.read,
    which would pull the body through two buffers 1 KiB at a time."""
    body = orjson.dumps({"model": "m", "instances": [[i * 0.5] * 64 for i in range(1024)]})
    following = b"GET /healthz HTTP/1.1\r\n\r\n"
    server, client = socket.socketpair()
    server.settimeout(10)  # a wrong read fails the test instead of waiting forever
    sender = threading.Thread(target=client.sendall, args=(body[buffered:] + following,),
                              daemon=True)
    sender.start()
    try:
        unreader = SocketUnreader(server)
        unreader.unread(body[:buffered])
        stream = Body(LengthReader(unreader, len(body)))
        environ = {"wsgi.input": stream, "CONTENT_LENGTH": str(len(body))}
        with app.test_request_context("/predict", method="POST", environ_overrides=environ):
            with monkeypatch.context() as patch:
                patch.setattr(Body, "read", lambda *args: pytest.fail("read through Body.read"))
                assert raw_body() == body
        assert stream.read(10) == b""
        assert unreader.read(len(following)) == following
    finally:
        server.close()
        client.close()
        sender.join(10)
