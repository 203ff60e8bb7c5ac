"""The naming rules of the service: model and alias names, version numbers, float32's range.

Everything that checks or documents a name, a version or a feature value takes its rule from
here: ``service.store`` and the handlers validate with the functions below (a bad value raises
``Unprocessable``, 422, naming its field, before anything touches the filesystem), and the
OpenAPI spec documents the ``*_PATTERN`` regexes built from the same pieces.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from service.errors import field_error

MAX_VERSION = 10**18 - 1
#: The largest finite float32: features beyond it would overflow the models' arithmetic.
FLOAT32_MAX = 3.4028234663852886e38
NAME_RULE = "1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"

_NAME_BODY = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_VERSION_DIGITS = len(str(MAX_VERSION))
_VERSION_BODY = rf"(?=[0-9]{{1,{_VERSION_DIGITS}}}$)0*[1-9][0-9]*"
_ALIAS_BODY = rf"(?!latest$)(?![0-9]+$){_NAME_BODY}"

# The documented (JSON Schema, anchored) forms of the checks below.
NAME_PATTERN = rf"^{_NAME_BODY}$"
VERSION_NUMBER_PATTERN = rf"^{_VERSION_BODY}$"
ALIAS_PATTERN = rf"^{_ALIAS_BODY}$"
#: A TF Serving version label: an alias or "latest".
LABEL_PATTERN = rf"^(?:latest|(?![0-9]+$){_NAME_BODY})$"
#: A version reference in a body: a version number, "latest" or an alias.
VERSION_REF_PATTERN = rf"^(?:latest|{_VERSION_BODY}|(?![0-9]+$){_NAME_BODY})$"

_NAME = re.compile(_NAME_BODY)
_DIGITS = re.compile(rf"[0-9]{{1,{_VERSION_DIGITS}}}")


def is_model_name(name: object) -> TypeGuard[str]:
    """Whether ``name`` is a valid model name (no exception)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


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
