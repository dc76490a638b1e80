"""How the website API answers a problem: the error bodies, their OpenAPI models, the handlers.

``/api/v1`` answers ``{"error": {"status", "code", "message", "details": [{"field", "in",
"problem"}]}}``; Open311 its own ``[{"code", "description"}]`` (validation problems are 400
there). Routes raise :class:`ApiError`; :func:`install_error_handlers` turns it, FastAPI's
validation errors and Starlette's own HTTP errors into those bodies.
"""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(HTTPException):
    """Raised by a route for a clean 4xx answer: ``code`` is machine-readable, ``details`` name fields."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code
        self.message = message
        self.details = details or []


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "body_too_large", f"request body larger than {limit} bytes")


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "body_too_large",
                 415: "unsupported_media_type", 422: "invalid_request", 429: "rate_limited", 500: "internal_error",
                 503: "unavailable"}


def _is_open311(request: Request) -> bool:
    return request.url.path.startswith("/open311/")


def error_response(request: Request, status: int, code: str, message: str,
                   details: list[dict[str, str]] | None = None, headers: Mapping[str, str] | None = None,
                   ) -> JSONResponse:
    if _is_open311(request):
        # Open311: an array of {code, description}; validation problems are 400 there.
        open311_status = 400 if status == 422 else status
        items = [{"code": open311_status, "description": f"{d['field']}: {d['problem']}"} for d in details or []]
        return JSONResponse(items or [{"code": open311_status, "description": message}], status_code=open311_status,
                            headers=headers)
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> tuple[str, str]:
    """FastAPI's error location ``("body", "reporter", "phone")`` -> ``("reporter.phone", "body")``."""
    where = str(loc[0]) if loc else "body"
    parts = [str(p) for p in loc[1:]]
    path = ""
    for p in parts:
        path += f"[{p}]" if p.isdigit() else (f".{p}" if path else p)
    return path or where, where


def _problem(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "required"
    if kind == "json_invalid":
        return f"invalid JSON ({error.get('ctx', {}).get('error', 'syntax error')})"
    if kind == "extra_forbidden":
        return "unknown field"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def _validation_details(exc: RequestValidationError) -> list[dict[str, str]]:
    details = []
    for error in exc.errors():
        field, where = _field(tuple(error.get("loc", ())))
        if error.get("type") == "json_invalid":
            field = "body"
        details.append({"field": field, "in": where, "problem": _problem(error)})
    return details


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: list[dict[str, str]] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no API key, or an unknown or revoked one"},
    403: {"model": ErrorOut, "description": "the key lacks the scope"},
    413: {"model": ErrorOut, "description": "request body too large"},
    422: {"model": ErrorOut, "description": "invalid request: each problem names its field"},
    429: {"model": ErrorOut, "description": "rate limit of this key exceeded; see Retry-After"},
}


def install_error_handlers(app: FastAPI, logger: logging.Logger) -> None:
    """Answer validation errors, HTTP errors and unexpected exceptions in the API's error format;
    the unexpected ones are logged to ``logger`` (one line, traceback folded in)."""

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        message = "; ".join(f"{d['field']}: {d['problem']}" for d in details) or "invalid request"
        return error_response(request, 422, "invalid_request", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, ApiError):
            return error_response(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)
        message = {404: "no such resource", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        return error_response(request, exc.status_code, STATUS_CODES.get(exc.status_code, "error"), message,
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        logger.error("event=api_error method=%s path=%s error=%s", request.method, request.url.path,
                     type(exc).__name__, exc_info=exc)
        return error_response(request, 500, "internal_error", "internal error; it has been logged")
