"""Validation of model names, alias names and version numbers.

Shared by the registry (``service.store``) and the HTTP layer. Every check runs before anything
touches the filesystem; a bad value raises ``Unprocessable`` (422) naming its field.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from service.errors import field_error

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DIGITS = re.compile(r"[0-9]{1,18}")
NAME_RULE = "1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
MAX_VERSION = 10**18 - 1


def is_model_name(name: object) -> TypeGuard[str]:
    """Whether ``name`` is a valid model name (no exception)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None and name not in (".", "..")


def validate_model_name(name: object) -> str:
    """Return ``name`` if it is a valid model name, else raise 422 on field ``model``."""
    if not is_model_name(name):
        raise field_error("model", f"must be {NAME_RULE}")
    return name


def validate_alias(alias: object) -> str:
    """Return ``alias`` if it is a valid alias: a model name that is not all digits nor "latest"."""
    if not is_model_name(alias):
        raise field_error("alias", f"must be {NAME_RULE}")
    if alias.isdigit() or alias == "latest":
        raise field_error("alias", "must not be all digits nor 'latest' (those name versions)")
    return alias


def parse_version(v: object) -> int:
    """Return ``v`` (an int or a string of ASCII digits) as a positive int, else raise 422."""
    if isinstance(v, str) and _DIGITS.fullmatch(v):
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_VERSION:
        raise field_error("version", "must be a positive integer")
    return v


def is_version_ref(ref: object) -> bool:
    """Whether ``ref`` names a version number (an int or a digit string) rather than an alias."""
    return isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit())
