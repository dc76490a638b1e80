"""The website HTTP API as an ASGI application (FastAPI): routes, auth, errors, limits.

Built by :func:`build_app` from an :class:`ApiContext`; served by the ApiServer
actor (``laporgub/actors/api_server.py``) with uvicorn. Everything here runs in
uvicorn's event loop or in its thread pool (FastAPI runs plain ``def``
endpoints there), each request with a database connection of its own thread.

Errors never carry internal detail: ``/api/v1`` answers
``{"error": {"status", "code", "message", "details": [{"field", "in", "problem"}]}}``,
Open311 its own ``[{"code", "description"}]``; an unexpected exception is
logged here and answered 500 without detail.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at
# runtime, and those naming the dependencies built inside build_app() cannot be resolved from strings.

import logging
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

import phonenumbers
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from laporgub import __version__, db
from laporgub.api import auth, sync, views
from laporgub.api.complaints import IdempotencyConflict, WebComplaintData, submit
from laporgub.api.limits import FD_RESERVE, ThrottledLog, descriptors_exhausted, fd_headroom
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config
from laporgub.intake import Intake
from laporgub.messages import OutboundQueued, TicketRegistered
from laporgub.tickets import is_indonesian_mobile, mask_msisdn, normalize_msisdn, parse_ticket

logger = logging.getLogger(__name__)

API_DESCRIPTION = """\
The website integration of LaporGub, the SMS Center LAPOR GUB! of Central Java.

* `/api/v1`: bearer API keys (`Authorization: Bearer lg_...`) with scopes `submit`, `read`,
  `read:personal` (phone numbers in clear, audit-logged) and `admin`.
* `/open311/v2`: Open311 GeoReport v2, public for reading (no personal data), `api_key` to submit.

Errors: `/api/v1` answers `{"error": {"status", "code", "message", "details": [{"field", "in", "problem"}]}}`;
an invalid request is 422, a body too large 413, too many requests 429 with `Retry-After`.
"""


# --------------------------------------------------------------------------
# Context and errors.


@dataclass
class ApiContext:
    """What the API needs from the service; the callables read the current (reloaded) state."""

    config: Callable[[], Config]
    intake: Callable[[], Intake]
    tell: Callable[[str, object], object]  # Directory.tell
    actor_names: Callable[[str], list[str]]  # Directory.names
    limiter: auth.RateLimiter
    count_request: Callable[[str, int], None] | None = None
    #: Keys the stored request hashes (laporgub.privacy.read_hash_key).
    hash_key: bytes = b""
    #: The service's clock (key use times, web complaints' receipt).
    clock: Clock = SYSTEM


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


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
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


# --------------------------------------------------------------------------
# Request models.


#: Control characters refused in any field (tab, newline and carriage return are fine).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _clean(value: str | None) -> str | None:
    """Reject what databases refuse (NUL, lone surrogates), control characters and text with nothing
    visible in it (blanks, zero-width spaces, joiners); strip spaces."""
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in value):
        raise ValueError("must contain visible text (not only spaces or invisible characters)")
    return value


def parse_phone(value: str | None) -> str | None:
    """A reporter's number -> E.164 (``+628...``), or ValueError.

    Only Indonesian mobile numbers: the reporter is sent SMS (the acknowledgement, the PICs'
    answers), and the centre texts nothing else (laporgub/smsguard.py): a landline or a
    foreign number would make the website form a free SMS relay.
    """
    if value is None:
        return None
    if not re.fullmatch(r"\+?[\d\s\-().]{6,24}", value):
        raise ValueError("must be a phone number such as +6281234567890")
    msisdn = normalize_msisdn(value)
    if msisdn is None or not phonenumbers.is_valid_number(phonenumbers.parse(msisdn)):
        raise ValueError("not a valid phone number (e.g. +6281234567890 or 081234567890)")
    if not is_indonesian_mobile(msisdn):
        raise ValueError("not an Indonesian mobile number (+628... or 08...): SMS go to Indonesian mobiles only")
    return msisdn


class Reporter(BaseModel):
    """Who reports; both optional (a web complaint without a number gets 0000 in its ticket number)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=128, examples=["Budi Santoso"])
    phone: str | None = Field(None, max_length=32, examples=["+6281234567890"],
                              description="Gets the acknowledgement SMS and PIC responses, as an SMS complainant.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return _clean(v)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return parse_phone(_clean(v))


class ComplaintIn(BaseModel):
    """A web complaint. Only ``text`` is required."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=5000, examples=["Jalan rusak parah di Ungaran, banyak lubang"])
    reporter: Reporter | None = None
    category_hint: str | None = Field(None, max_length=128, examples=["infrastruktur"])
    location: str | None = Field(None, max_length=500, examples=["Jl. Diponegoro 12, Ungaran, Kab. Semarang"])

    @field_validator("text", "category_hint", "location")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return _clean(v)


class Submission(BaseModel):
    ticket: str = Field(..., examples=["261128-0200-1"], description="The ticket number, YYMMDD-NNNN-S.")
    status: str
    kind: str = Field(..., description="complaint, or spam when it reads as promotion or fraud")
    channel: str
    created: bool = Field(..., description="false when an Idempotency-Key repeated an earlier request")


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


# --------------------------------------------------------------------------
# Middleware: body size, request counting.


class LimitsMiddleware:
    """Refuses bodies over ``max_bytes`` (413: by Content-Length at once, else while reading), counts
    requests, and answers what escaped the routes itself: one log line, no traceback to the client.

    Out of file descriptors (laporgub/api/limits.py) is a clean ``503`` with ``Retry-After`` and
    one log line a minute; any other unexpected exception one ``event=api_error`` line (traceback
    folded in) and ``500``. Neither is raised on to uvicorn, which would log its own traceback for
    every request as well.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, count: Callable[[str, int], None] | None,
                 throttle: ThrottledLog | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.count = count
        self.throttle = throttle or ThrottledLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_holder: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder.append(int(message["status"]))
            await send(message)

        length = dict(scope.get("headers") or []).get(b"content-length")
        too_large = False
        if length is not None:
            try:
                too_large = int(length) > self.max_bytes
            except ValueError:
                too_large = False  # h11 refuses a malformed Content-Length before we see it
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        try:
            headroom = fd_headroom()
            if headroom is not None and headroom < FD_RESERVE:
                self.throttle(logging.ERROR, "api_out_of_descriptors",
                              f"method={scope.get('method')} path={scope.get('path')} free={headroom}")
                await _raw_json(counting_send, 503, scope, "temporarily out of resources; try again shortly",
                                retry_after=5)
            elif too_large:
                await _raw_json(counting_send, 413, scope, f"request body larger than {self.max_bytes} bytes")
            else:
                await self.app(scope, limited_receive, counting_send)
        except ClientDisconnect:
            logger.info("event=api_client_gone method=%s path=%s", scope.get("method"), scope.get("path"))
        except Exception as exc:
            where = f"method={scope.get('method')} path={scope.get('path')}"
            if descriptors_exhausted(exc):
                self.throttle(logging.ERROR, "api_out_of_descriptors", where)
                if not status_holder:
                    await _raw_json(counting_send, 503, scope, "temporarily out of resources; try again shortly",
                                    retry_after=5)
            else:
                logger.error("event=api_error %s error=%s", where, type(exc).__name__, exc_info=exc)
                if not status_holder:
                    await _raw_json(counting_send, 500, scope, "internal error; it has been logged")
        finally:
            # An unexpected exception passes through here on its way to the 500 handler outside.
            if self.count is not None:
                route = scope.get("route")
                self.count(getattr(route, "path", "unmatched"), status_holder[0] if status_holder else 500)


async def _raw_json(send: Callable[[Message], Awaitable[None]], status: int, scope: Scope, message: str,
                    retry_after: int | None = None) -> None:
    import json

    path = scope.get("path", "")
    if path.startswith("/open311/"):
        body = json.dumps([{"code": status, "description": message}]).encode()
    else:
        body = json.dumps({"error": {"status": status, "code": _STATUS_CODES.get(status, "error"),
                                     "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------
# The application.


def build_app(ctx: ApiContext) -> FastAPI:
    """The ASGI application for ``ctx``'s service."""
    app = FastAPI(title="LaporGub API", version=__version__, description=API_DESCRIPTION,
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    bearer = HTTPBearer(auto_error=False, description="An API key from `laporgub api-key create`.")

    # -- errors ----------------------------------------------------------------

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
        return error_response(request, exc.status_code, _STATUS_CODES.get(exc.status_code, "error"), message,
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        logger.error("event=api_error method=%s path=%s error=%s", request.method, request.url.path,
                     type(exc).__name__, exc_info=exc)
        return error_response(request, 500, "internal_error", "internal error; it has been logged")

    # -- auth ------------------------------------------------------------------

    def principal(scope: str) -> Callable[..., auth.Principal]:
        def dependency(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                       ) -> auth.Principal:
            return _authorise(credentials.credentials if credentials else None, scope)

        return dependency

    def _authorise(key: str | None, scope: str) -> auth.Principal:
        challenge = {"WWW-Authenticate": 'Bearer realm="laporgub"'}
        if not key:
            raise ApiError(401, "unauthorized", "missing API key (Authorization: Bearer <key>)", headers=challenge)
        with db.database.connection_context():
            who = auth.authenticate(key, now=ctx.clock.time())
        if who is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key", headers=challenge)
        if not who.allows(scope):
            raise ApiError(403, "forbidden", f"this API key lacks the scope {scope!r}")
        wait = ctx.limiter.take(who.key_id)
        if wait > 0:
            raise ApiError(429, "rate_limited", "too many requests for this API key",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return who

    def _after_submit(result: Any) -> None:
        if not result.created:
            return
        # As the registry does after committing an SMS ticket (tell: the database has it anyway).
        ctx.tell("filter", TicketRegistered(result.ticket_id, result.ticket_number))
        if result.outbound_queued:
            for name in ctx.actor_names("modem:"):
                ctx.tell(name, OutboundQueued())

    def _submit(data: WebComplaintData, key_id: int | None, idem: str | None) -> Any:
        with db.database.connection_context():
            try:
                result = submit(ctx.intake(), data, key_id, idem, hash_key=ctx.hash_key)
            except IdempotencyConflict:
                raise ApiError(409, "conflict", "this Idempotency-Key was used for a different complaint",
                               [{"field": "Idempotency-Key", "in": "header",
                                 "problem": "reused with a different request body"}]) from None
        _after_submit(result)
        return result

    # -- /api/v1 ---------------------------------------------------------------

    @app.post("/api/v1/complaints", status_code=201, response_model=Submission, tags=["complaints"],
              responses={**ERRORS, 200: {"model": Submission, "description": "repeat of an Idempotency-Key"},
                         409: {"model": ErrorOut, "description": "Idempotency-Key reused with another body"}})
    def create_complaint(
        body: ComplaintIn,
        who: Annotated[auth.Principal, Depends(principal("submit"))],
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
            description="Makes a retried POST return the ticket of the first one (200) instead of a new one.",
        )] = None,
    ) -> JSONResponse:
        """Submit a web complaint: it becomes a ticket routed like an SMS complaint."""
        reporter = body.reporter or Reporter()
        data = WebComplaintData(text=body.text, phone=reporter.phone, name=reporter.name,
                                category_hint=body.category_hint, location=body.location)
        result = _submit(data, who.key_id, idempotency_key)
        logger.info("event=api_complaint ticket=%s created=%s key=%s sender=%s", result.ticket_number,
                    result.created, who.name, mask_msisdn(data.phone))
        out = Submission(ticket=result.ticket_number, status="open", kind=result.kind, channel="web",
                         created=result.created)
        return JSONResponse(out.model_dump(), status_code=201 if result.created else 200,
                            headers={"Location": f"/api/v1/tickets/{result.ticket_number}"})

    @app.get("/api/v1/tickets/{number}", tags=["tickets"], responses={**ERRORS, 404: {"model": ErrorOut}})
    def get_ticket(
        number: Annotated[str, Path(max_length=32, description="YYMMDD-NNNN-S, with or without dashes")],
        who: Annotated[auth.Principal, Depends(principal("read"))],
    ) -> dict[str, Any]:
        """One ticket: status, groups, regency, stage times, responses."""
        canonical = parse_ticket(number)
        if canonical is None:
            raise ApiError(404, "not_found", f"no ticket {number!r} (the form is YYMMDD-NNNN-S)")
        personal = who.allows("read:personal")
        with db.database.connection_context():
            ticket = views.find_ticket(canonical)
            if ticket is None:
                raise ApiError(404, "not_found", f"no ticket {canonical}")
            v = views.TicketViews(ctx.config(), personal=personal)
            answer = v.tickets([ticket])[0]
            if v.disclosed:
                with db.database.atomic():
                    v.audit(f"api:{who.name}", "get")
        return answer

    @app.get("/api/v1/tickets", tags=["tickets"], responses=ERRORS)
    def list_tickets(
        who: Annotated[auth.Principal, Depends(principal("read"))],
        updated_since: Annotated[datetime | None, Query(
            description="ISO 8601; without an offset, the service's time zone. Only for the first page: "
                        "the cursor carries it on.")] = None,
        cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=sync.MAX_PAGE)] = sync.DEFAULT_PAGE,
    ) -> dict[str, Any]:
        """Incremental sync: tickets changed since the cursor, in commit order (see docs/api.md)."""
        config = ctx.config()
        if cursor is not None:
            try:
                position = sync.Cursor.decode(cursor)
            except sync.CursorError:
                raise ApiError(422, "invalid_request", "cursor: not a cursor this server returned",
                               [{"field": "cursor", "in": "query", "problem": "not a cursor this server returned"}]
                               ) from None
        else:
            since = None
            if updated_since is not None:
                stamp = updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=config.tz)
                since = stamp.timestamp()
            position = sync.Cursor(after=0, since=since)
        personal = who.allows("read:personal")
        with db.database.connection_context():
            with sync.snapshot():
                page = sync.changed_tickets(position, limit)
                v = views.TicketViews(config, personal=personal)
                items = v.tickets(views.tickets_by_ids(page.ticket_ids))
            if v.disclosed:
                with db.database.atomic():
                    v.audit(f"api:{who.name}", "sync")
        return {"tickets": items, "next_cursor": page.cursor.encode(), "has_more": page.more}

    @app.get("/api/v1/stats", tags=["tickets"], responses=ERRORS)
    def get_stats(who: Annotated[auth.Principal, Depends(principal("read"))]) -> dict[str, Any]:
        """Ticket counts per status, channel, kind, and per group and status."""
        with db.database.connection_context():
            return views.stats(ctx.config())

    # -- Open311 GeoReport v2 -----------------------------------------------------

    @app.get("/open311/v2/services.json", tags=["open311"])
    def open311_services(jurisdiction_id: Annotated[str | None, Query(max_length=100)] = None
                         ) -> list[dict[str, Any]]:
        """Service list: one service per category group."""
        return views.services(ctx.config())

    @app.get("/open311/v2/requests.json", tags=["open311"])
    def open311_list(
        service_request_id: Annotated[str | None, Query(max_length=2000, description="comma-separated")] = None,
        service_code: Annotated[str | None, Query(max_length=64)] = None,
        start_date: Annotated[datetime | None, Query()] = None,
        end_date: Annotated[datetime | None, Query()] = None,
        status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
        jurisdiction_id: Annotated[str | None, Query(max_length=100)] = None,
        page: Annotated[int, Query(ge=1, le=100000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Service requests (tickets), newest first; no personal data."""
        config = ctx.config()
        ids = None
        if service_request_id is not None:
            ids = [parse_ticket(x) or x.strip() for x in service_request_id.split(",") if x.strip()]
        stamp = [None if d is None else (d if d.tzinfo else d.replace(tzinfo=config.tz)).timestamp()
                 for d in (start_date, end_date)]
        with db.database.connection_context():
            rows = views.open311_query(ids=ids, service_code=service_code, status=status, start=stamp[0],
                                       end=stamp[1], limit=page_size, offset=(page - 1) * page_size)
            return views.open311_requests(config, rows)

    @app.get("/open311/v2/requests/{service_request_id}.json", tags=["open311"])
    def open311_one(
        service_request_id: Annotated[str, Path(max_length=32)],
        jurisdiction_id: Annotated[str | None, Query(max_length=100)] = None,
    ) -> list[dict[str, Any]]:
        """One service request (an array of one, as GeoReport v2 answers)."""
        number = parse_ticket(service_request_id)
        with db.database.connection_context():
            ticket = views.find_ticket(number) if number else None
            if ticket is None or ticket.kind not in views.OPEN311_KINDS:
                raise ApiError(404, "not_found", f"no service request {service_request_id!r}")
            return views.open311_requests(ctx.config(), [ticket])

    form_fields: dict[str, dict[str, Any]] = {
        "api_key": {"type": "string", "maxLength": 200},
        "service_code": {"type": "string", "maxLength": 64},
        "description": {"type": "string", "maxLength": 5000},
        "address_string": {"type": "string", "maxLength": 500},
        "lat": {"type": "number"},
        "long": {"type": "number"},
        "first_name": {"type": "string", "maxLength": 64},
        "last_name": {"type": "string", "maxLength": 64},
        "phone": {"type": "string", "maxLength": 32},
        "email": {"type": "string", "maxLength": 254},
        "jurisdiction_id": {"type": "string", "maxLength": 100},
    }

    @app.post("/open311/v2/requests.json", tags=["open311"], status_code=201, openapi_extra={
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["api_key", "service_code", "description"], "properties": form_fields}}}},
    })
    async def open311_create(request: Request) -> JSONResponse:
        """Create a service request (form-encoded, ``api_key`` with the ``submit`` scope)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise ApiError(415, "unsupported_media_type", "send application/x-www-form-urlencoded")
        raw = await request.body()
        try:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                                  max_num_fields=50))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "bad_request", "the form is not valid UTF-8 application/x-www-form-urlencoded") \
                from None
        return await run_in_threadpool(_open311_create, form)

    def _open311_create(form: dict[str, str]) -> JSONResponse:
        config = ctx.config()
        problems: list[dict[str, str]] = []

        def text(name: str, required: bool = False) -> str | None:
            value = form.get(name)
            limit = form_fields[name].get("maxLength", 500)
            try:
                value = _clean(value) if value is not None else None
            except ValueError as exc:
                problems.append({"field": name, "in": "body", "problem": str(exc)})
                return None
            if value is None and required:
                problems.append({"field": name, "in": "body", "problem": "required"})
            elif value is not None and len(value) > int(limit):
                problems.append({"field": name, "in": "body", "problem": f"at most {limit} characters"})
                return None
            return value

        key = text("api_key", required=True)
        code = text("service_code", required=True)
        description = text("description", required=True)
        address = text("address_string")
        names = [n for n in (text("first_name"), text("last_name")) if n]
        phone_raw = text("phone")
        text("email")
        text("jurisdiction_id")
        coords = []
        for name in ("lat", "long"):
            if form.get(name):
                try:
                    value = float(form[name])
                    if not math.isfinite(value) or abs(value) > (90 if name == "lat" else 180):
                        raise ValueError
                    coords.append(value)
                except ValueError:
                    problems.append({"field": name, "in": "body", "problem": "must be a number in degrees"})
        phone = None
        if phone_raw is not None:
            try:
                phone = parse_phone(phone_raw)
            except ValueError as exc:
                problems.append({"field": "phone", "in": "body", "problem": str(exc)})
        if code is not None and (code not in config.groups or code == "channel"):
            problems.append({"field": "service_code", "in": "body",
                             "problem": "unknown service_code (see services.json)"})
        if key is None:
            raise ApiError(400, "bad_request", "invalid request", problems)
        who = _authorise(key, "submit")  # 401/403/429 first: nothing more is said to a stranger
        if problems:
            raise ApiError(400, "bad_request", "invalid request", problems)
        assert description is not None and code is not None
        location = address or (f"{coords[0]:.6f},{coords[1]:.6f}" if len(coords) == 2 else None)
        data = WebComplaintData(text=description, phone=phone, name=" ".join(names) or None,
                                category_hint=config.group_name(code), location=location)
        result = _submit(data, who.key_id, None)
        return JSONResponse([{"service_request_id": result.ticket_number, "service_notice":
                              f"Laporan diterima dengan nomor tiket {result.ticket_number}.", "account_id": None}],
                            status_code=201)

    app.add_middleware(LimitsMiddleware, max_bytes=ctx.config().api.max_body_bytes, count=ctx.count_request)
    return app
