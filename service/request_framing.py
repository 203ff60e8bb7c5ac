"""Where an HTTP/1.1 request ends, read incrementally from its bytes as they arrive.

Only what ``service.buffered_worker`` needs to know when a request is whole: the head's
``Content-Length`` / ``Transfer-Encoding: chunked`` and ``Expect: 100-continue``, and the chunk
sizes of a chunked body. Anything malformed counts as complete at once, so that gunicorn's own
parser, which reads the request next, is the one place that names the fault. Also the answers
the worker writes itself, in the API's problem+json shape.
"""

from __future__ import annotations

import re
import socket

import orjson

from service.errors import ServiceError

_MAX_CHUNK_LINE = 4096
_EXPECT_LINE = re.compile(rb"(?im)^expect:[^\r\n]*\r\n")


class Framing:
    """How much body a request has, and how much of it has arrived.

    ``received`` counts the bytes on the wire after the head; ``body_size`` the body's own bytes
    (without chunk framing), which is what the size limit applies to.
    """

    def __init__(self, length: int | None, chunked: bool, expects_continue: bool) -> None:
        self.length = length
        self.chunked = chunked
        self.expects_continue = expects_continue
        self.received = 0
        self.body_size = 0
        self.complete = not chunked and not length
        self._line = b""
        self._skip = 0  # chunk data still to come
        self._state = "size"  # "size" line, "end" of chunk data, "trailer" lines

    def feed(self, data: bytes) -> None:
        """Account for ``data``, the next bytes of the body as they came off the socket."""
        self.received += len(data)
        if not self.chunked:
            self.body_size = self.received
            self.complete = self.length is not None and self.received >= self.length
            return
        pos = 0
        while pos < len(data) and not self.complete:
            if self._skip:
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                continue
            end = data.find(b"\n", pos)
            if end < 0:
                self._line += data[pos:]
                self.complete = len(self._line) > _MAX_CHUNK_LINE
                return
            line, self._line = (self._line + data[pos:end]).strip(), b""
            pos = end + 1
            self._next_line(line)

    def _next_line(self, line: bytes) -> None:
        if self._state == "end":  # the CRLF after a chunk's data
            self._state = "size"
        elif self._state == "trailer":
            self.complete = not line
        else:
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                self.complete = True  # malformed: gunicorn's parser answers it
                return
            if size == 0:
                self._state = "trailer"
            else:
                self._skip, self._state = size, "end"
                self.body_size += size


def read_head(head: bytes) -> Framing:
    """The framing a request head (request line and headers, up to the blank line) declares."""
    length: int | None = None
    chunked = expects_continue = False
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return Framing(None, False, False)  # malformed: complete, for the parser
        elif name == b"transfer-encoding":
            chunked = value.endswith(b"chunked")
        elif name == b"expect":
            expects_continue = value == b"100-continue"
    return Framing(None if chunked else length, chunked, expects_continue)


def without_expect(head: bytes) -> bytes:
    """``head`` without its ``Expect`` header lines."""
    return _EXPECT_LINE.sub(b"", head)


class RequestTimeout(ServiceError):
    status, title, slug = 408, "Request Timeout", "request-timeout"


def error_response(error: ServiceError) -> bytes:
    """A whole HTTP/1.1 response carrying ``error`` as problem+json, closing the connection."""
    body = orjson.dumps(error.to_problem())
    head = (f"HTTP/1.1 {error.status} {error.title}\r\n"
            "Content-Type: application/problem+json\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Cache-Control: no-store\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode("latin-1") + body


def timeout_response(detail: str) -> bytes:
    return error_response(RequestTimeout(detail))


def write_parser_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` (its 400/431/501 on requests it cannot parse), as
    problem+json instead of an HTML page."""
    error = ServiceError(mesg or reason)
    error.status, error.title = status_int, reason
    error.slug = reason.lower().replace(" ", "-")
    try:
        sock.sendall(error_response(error))
    except OSError:
        pass
