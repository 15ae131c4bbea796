"""The one place where failures become HTTP responses: ``{"error": {"code", "message"}}``.

Routes raise ApiError (or a core exception); middlewares that answer before the app call
error_response directly. FastAPI's validation errors, 404s, 405s and unexpected exceptions are
mapped here too, so a client only ever has to parse one shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..exceptions import DeviceError, ImageInputError, ModelError, ScheduleError, TooMuchWork

log = logging.getLogger("repaint_fill.server")

# Generic codes for statuses raised by the framework itself (unknown route, wrong method, ...).
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_params",
    429: "queue_full",
    500: "internal_error",
    503: "unavailable",
}

# The core's user errors, one row each: (HTTP status, code). The same for a refused request (the
# handlers below) and for a failed job (the worker in worker.py); a subclass gets its base's row.
USER_ERROR_CODES: dict[type[Exception], tuple[int, str]] = {
    ImageInputError: (400, "invalid_image"),
    TooMuchWork: (413, "too_much_work"),
    ScheduleError: (422, "invalid_params"),
    ModelError: (422, "model_error"),
    DeviceError: (422, "model_error"),
}
USER_ERRORS = tuple(USER_ERROR_CODES)


def user_error_status(error: Exception) -> tuple[int, str]:
    """(HTTP status, code) of one of the core's user errors."""
    return next(USER_ERROR_CODES[kind] for kind in type(error).__mro__ if kind in USER_ERROR_CODES)


class ApiError(HTTPException):
    """An error with a stable machine code and a message a user can act on.

    A FastAPI HTTPException subclass, so FastAPI re-raises it unchanged even from inside body
    parsing (the body size guard relies on that).
    """

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ):
        super().__init__(status_code=status, detail=message, headers=dict(headers or {}))
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error shape every failing request gets."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def describe_validation_error(error: RequestValidationError) -> str:
    """FastAPI's error list as one readable line: 'image: Field required; ...'."""
    parts = []
    for item in error.errors():
        location = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(location) or "request"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error.status_code, error.code, error.message, error.headers)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if isinstance(error, ApiError):
        return await _api_error(request, error)
    code = STATUS_CODES.get(error.status_code, "error")
    message = str(error.detail) if error.detail else code.replace("_", " ")
    where = f"{request.method} {request.url.path}"
    if error.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {where}; the API is described at /openapi.json"
    elif error.status_code == 405:
        message = f"method not allowed: {where}; the API is described at /openapi.json"
    return error_response(error.status_code, code, message, getattr(error, "headers", None))


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return error_response(422, "invalid_params", describe_validation_error(error))


async def _user_error(_request: Request, error: Exception) -> JSONResponse:
    status, code = user_error_status(error)
    return error_response(status, code, str(error))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return error_response(500, "internal_error", "internal server error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise to the one JSON shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for user_error in USER_ERRORS:
        app.add_exception_handler(user_error, _user_error)
    install_job_error_handlers(app)
    app.add_exception_handler(Exception, _unexpected)


def install_job_error_handlers(app: FastAPI) -> None:
    """The job manager's exceptions as HTTP answers."""
    from .records import JobExpired, JobNotFound, NotReady, QueueFull, ShuttingDown
    from .store import JobTooLarge

    async def not_found(_request: Request, error: Exception) -> JSONResponse:
        code = "expired" if isinstance(error, JobExpired) else "not_found"
        return error_response(404, code, str(error))

    async def queue_full(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, QueueFull)
        message = f"{error.what}; retry in {error.retry_after} s"
        return error_response(429, "queue_full", message, {"Retry-After": str(error.retry_after)})

    async def shutting_down(_request: Request, _error: Exception) -> JSONResponse:
        return error_response(503, "shutting_down", "the server is shutting down; restart it")

    async def not_ready(_request: Request, error: Exception) -> JSONResponse:
        return error_response(409, "not_ready", str(error))

    async def too_large(_request: Request, error: Exception) -> JSONResponse:
        return error_response(413, "over_memory_budget", str(error))

    app.add_exception_handler(JobNotFound, not_found)
    app.add_exception_handler(JobExpired, not_found)
    app.add_exception_handler(QueueFull, queue_full)
    app.add_exception_handler(ShuttingDown, shutting_down)
    app.add_exception_handler(NotReady, not_ready)
    app.add_exception_handler(JobTooLarge, too_large)
