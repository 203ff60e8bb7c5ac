"""API keys with scopes (``predict``, ``train``, ``admin``) sent as ``Authorization: Bearer``.

``NNSERVE_API_KEYS`` is ``key:scope+scope,...`` or ``@/path/file`` with one
``<sha256 hex of the key>:scope+scope`` per line (so the file never holds a key). Keys are kept
only as SHA-256 digests and every presented key is compared against every digest with
``hmac.compare_digest``, so timing tells nothing about which key came close. ``admin`` includes
the other scopes. Health, the OpenAPI spec, the docs page, metrics and the console's pages
(which hold no data) stay open.

A key written ``id:secret`` has a key id, the part before the first ``:``; it is what records
of who did something (alias history) keep, never the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, g, request

from service.errors import Forbidden, Unauthorized

SCOPES = ("predict", "train", "admin")
_OPEN_BLUEPRINTS = {"health", "api-docs", "ui"}  # ui: pages without data
_OPEN_ENDPOINTS = {"swagger_assets", "metrics", "kserve.server_live", "kserve.server_ready",
                   "kserve.server_metadata"}


@dataclass(frozen=True)
class KeyRing:
    """Digests of the configured keys and the scopes of each."""

    entries: tuple[tuple[bytes, frozenset[str]], ...]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Read ``NNSERVE_API_KEYS``; raises ``ValueError`` saying which entry is wrong."""
        spec = spec.strip()
        if spec.startswith("@"):
            path = Path(spec[1:])
            lines = [ln.strip() for ln in path.read_text().splitlines()]
            items, hashed = [ln for ln in lines if ln and not ln.startswith("#")], True
        else:
            items, hashed = [s.strip() for s in spec.split(",") if s.strip()], False
        entries = []
        for n, item in enumerate(items, 1):
            key, sep, scopes = item.rpartition(":")
            wanted = frozenset(s.strip() for s in scopes.split("+") if s.strip())
            if not sep or not key or not wanted or not wanted <= set(SCOPES):
                raise ValueError(f"NNSERVE_API_KEYS entry {n}: expected KEY:SCOPE[+SCOPE...] "
                                 f"with scopes from {', '.join(SCOPES)}")
            if hashed:
                try:
                    digest = bytes.fromhex(key)
                except ValueError:
                    digest = b""
                if len(digest) != 32:
                    raise ValueError(f"NNSERVE_API_KEYS file line {n}: the key must be given as "
                                     "its 64-hex-digit sha256")
            else:
                digest = hashlib.sha256(key.encode()).digest()
            entries.append((digest, wanted))
        return cls(tuple(entries))

    def scopes_of(self, key: str) -> frozenset[str] | None:
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for stored, scopes in self.entries:  # no early exit: constant work per request
            if hmac.compare_digest(stored, digest):
                found = scopes
        return found


def required_scope(endpoint: str | None, method: str) -> str | None:
    """The scope an endpoint needs, or None when it is open."""
    if endpoint is None or endpoint in _OPEN_ENDPOINTS:
        return None
    blueprint = endpoint.partition(".")[0] if "." in endpoint else ""
    if blueprint in _OPEN_BLUEPRINTS:
        return None
    if blueprint == "jobs":
        return "train"
    if blueprint == "models" and (method not in ("GET", "HEAD") or endpoint.endswith("artifact")):
        return "admin"
    return "predict"


def key_id_of(key: str) -> str | None:
    """The id part of a presented key (before its first ``:``), or None when it has none."""
    ident, sep, _ = key.partition(":")
    return ident if sep and ident else None


def current_key_id() -> str | None:
    """The key id of the request being answered (None without keys or without an id)."""
    return g.get("nnserve_key_id")


def current_scopes() -> frozenset[str] | None:
    """The scopes of the request's key; None when keys are off (everything is allowed)."""
    return g.get("nnserve_scopes")


def require_scopes(*needed: str) -> None:
    """Forbidden unless the request's key holds every scope in ``needed`` (admin holds all)."""
    scopes = current_scopes()
    if scopes is None or "admin" in scopes:
        return
    missing = [s for s in needed if s not in scopes]
    if missing:
        raise Forbidden(f"this API key lacks the {missing[0]!r} scope needed here")


def _check() -> None:
    ring: KeyRing | None = current_app.extensions.get("nnserve.keys")
    if ring is None:
        return
    scope = required_scope(request.endpoint, request.method)
    if scope is None:
        return
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="nnserve"'}
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'", headers=challenge)
    scopes = ring.scopes_of(key.strip())
    if scopes is None:
        raise Unauthorized("the API key is not valid", headers=challenge)
    g.nnserve_key_id, g.nnserve_scopes = key_id_of(key.strip()), scopes
    if scope not in scopes and "admin" not in scopes:
        raise Forbidden(f"this API key lacks the {scope!r} scope needed here")


def init_app(app: Flask) -> None:
    """Require keys on every non-open endpoint when ``NNSERVE_API_KEYS`` is set."""
    spec = app.config["NNSERVE"].api_keys
    if spec.strip():
        app.extensions["nnserve.keys"] = KeyRing.parse(spec)
        app.before_request(_check)
