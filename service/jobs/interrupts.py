"""Signals that end a training task early: SIGTERM (worker shutdown) and the ``job_timeout``
alarm.

Both interrupt ``fit`` wherever it is, between two batches or inside one, at no cost per batch:
the kernel's timer (``setitimer``) and the signal handler do the watching. Outside
``interruptible()`` sections (store writes, the publish) they only set a flag, read at the next
epoch or when the section ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class WorkerShutdown(KeyboardInterrupt):
    """Raised inside ``fit`` by SIGTERM; Huey treats it as an interrupted task."""


class JobTimedOut(Exception):
    """Raised inside ``fit`` when the job's ``job_timeout`` alarm fires."""


class TaskInterrupts:
    """SIGTERM and SIGALRM handlers for the duration of one task (main thread only; elsewhere
    the flags stay False and the caller's own per-epoch checks apply)."""

    def __init__(self) -> None:
        self.requested = False  # shutdown
        self.timed_out = False
        self._interruptible = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> TaskInterrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_term),
                              signal.SIGALRM: signal.signal(signal.SIGALRM, self._on_alarm)}
        return self

    def __exit__(self, *exc: object) -> None:
        self.disarm()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def arm(self, seconds: float) -> None:
        """Time the task out ``seconds`` from now."""
        if self._previous:
            signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))

    def disarm(self) -> None:
        if self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_term(self, signum: int, frame: object) -> None:
        first, self.requested = not self.requested, True
        if first and self._interruptible:
            raise WorkerShutdown

    def _on_alarm(self, signum: int, frame: object) -> None:
        first, self.timed_out = not self.timed_out, True
        if first and self._interruptible:
            raise JobTimedOut

    @contextlib.contextmanager
    def interruptible(self, on: bool = True) -> Iterator[None]:
        previous, self._interruptible = self._interruptible, on
        try:
            if on and self.requested:
                raise WorkerShutdown
            if on and self.timed_out:
                raise JobTimedOut
            yield
        finally:
            self._interruptible = previous
