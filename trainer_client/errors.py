"""Typed errors raised by :mod:`trainer_client`.

They mirror the service's error body ``{"error": {"code", "message", "detail"}}``: every
error answered by the service becomes the subclass named by its ``code`` (falling back to
the HTTP status), and transport failures that outlive the retries become
:class:`ConnectionFailedError`. Nothing in this package raises a bare ``Exception``.

    CurriculumError                 any failure of a call (code, message, detail, status)
    ├── NotFoundError               404  not_found
    ├── InvalidRequestError         422  invalid_request   (also a ValueError; client-side
    │                                                       checks raise it with status None)
    ├── ConflictError               409  conflict
    ├── PayloadTooLargeError        413  payload_too_large
    ├── AuthError                   401/403  unauthorized / forbidden
    ├── RateLimitedError            429  rate_limited      (retry_after seconds)
    ├── UnavailableError            503  unavailable       (retry_after seconds)
    ├── ServerError                 other 5xx              (a bug in the service)
    │   └── StorageError            500  storage_error     (the database refused; not retried)
    ├── ConnectionFailedError       no answer: connection refused, timeout, ...
    └── UnexpectedResponseError     an answer that is not the v1 contract
"""

from __future__ import annotations

from typing import Any

import httpx


class CurriculumError(Exception):
    """Base class of every error raised by the client.

    Attributes:
        code: the service's error code (``"not_found"``, ...) or a client-side code.
        message: a human-readable message.
        detail: the service's ``detail`` field (any JSON), or ``None``.
        status: the HTTP status of the answer, ``None`` when there was none.
    """

    default_code = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: Any = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.detail = detail
        self.status = status

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"


class NotFoundError(CurriculumError):
    """The run (or another named resource) does not exist."""

    default_code = "not_found"


class InvalidRequestError(CurriculumError, ValueError):
    """The request's content is not acceptable (service 422, or a client-side check)."""

    default_code = "invalid_request"


class ConflictError(CurriculumError):
    """The request contradicts stored state, e.g. a reused ``report_id`` with another body."""

    default_code = "conflict"


class PayloadTooLargeError(CurriculumError):
    """The request body is larger than the service accepts; send smaller reports."""

    default_code = "payload_too_large"


class AuthError(CurriculumError):
    """The API key is missing, unknown, or not allowed to do this."""

    default_code = "unauthorized"


class _RetryAfterError(CurriculumError):
    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: Any = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, detail=detail, status=status)
        self.retry_after = retry_after


class RateLimitedError(_RetryAfterError):
    """Too many requests; ``retry_after`` says how many seconds to wait, when known."""

    default_code = "rate_limited"


class UnavailableError(_RetryAfterError):
    """The service (or its database) is unavailable; the request changed nothing."""

    default_code = "unavailable"


class ServerError(CurriculumError):
    """A 5xx answer other than 503: a bug in the service."""

    default_code = "internal"


class StorageError(ServerError):
    """The service's database refused the operation (a constraint or trigger fired, a value
    it cannot store); the transaction was rolled back, so nothing was applied.

    Unlike :class:`UnavailableError` it is not transient: the same request fails the same
    way, so even idempotent calls are not retried. ``detail`` names the driver's error class
    and SQLSTATE (never the SQL); the service logs the traceback.
    """

    default_code = "storage_error"


class ConnectionFailedError(CurriculumError):
    """No answer came back: connection refused, reset, or timed out (after retries)."""

    default_code = "connection_failed"


class UnexpectedResponseError(CurriculumError):
    """The answer does not follow the v1 contract (not JSON, or missing fields)."""

    default_code = "unexpected_response"


_BY_CODE: dict[str, type[CurriculumError]] = {
    "not_found": NotFoundError,
    "invalid_request": InvalidRequestError,
    "conflict": ConflictError,
    "payload_too_large": PayloadTooLargeError,
    "unauthorized": AuthError,
    "forbidden": AuthError,
    "rate_limited": RateLimitedError,
    "unavailable": UnavailableError,
    "storage_error": StorageError,
}

_BY_STATUS: dict[int, type[CurriculumError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidRequestError,
    429: RateLimitedError,
    503: UnavailableError,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (the delta-seconds form only), or ``None``."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0)


def error_from_response(response: httpx.Response) -> CurriculumError:
    """Build the typed error for a non-2xx ``response`` from its status and error body."""
    code: str | None = None
    message = response.reason_phrase or f"HTTP {response.status_code}"
    detail: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code")) if error.get("code") is not None else None
        message = str(error.get("message") or message)
        detail = error.get("detail")
    elif isinstance(body, dict) and "detail" in body:
        # A framework-level answer (e.g. a route that does not exist) rather than ours.
        detail = body["detail"]
        message = detail if isinstance(detail, str) else message
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else CurriculumError
    if issubclass(cls, _RetryAfterError):
        return cls(
            message,
            code=code,
            detail=detail,
            status=response.status_code,
            retry_after=retry_after_seconds(response),
        )
    return cls(message, code=code, detail=detail, status=response.status_code)
