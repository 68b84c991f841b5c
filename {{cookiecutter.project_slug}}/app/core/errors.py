"""One error hierarchy and one JSON error shape: {code, message, detail, request_id}."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.context import current_request_id
from app.core.logging import get_api_logger

# fastapi-users and our own code put machine-readable codes such as
# "REGISTER_USER_ALREADY_EXISTS" in `detail`; those become the response's `code`.
_CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")

STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


class AppError(Exception):
    """Base of every error the service answers on purpose."""

    status_code: int = 400
    code: str = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.detail = detail
        self.headers = headers


class NotFoundError(AppError):
    status_code = 404
    code = "NOT_FOUND"


class ConflictError(AppError):
    status_code = 409
    code = "CONFLICT"


class ServiceUnavailableError(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


class DatabaseUnavailableError(ServiceUnavailableError):
    code = "DATABASE_UNAVAILABLE"


class RequestTooLargeError(AppError):
    status_code = 413
    code = "REQUEST_TOO_LARGE"


# FastAPI's answer to a body it could not parse; the exception it chains says why.
_BODY_PARSE_DETAIL = "There was an error parsing the body"
_BODY_PARSE_CAUSES: tuple[tuple[type[BaseException], str, str], ...] = (
    (
        RecursionError,
        "JSON_TOO_DEEP",
        "The JSON body is nested too deeply to read.",
    ),
    (
        UnicodeDecodeError,
        "BODY_NOT_UTF8",
        "The body is not valid UTF-8: send JSON encoded as UTF-8.",
    ),
)


def code_for_status(status_code: int) -> str:
    if status_code in STATUS_CODES:
        return STATUS_CODES[status_code]
    try:
        return HTTPStatus(status_code).name
    except ValueError:
        return "ERROR"


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "detail": jsonable_encoder(detail),
        "request_id": current_request_id(),
    }


class ErrorResponse(JSONResponse):
    """An error body that always renders, whatever of the request it echoes.

    A refused request's detail may quote its input, and JSON lets that input hold lone
    surrogates (`"\\ud800"`) that UTF-8 cannot encode: those go out backslash-escaped
    instead of turning a 4xx into a 500.
    """

    def render(self, content: Any) -> bytes:
        try:
            text = _json_text(content)
        except ValueError:
            # The echoed input held NaN or an infinity, which JSON has no number for.
            text = _json_text(_non_finite_as_text(content))
        return text.encode("utf-8", errors="backslashreplace")


def _json_text(content: Any) -> str:
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    )


def _non_finite_as_text(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {key: _non_finite_as_text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_non_finite_as_text(item) for item in value]
    return value


def error_response(
    status_code: int,
    code: str,
    message: str,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return ErrorResponse(
        error_body(code, message, detail), status_code=status_code, headers=headers
    )


def _message_for_status(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.code, exc.message, exc.detail, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if exc.status_code == 400 and detail == _BODY_PARSE_DETAIL:
        return _body_parse_error(exc)
    if isinstance(detail, str) and _CODE_PATTERN.match(detail):
        code = detail
    elif isinstance(detail, dict) and isinstance(detail.get("code"), str):
        code = detail["code"]
    else:
        code = code_for_status(exc.status_code)
    message = (
        detail
        if isinstance(detail, str) and code != detail
        else _message_for_status(exc.status_code)
    )
    return error_response(exc.status_code, code, message, detail, exc.headers)


def _body_parse_error(exc: StarletteHTTPException) -> JSONResponse:
    """A body FastAPI could not parse, with a code that says what was wrong with it."""
    cause = exc.__cause__
    if isinstance(cause, AppError):
        # Raised while the body was read (e.g. RequestTooLargeError): that error is the answer.
        return error_response(
            cause.status_code, cause.code, cause.message, cause.detail, cause.headers
        )
    for cause_type, code, message in _BODY_PARSE_CAUSES:
        if isinstance(cause, cause_type):
            return error_response(400, code, message, exc.detail, exc.headers)
    return error_response(
        400,
        "BODY_INVALID",
        "The body could not be read as the declared content type.",
        exc.detail,
        exc.headers,
    )


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    where = ", ".join(".".join(str(part) for part in error["loc"]) for error in errors[:3])
    return error_response(
        422, "VALIDATION_ERROR", f"The request is not valid: check {where}.", errors
    )


# MySQL / MariaDB client and server errors that mean "no server to talk to": cannot
# connect (2002, 2003), server gone or connection lost (2006, 2013, 2055), shutting down
# (1053), too many connections (1040). A lock wait or a deadlock is not among them.
_MYSQL_UNREACHABLE = frozenset({1040, 1053, 2002, 2003, 2005, 2006, 2013, 2055})
# PostgreSQL SQLSTATEs of the same kind: class 08 (connection exception), and the server
# shutting down, crashed or still starting (57P01, 57P02, 57P03).
_POSTGRES_UNREACHABLE_PREFIXES = ("08", "57P01", "57P02", "57P03")


def _raised_by_database_layer(exc: BaseException) -> bool:
    """True when the traceback runs through SQLAlchemy: an OSError from connecting to the
    database, not from a file or an outgoing HTTP call."""
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith("sqlalchemy."):
            return True
        tb = tb.tb_next
    return False


def is_database_unreachable(exc: BaseException) -> bool:
    """True for a database that cannot be reached; False for a query that failed.

    A refused or reset connection, a server that went away: each is the database's
    outage, and the next request may well succeed. A constraint violation, a syntax
    error or a deadlock is a failure of that query and stays a 500.
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        original = exc.orig
        if isinstance(original, OSError):
            return True
        args = getattr(original, "args", ())
        if args and isinstance(args[0], int) and args[0] in _MYSQL_UNREACHABLE:
            return True
        sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
        return isinstance(sqlstate, str) and sqlstate.startswith(_POSTGRES_UNREACHABLE_PREFIXES)
    # Drivers raise socket errors unwrapped while connecting (asyncpg's refused connection).
    return isinstance(exc, OSError) and _raised_by_database_layer(exc)


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """A 503 the caller can retry while the database is out of reach; anything else
    goes on to the 500 of the request middleware, which logs it."""
    if not is_database_unreachable(exc):
        raise exc
    # One line, no traceback: an outage makes many of these, and the reason is the same.
    get_api_logger().warning(
        "database unreachable on %s %s: %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        str(exc).splitlines()[0] if str(exc) else "",
    )
    error = DatabaseUnavailableError(
        "The database cannot be reached right now; try again shortly.",
        headers={"Retry-After": "1"},
    )
    return error_response(error.status_code, error.code, error.message, None, error.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(DBAPIError, handle_database_error)
    app.add_exception_handler(OSError, handle_database_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
