"""How the gateway says no: RFC 9457 problem details with a title and a specific detail."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    ValidationException,
)
from litestar.plugins.problem_details import ProblemDetailsException

if TYPE_CHECKING:
    from litestar import Request, Response

__all__ = (
    "bad_request",
    "conflict",
    "exception_handlers",
    "forbidden",
    "not_found",
    "problem",
    "unauthorized",
)

_log = structlog.get_logger("vigil.api")
_BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="vigil"'}


def problem(
    status: int, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None
) -> ProblemDetailsException:
    """A problem-details exception; the title defaults to the status phrase."""
    return ProblemDetailsException(
        status_code=status,
        title=title or HTTPStatus(status).phrase,
        detail=detail,
        headers=headers,
    )


def bad_request(detail: str) -> ProblemDetailsException:
    """400: the request itself is wrong."""
    return problem(400, detail, title="Invalid request")


def unauthorized(detail: str) -> ProblemDetailsException:
    """401 with a Bearer challenge: no valid token came with the request."""
    return problem(401, detail, title="Authentication required", headers=_BEARER_CHALLENGE)


def forbidden(detail: str) -> ProblemDetailsException:
    """403: the token is valid but does not allow this."""
    return problem(403, detail, title="Forbidden")


def not_found(detail: str) -> ProblemDetailsException:
    """404: the named resource does not exist."""
    return problem(404, detail, title="Not found")


def conflict(detail: str) -> ProblemDetailsException:
    """409: the request contradicts what the log already holds."""
    return problem(409, detail, title="Conflict")


def _validation_detail(exc: ValidationException) -> str:
    """One sentence naming each offending field, e.g. ``body.id: Expected `str`, got `int```."""
    parts = []
    for error in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(error, dict):
            source = getattr(error.get("source"), "value", error.get("source"))
            key = error.get("key")
            where = ".".join(str(p) for p in (source, None if key == "data" else key) if p)
            message = str(error.get("message", ""))
            parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or str(exc.detail)


def _validation_problem(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    response = ProblemDetailsException(
        status_code=exc.status_code,
        title="Invalid request",
        detail=_validation_detail(exc),
        extra={"errors": errors} if errors else None,
    )
    return response.to_response(request)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, kind):
            return True
        cause = cause.__cause__
    return False


def _http_problem(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Any other HTTP error (unknown route, wrong method, ...) as problem details."""
    if isinstance(exc, ProblemDetailsException):
        return exc.to_response(request)
    detail = str(exc.detail)
    if _caused_by(exc, msgspec.DecodeError):
        detail = f"The body is not valid JSON: {detail}"
    response = ProblemDetailsException(
        status_code=exc.status_code,
        title=HTTPStatus(exc.status_code).phrase,
        detail=detail,
        headers=exc.headers,
        extra=exc.extra if isinstance(exc.extra, dict) else None,
    )
    return response.to_response(request)


def _internal_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An unexpected error: logged with its traceback, answered without internals."""
    _log.error("unhandled error", path=request.url.path, exc_info=exc)
    response = ProblemDetailsException(
        status_code=500,
        title="Internal Server Error",
        detail="An unexpected error occurred; it has been logged.",
    )
    return response.to_response(request)


exception_handlers: dict[type[Exception] | int, Any] = {
    ValidationException: _validation_problem,
    ClientException: _http_problem,
    InternalServerException: _http_problem,
    500: _internal_problem,
}
"""Handlers the app adds to the problem-details plugin's, so that every 4xx/5xx answer is
``application/problem+json`` with a human title and a specific detail."""
