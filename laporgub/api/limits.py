"""Limits that keep the API answering under slow or many clients, and when file descriptors run out.

What uvicorn offers and what it lacks (read in ``uvicorn/protocols/http/h11_impl.py``):

* ``timeout_keep_alive`` closes a kept-alive connection idle *between* requests; the
  timer is armed only after a response and cancelled by every byte received. A new
  connection that sends nothing, or sends its headers a byte at a time, is never timed
  out (slowloris): there is no header or body read timeout.
* ``limit_concurrency`` answers 503 to a *request* once that many connections or tasks
  exist; half-open connections count, so it alone would let 50 silent sockets shut the
  API for everyone.
* ``h11_max_incomplete_event_size`` bounds the size of a request head (16 KiB), not its time.

So :class:`GuardedH11Protocol` (uvicorn's h11 protocol, subclassed) adds:

* a **header deadline**: the request line and headers must have arrived
  ``header_timeout_seconds`` after the connection was accepted, or after the first byte
  of the next request on a kept-alive connection; else the connection is closed;
* a **body deadline**: the body must have arrived ``body_timeout_seconds`` after the
  headers; else the connection is closed (the endpoint sees the client gone);
* a **connection cap**: beyond ``max_connections`` open connections a new one is
  answered ``503`` at once and closed, so descriptors are never spent past the cap.

Each closing is counted in ``laporgub_api_connections_closed_total{reason}``.

Out of file descriptors (the process limit, ``LimitNOFILE`` in the unit), requests
that need a new one (a database connection) fail: the app checks the headroom
before each request (:func:`fd_headroom`, about 10 µs) and :func:`descriptors_exhausted`
recognises a failure that ran out anyway; either way it answers a clean ``503`` with
``Retry-After``, and
:class:`ThrottledLog` writes one log line per minute (with the count of the others)
instead of a traceback per request. asyncio's own "accept() out of system resource"
errors go through the same throttle (:func:`loop_exception_handler`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from laporgub.clock import SYSTEM, Clock

logger = logging.getLogger(__name__)

_FD_ERRNOS = (errno.EMFILE, errno.ENFILE)
#: Below this many free descriptors a request is answered 503 before it runs (it would need a database
#: connection: up to three for SQLite); below FD_SUSPECT a driver's "cannot open" is read as exhaustion
#: (other requests may have taken or freed some between the failure and the check).
FD_RESERVE = 8
FD_SUSPECT = 64
_FD_MESSAGES = ("too many open files", "unable to open database file", "could not create socket")


@dataclass(frozen=True, slots=True)
class Limits:
    """The ``[api]`` limits the server enforces per connection."""

    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections: int = 256


class ThrottledLog:
    """Logs an event at most once per ``interval`` seconds, with how many were left out since."""

    def __init__(self, interval: float = 60.0, clock: Clock = SYSTEM) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, level: int, event: str, message: str = "", exc_info: Any = None) -> bool:
        """Log ``event=<event> ...`` unless it was logged within the interval; True when it was written."""
        now = self.clock.monotonic()
        with self._lock:
            last = self._last.get(event)
            if last is not None and now - last < self.interval:
                self._suppressed[event] = self._suppressed.get(event, 0) + 1
                return False
            self._last[event] = now
            suppressed = self._suppressed.pop(event, 0)
        logger.log(level, "event=%s suppressed_last_minute=%s %s", event, suppressed, message, exc_info=exc_info)
        return True


def fd_headroom() -> int | None:
    """File descriptors this process may still open, or None where it cannot be told (not Linux)."""
    try:
        import resource
    except ImportError:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        used = len(os.listdir("/proc/self/fd"))  # needs a descriptor itself: failing says enough
    except OSError as exc:
        return 0 if exc.errno in _FD_ERRNOS else None
    return max(0, soft - used)


def descriptors_exhausted(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the process running out of file descriptors.

    ``EMFILE``/``ENFILE`` anywhere in the chain; or a driver's "unable to open database file" /
    "could not create socket" (SQLite and psycopg2 say no more) while the headroom is nearly gone.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    worded = False
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FD_ERRNOS:
            return True
        text = str(current).lower()
        worded = worded or any(m in text for m in _FD_MESSAGES)
        current = current.__cause__ or current.__context__
    if not worded:
        return False
    headroom = fd_headroom()
    return headroom is not None and headroom < FD_SUSPECT


def loop_exception_handler(throttle: ThrottledLog) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An asyncio exception handler: descriptor exhaustion throttled to one line a minute, the rest as usual."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is not None and descriptors_exhausted(exc):
            throttle(logging.ERROR, "api_out_of_descriptors", "where=accept")
            return
        loop.default_exception_handler(context)

    return handle


_REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n")
_REFUSED_BODY = (b'{"error": {"status": 503, "code": "unavailable", '
                 b'"message": "too many connections; try again shortly"}}')


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines and a connection cap (see the module docstring).

    Configure a subclass per server with :func:`guarded_protocol`.
    """

    limits: Limits = Limits()
    on_close: Callable[[str], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting: str | None = None  # "header" | "body" while a deadline runs

    # -- the deadlines -----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._closed_by_us("connection_limit")
            transport.write(_REFUSED % len(_REFUSED_BODY) + _REFUSED_BODY)
            transport.close()
            return
        self._arm("header")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._waiting != "header":
                self._arm("header")  # the first bytes of the next request on a kept-alive connection
        elif state is h11.SEND_BODY:
            if self._waiting != "body":
                self._arm("body")
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._disarm()  # idle until the next request: uvicorn's keep-alive timer takes over
        super().on_response_complete()

    def _arm(self, what: str) -> None:
        self._disarm()
        seconds = self.limits.header_timeout_seconds if what == "header" else self.limits.body_timeout_seconds
        self._waiting = what
        self._deadline = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._waiting = None, None

    def _expired(self, what: str) -> None:
        self._deadline, self._waiting = None, None
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if (what == "header" and state is h11.IDLE) or (what == "body" and state is h11.SEND_BODY):
            self._closed_by_us(f"{what}_timeout")
            self.transport.close()

    def _closed_by_us(self, reason: str) -> None:
        if self.on_close is not None:
            try:
                self.on_close(reason)
            except Exception:  # noqa: BLE001 - counting must not break the server
                pass


def guarded_protocol(limits: Limits, on_close: Callable[[str], None] | None = None) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with these limits (uvicorn instantiates the class per connection)."""
    return type("ConfiguredH11Protocol", (GuardedH11Protocol,), {"limits": limits, "on_close": staticmethod(on_close)
                                                                  if on_close else None})
