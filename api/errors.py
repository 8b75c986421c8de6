"""The platform's exception tree and the one place it becomes HTTP.

Domain errors carry their status code and a client-safe detail. Outages of
PostgreSQL or Redis become 503 with Retry-After. Anything else is a 500 whose
details stay in the log, never in the response.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from db.outages import is_database_outage

log = logging.getLogger(__name__)

OUTAGE_RETRY_AFTER_SECONDS = 5


class PlatformError(Exception):
    status_code = 500
    detail: Any = "internal error"

    def __init__(self, detail: Any = None, *, headers: dict[str, str] | None = None) -> None:
        if detail is not None:
            self.detail = detail
        self.headers = headers or {}
        super().__init__(str(self.detail))


class NotAuthenticated(PlatformError):
    status_code = 401
    detail = "not authenticated"

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class PermissionDenied(PlatformError):
    status_code = 403
    detail = "not allowed"


class NotFound(PlatformError):
    status_code = 404
    detail = "not found"


class Conflict(PlatformError):
    status_code = 409
    detail = "conflict"


class InvalidRequest(PlatformError):
    status_code = 422
    detail = "invalid request"


class TooManyRequests(PlatformError):
    status_code = 429
    detail = "too many requests"

    def __init__(self, detail: Any = None, *, retry_after: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail, headers={**(headers or {}), "Retry-After": str(retry_after)})


class InferenceFailed(PlatformError):
    status_code = 502
    detail = "inference failed"


class ServiceUnavailable(PlatformError):
    status_code = 503
    detail = "service temporarily unavailable"

    def __init__(self, detail: Any = None, *, retry_after: int = OUTAGE_RETRY_AFTER_SECONDS) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class NotReadyInTime(PlatformError):
    status_code = 504
    detail = "the job did not finish in time; poll its URL for the result"


OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def _platform_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, PlatformError):  # registered for PlatformError only
        raise TypeError(type(exc))
    if exc.status_code >= 500:
        log.warning("%s: %s", type(exc).__name__, exc.detail)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _outage(request: Request, exc: Exception) -> JSONResponse:
    log.error("dependency outage on %s %s: %r", request.method, request.url.path, exc)
    return _platform_error(request, ServiceUnavailable())


def _overloaded(request: Request, exc: Exception) -> JSONResponse:
    """No database connection came free in time: this process is saturated, not broken."""
    log.warning("overloaded on %s %s: %r", request.method, request.url.path, exc)
    return _platform_error(request, ServiceUnavailable("the service is overloaded; retry shortly", retry_after=1))


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_database_outage(exc):
        return _outage(request, exc)
    return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PlatformError, _platform_error)
    for error in OUTAGE_ERRORS:
        app.add_exception_handler(error, _outage)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _overloaded)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
