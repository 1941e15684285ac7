"""The service's error tree.

Every error the service raises on purpose is a :class:`ZPDError`. One handler
(:func:`service.api.app.create_app`) maps it to its HTTP status and the JSON body
``{"error": {"code": ..., "message": ..., "detail": ...}}``; ``trainer_client``
raises the same named errors on the other side of the wire.

    ZPDError
    ├── Unauthorized        401  unauthorized  (no key, or an unknown/revoked one)
    ├── Forbidden           403  forbidden     (a read-only key asked to write)
    ├── NotFound            404  not_found     (also: another tenant's run)
    ├── InvalidRequest      422  invalid_request
    ├── Conflict            409  conflict
    ├── PayloadTooLarge     413  payload_too_large
    ├── RateLimited         429  rate_limited  (service.ratelimit; with Retry-After)
    ├── StorageError        500  storage_error (the database refused an operation: a bug
    │                                           or a broken database; nothing was applied)
    └── Unavailable         503  unavailable   (a dependency is down; retry later)

Anything else that escapes a route is answered 500 ``internal`` (a bug in ZPD).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ZPDError(Exception):
    """Base class of all errors the service raises on purpose."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_body(self) -> dict[str, Any]:
        """The JSON error body sent to clients."""
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


class Unauthorized(ZPDError):
    """The request carries no valid API key while the service requires one."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ZPDError):
    """The key is valid but may not do this (a read-only key asked to write)."""

    status_code = 403
    code = "forbidden"


class NotFound(ZPDError):
    """The run (or another named resource) does not exist."""

    status_code = 404
    code = "not_found"


class InvalidRequest(ZPDError):
    """The request is well-formed JSON but its content is not acceptable."""

    status_code = 422
    code = "invalid_request"


class Conflict(ZPDError):
    """The request contradicts stored state (e.g. a reused report_id with another body)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(ZPDError):
    """The request body is larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"


class StorageError(ZPDError):
    """The database driver refused an operation for a reason other than reachability
    (e.g. a constraint or trigger raised, a value it cannot store). The transaction was
    rolled back, so nothing was applied; retrying will usually fail the same way."""

    status_code = 500
    code = "storage_error"


class Unavailable(ZPDError):
    """A dependency (the database) is unreachable; the request changed nothing."""

    status_code = 503
    code = "unavailable"

    def __init__(self, message: str, detail: Any = None, retry_after: int = 1) -> None:
        super().__init__(message, detail)
        self.retry_after = retry_after
