"""Domain errors of the service.

Every error a handler, the registry or the job layer can raise carries its HTTP status, a short
title and a detail sentence; ``errors`` maps field paths to messages for validation failures.
They are mapped to HTTP in one place per protocol (``service.api.problems`` for our own API as
RFC 9457 problem+json, the TF Serving and KServe blueprints as ``{"error": ...}``).
"""

from __future__ import annotations

import errno


class ServiceError(Exception):
    """Base class: an error with a status code, mapped to HTTP at the edge."""

    status: int = 500
    title: str = "Internal Server Error"
    slug: str = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def to_problem(self) -> dict[str, object]:
        """The RFC 9457 body for this error."""
        body: dict[str, object] = {
            "type": f"https://nnserve.dev/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


class BadRequest(ServiceError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(ServiceError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(ServiceError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ServiceError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(ServiceError):
    status, title, slug = 409, "Conflict", "conflict"


class PayloadTooLarge(ServiceError):
    status, title, slug = 413, "Content Too Large", "payload-too-large"


class UnsupportedMediaType(ServiceError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class Unprocessable(ServiceError):
    status, title, slug = 422, "Unprocessable Content", "validation-error"


class TooManyRequests(ServiceError):
    status, title, slug = 429, "Too Many Requests", "too-many-requests"


class ServiceUnavailable(ServiceError):
    status, title, slug = 503, "Service Unavailable", "unavailable"


class InsufficientStorage(ServiceError):
    status, title, slug = 507, "Insufficient Storage", "insufficient-storage"


_FULL = {errno.ENOSPC, errno.EDQUOT}
_UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def reason(exc: BaseException) -> str:
    """What went wrong, for an answer: an ``OSError``'s reason without the file name it carries
    (answers name paths relative to the store, or not at all)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def from_infrastructure(exc: BaseException) -> ServiceError | None:
    """The domain error for a failure of the disk, the job database or Redis, else None.

    A full disk is 507 and a read-only or failing one 503, both saying which; so is a job store
    or queue that cannot be reached. Nothing stored before is touched by either.
    """
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return InsufficientStorage(f"the store is full: {exc.strerror}; free space and retry",
                                   headers={"Retry-After": "60"})
    if isinstance(exc, OSError) and exc.errno in _UNWRITABLE:
        return ServiceUnavailable(f"the store cannot be written: {exc.strerror}",
                                  headers={"Retry-After": "60"})
    kind = type(exc)
    if kind.__module__ == "sqlite3" or kind.__module__.startswith("redis"):
        return ServiceUnavailable(f"the job store or queue is unavailable: {exc}",
                                  headers={"Retry-After": "5"})
    return None


def invalid_fields(errors: dict[str, list[str]]) -> Unprocessable:
    """A 422 for several invalid fields: ``errors`` as given, ``detail`` listing them all."""
    detail = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in errors.items())
    return Unprocessable(detail, errors=errors)


def field_error(field: str, message: str, cls: type[ServiceError] = Unprocessable) -> ServiceError:
    """One validation error that names its field: ``detail`` and ``errors`` both say it."""
    return cls(f"{field}: {message}", errors={field: [message]})
