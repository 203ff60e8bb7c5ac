"""A gunicorn worker that reads every request whole before the app sees it.

gunicorn's sync worker blocks on one client from ``accept`` to close, so a client trickling its
headers or body pins a worker, and a few of them stop every request (gunicorn's docs put sync
workers behind a buffering proxy for this reason). This worker is that buffering proxy, inside
the worker process: one event loop per worker reads every open connection as bytes arrive, with
deadlines in the spirit of nginx's ``client_header_timeout`` / ``client_body_timeout`` and
Apache's ``mod_reqtimeout``, and runs the app, synchronously as the sync worker does, only on a
request that has fully arrived. So a slow client costs a socket and a buffer, never a worker.

- Headers must arrive within ``NNSERVE_HEADER_TIMEOUT`` seconds of the connection; otherwise the
  connection is closed (there is no request to answer yet).
- The body must keep up ``NNSERVE_BODY_MIN_RATE`` KiB/s after a grace of ``NNSERVE_BODY_GRACE``
  seconds; otherwise the client gets 408 and the connection is closed.
- A body that is over ``NNSERVE_MAX_BODY_MB`` goes to the app as soon as that is known (its 413 is
  the app's); the rest is then read and dropped for a bounded time and size before closing, as
  nginx's ``lingering_close`` does, so clients that write their whole body before reading
  (Python's urllib, Java's HttpURLConnection) see the 413 rather than a connection reset.
- A client that closes before its body is complete still goes to the app, which answers 400
  for the short body.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from tempfile import SpooledTemporaryFile

from gunicorn import http, util
from gunicorn.workers.sync import SyncWorker

from service import request_framing
from service.config import Settings
from service.request_framing import Framing

_RECV = 256 * 1024
_MAX_HEAD = 64 * 1024  # beyond it the head goes to gunicorn's parser, which answers 431
_SPOOL_IN_MEMORY = 1024 * 1024  # larger bodies wait in a temporary file
_LINGER_SECONDS = 10.0
_LINGER_BYTES = 1 << 30
_MAX_OPEN = 1000  # connections one worker buffers at once; beyond it, accept waits


class _Connection:
    """One client connection while its request arrives (or while its leftover is drained)."""

    def __init__(self, sock: socket.socket, addr: tuple[str, int], listener: socket.socket,
                 now: float, settings: Settings) -> None:
        self.sock, self.addr, self.listener = sock, addr, listener
        self.fd = sock.fileno()
        self.settings = settings
        self.opened = now
        self.head = bytearray()
        self.framing: Framing | None = None
        self.body: SpooledTemporaryFile[bytes] | None = None
        self.body_started = 0.0
        self.lingering = False
        self.linger_left = _LINGER_BYTES

    def deadline(self) -> float:
        """The monotonic time by which more must have arrived."""
        if self.lingering:
            return self.body_started + _LINGER_SECONDS
        if self.framing is None:
            return self.opened + self.settings.header_timeout
        rate = self.settings.body_min_rate_kib * 1024
        return self.body_started + self.settings.body_grace + self.framing.received / rate

    def take(self, data: bytes, now: float) -> bool:
        """Add bytes from the socket; True once the request should go to the app."""
        if self.framing is None:
            start = max(0, len(self.head) - 3)
            self.head += data
            end = self.head.find(b"\r\n\r\n", start)
            if end < 0:
                return len(self.head) > _MAX_HEAD
            rest = bytes(self.head[end + 4:])
            del self.head[end + 4:]
            head = bytes(self.head)
            self.framing = request_framing.read_head(head)
            self.body = SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
            self.body.write(request_framing.without_expect(head)
                            if self.framing.expects_continue else head)
            self.body_started = now
            if self.framing.expects_continue and not self._over_limit():
                # answered here, where the body is read, and not again by gunicorn
                _send_quietly(self.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
            data = rest
        if data:
            assert self.body is not None
            self.body.write(data)
            self.framing.feed(data)
        return self.framing.complete or self._over_limit()

    def _over_limit(self) -> bool:
        return self.framing is not None and \
            self.framing.body_size > self.settings.max_body_bytes

    def buffered(self) -> _BufferedSocket:
        """What arrived, readable by gunicorn's request parser as if it were the socket."""
        if self.body is None:  # a head too large or unterminated: the parser names the fault
            self.body = SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
            self.body.write(self.head)
        self.body.seek(0)
        return _BufferedSocket(self.body)

    def close(self) -> None:
        if self.body is not None:
            self.body.close()
        util.close(self.sock)


class _BufferedSocket:
    """The ``recv`` side of a socket, over bytes already read from it."""

    def __init__(self, source: SpooledTemporaryFile[bytes]) -> None:
        self._source = source

    def recv(self, size: int) -> bytes:
        return self._source.read(size)


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.send(data)
    except OSError:
        pass


class BufferedWorker(SyncWorker):
    """gunicorn's sync worker, fed only requests that have fully arrived."""

    def init_process(self) -> None:
        self.settings = Settings.from_env()
        self.selector = selectors.DefaultSelector()
        self.connections: dict[int, _Connection] = {}
        # gunicorn's hook for the answers it writes itself: replaced in this process only.
        util.write_error = request_framing.write_parser_error
        super().init_process()

    def run(self) -> None:
        self.listeners = {listener.fileno(): listener for listener in self.sockets}
        for listener in self.sockets:
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ, None)
        self.selector.register(self.PIPE[0], selectors.EVENT_READ, None)
        tick = min(1.0, self.timeout / 2 if self.timeout else 0.5)
        while self.alive or self.connections:
            self.notify()
            if not self.alive:
                self._stop_accepting()
            wait = tick
            if self.connections:
                nearest = min(c.deadline() for c in self.connections.values())
                wait = max(0.0, min(tick, nearest - time.monotonic()))
            for key, _ in self.selector.select(wait):
                if key.fileobj == self.PIPE[0]:
                    os.read(self.PIPE[0], 4096)
                elif key.fd in self.listeners:
                    self._accept(self.listeners[key.fd])
                else:
                    self._read(key.data)
            self._expire(time.monotonic())
            if not self.is_parent_alive():
                break
        for conn in list(self.connections.values()):
            self._drop(conn)

    def _stop_accepting(self) -> None:
        for listener in self.sockets:
            if listener.fileno() in self.selector.get_map():
                self.selector.unregister(listener)

    def _accept(self, listener: socket.socket) -> None:
        """Take one connection: the other workers take the next ones, as under sync."""
        if not self.alive or len(self.connections) >= _MAX_OPEN:
            return
        try:
            sock, addr = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                return
            raise
        sock.setblocking(False)
        util.close_on_exec(sock)
        conn = _Connection(sock, addr, listener, time.monotonic(), self.settings)
        self.connections[conn.fd] = conn
        self.selector.register(sock, selectors.EVENT_READ, conn)
        self._read(conn)  # a small request has usually arrived with the connection

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if conn.lingering:
            conn.linger_left -= len(data)
            if not data or conn.linger_left <= 0:
                self._drop(conn)
            return
        if not data:  # the client closed: a started body goes to the app, which names the gap
            if conn.framing is not None:
                self._serve(conn, complete=False)
            else:
                self._drop(conn)
            return
        if conn.take(data, time.monotonic()):
            self._serve(conn, complete=conn.framing is not None and conn.framing.complete)

    def _expire(self, now: float) -> None:
        for conn in [c for c in self.connections.values() if c.deadline() <= now]:
            self._read(conn)  # bytes that waited in the kernel while the app ran count too
            if self.connections.get(conn.fd) is not conn or conn.deadline() > now:
                continue
            if conn.framing is not None and not conn.lingering:
                rate = self.settings.body_min_rate_kib
                _send_quietly(conn.sock, request_framing.timeout_response(
                    f"the request body arrived slower than {rate:g} KiB/s "
                    f"(NNSERVE_BODY_MIN_RATE); {conn.framing.received} bytes were read"))
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        self.selector.unregister(conn.sock)
        del self.connections[conn.fd]
        conn.close()

    def _serve(self, conn: _Connection, complete: bool) -> None:
        """Run the app on the buffered request, as the sync worker would on the socket."""
        self.selector.unregister(conn.sock)
        del self.connections[conn.fd]
        sock = conn.sock
        sock.setblocking(True)
        sock.settimeout(self.settings.header_timeout)  # a client that never reads its answer
        req = None
        try:
            parser = http.RequestParser(self.cfg, conn.buffered(), conn.addr)
            req = next(parser)
            self.handle_request(conn.listener, req, sock, conn.addr)
        except (http.errors.NoMoreData, StopIteration):
            pass
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, None):
                self.log.exception("Socket error processing request.")
        except BaseException as exc:  # what the sync worker does: gunicorn's 400/431/500
            self.handle_error(req, sock, conn.addr, exc)
        if complete or conn.framing is None or not self.alive:
            conn.close()
            return
        self._linger(conn)

    def _linger(self, conn: _Connection) -> None:
        """Read and drop what the client still sends, so that it gets to read our answer."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
        except OSError:
            conn.close()
            return
        conn.lingering, conn.body_started = True, time.monotonic()
        self.connections[conn.fd] = conn
        self.selector.register(conn.sock, selectors.EVENT_READ, conn)
