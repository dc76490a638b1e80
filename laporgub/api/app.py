"""The website HTTP API as an ASGI application (FastAPI): assembly and limits.

Built by :func:`build_app` from an :class:`ApiContext`; served by the ApiServer
actor (``laporgub/actors/api_server.py``) with uvicorn. Everything here runs in
uvicorn's event loop or in its thread pool (FastAPI runs plain ``def``
endpoints there), each request with a database connection of its own thread.

Where the rest is: the routes, one router per surface, in ``laporgub/api/routes/``;
API keys and submission in ``context.py``; request and answer models in ``models.py``;
the error format and its handlers in ``errors.py``. Errors never carry internal detail:
``/api/v1`` answers ``{"error": {"status", "code", "message", "details": [{"field", "in",
"problem"}]}}``, Open311 its own ``[{"code", "description"}]``; an unexpected exception is
logged here and answered 500 without detail.
"""

import json
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from laporgub import __version__
from laporgub.api.context import Access, ApiContext
from laporgub.api.errors import (  # noqa: F401 - re-exported: callers and tests import them from here
    ERRORS,
    STATUS_CODES,
    ApiError,
    BodyTooLarge,
    ErrorBody,
    ErrorOut,
    _field,
    error_response,
    install_error_handlers,
)
from laporgub.api.limits import FD_RESERVE, ThrottledLog, descriptors_exhausted, fd_headroom
from laporgub.api.models import ComplaintIn, Reporter, Submission, parse_phone  # noqa: F401 - re-exported
from laporgub.api.routes import complaints, open311, tickets

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
    path = scope.get("path", "")
    if path.startswith("/open311/"):
        body = json.dumps([{"code": status, "description": message}]).encode()
    else:
        body = json.dumps({"error": {"status": status, "code": STATUS_CODES.get(status, "error"),
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
    """The ASGI application for ``ctx``'s service: error handlers, one router per surface, limits."""
    app = FastAPI(title="LaporGub API", version=__version__, description=API_DESCRIPTION,
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    install_error_handlers(app, logger)
    access = Access(ctx)
    for surface in (complaints, tickets, open311):  # this order is the order of /openapi.json's paths
        app.include_router(surface.router(access))
    app.add_middleware(LimitsMiddleware, max_bytes=ctx.config().api.max_body_bytes, count=ctx.count_request)
    return app
