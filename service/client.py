"""The HTTP client of the ``nnserve`` command: one request at a time to a running server, its
errors turned into one readable line (a :class:`CliError`).

Standard library only, so ``nnserve train`` / ``predict`` start fast and need nothing the
server does not.
"""

from __future__ import annotations

import errno
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from service.logs import escape_control

DEFAULT_SERVER = "http://127.0.0.1:8000"


class CliError(Exception):
    """A failure to report on stderr as one line, with exit code 1."""


class Client:
    """Calls the nnserve API at ``server`` with an optional bearer ``api_key``."""

    def __init__(self, server: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.server = server.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def call(self, method: str, path: str, query: dict[str, Any] | None = None,
             body: bytes | None = None, content_type: str | None = None) -> Any:
        """The decoded JSON answer of ``method path?query``; a :class:`CliError` otherwise."""
        params = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.server + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        req = urllib.request.Request(url, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise CliError(problem_line(exc.code, exc.reason, exc.read())) from None
        except urllib.error.URLError as exc:
            raise CliError(self._unreachable(exc.reason)) from None
        except (ConnectionError, TimeoutError) as exc:  # a server that went away mid-answer
            raise CliError(self._unreachable(exc)) from None

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, ConnectionRefusedError) or \
                getattr(reason, "errno", None) == errno.ECONNREFUSED:
            return (f"no nnserve server answers at {self.server} (connection refused). Start "
                    "one with `nnserve serve`, or point --server / NNSERVE_SERVER at yours.")
        return f"cannot reach {self.server}: {reason}"


def problem_line(status: int, reason: str, body: bytes) -> str:
    """One line of an error answer: status, title, the problem's ``detail`` and each field of
    its ``errors``; the start of the body when it is not a problem document. Control characters
    are escaped: the line goes to a terminal."""
    try:
        problem = json.loads(body)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = " ".join(body.decode(errors="replace").split())[:200]
        return escape_control(f"{status} {reason}" + (f": {text}" if text else ""))
    detail = problem.get("detail") or problem.get("error") or problem.get("message")
    line = f"{status} {problem.get('title') or reason}" + (f": {detail}" if detail else "")
    errors = problem.get("errors")
    if isinstance(errors, dict):
        parts = []
        for field, messages in errors.items():
            shown = [str(m) for m in (messages if isinstance(messages, list) else [messages])
                     if str(m) not in str(detail)]  # a detail often already says it
            if shown:
                parts.append(f"{field}: {'; '.join(shown)}")
        if parts:
            line += " (" + ", ".join(parts) + ")"
    return escape_control(line)
