"""Run a command on a pseudo-terminal, as a person at a terminal would, and read what it shows."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.server import ROOT

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
COLUMNS = 100  # rich lays out to this width, so what the tests read does not depend on the host


@dataclass
class Screen:
    raw: bytes
    exit_code: int

    @property
    def text(self) -> str:
        """What was written, without colours and cursor movements; ``\\r`` kept."""
        return ANSI.sub(b"", self.raw).decode(errors="replace")


def run_on_terminal(argv: list[str], env: dict[str, str], *, timeout: float = 120.0,
                    react: Callable[[bytes, Callable[[bytes], None]], None] | None = None,
                    ) -> Screen:
    """Run ``argv`` with a pty as its stdin, stdout and stderr (its controlling terminal) and
    collect what it writes until it exits. ``react(output_so_far, type_keys)`` is called as
    output arrives: it may type keys, Ctrl-C (``b"\\x03"``) included."""
    env = dict(env, COLUMNS=str(COLUMNS), LINES="40", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session whose controlling terminal is the pty
        try:
            os.chdir(ROOT)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + timeout

    def type_keys(keys: bytes) -> None:
        os.write(fd, keys)

    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal (it exited)
                    break
                if not data:
                    break
                out += data
                if react is not None:
                    react(out, type_keys)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"{argv} still running after {timeout}s:\n{out[-2000:]!r}")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return Screen(out, os.waitstatus_to_exitcode(status))
