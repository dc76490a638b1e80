"""ApiServer: serves the website HTTP API (laporgub/api) with uvicorn, in a thread of its own.

The socket is bound in ``__init__`` (the caller's thread), so a port in use
fails the service's start at once with one line, as Mopidy's HttpFrontend
does; uvicorn then serves on that socket from its own thread with its own
asyncio loop. uvicorn installs signal handlers only in the main thread, so
here it leaves SIGTERM/SIGINT to ``laporgub run``. If the server ends without
being asked to, its thread tells the actor, which fails; the supervisor
restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from laporgub import actor_names
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.api.limits import Limits, ThrottledLog, guarded_protocol, loop_exception_handler
from laporgub.clock import SYSTEM, Clock
from laporgub.config import ApiConfig, Listen
from laporgub.exceptions import ApiServerError
from laporgub.messages import ApiServerStopped
from laporgub.metrics import Metrics

logger = logging.getLogger(__name__)

#: How long the server may take to start listening, and to stop (within the service's stop budget).
START_TIMEOUT = 10.0
STOP_TIMEOUT = 2.5


class ApiStatus:
    """Shared between the service and its (possibly restarted) ApiServer: is it listening, and where."""

    def __init__(self) -> None:
        self.listening = threading.Event()
        self.host: str | None = None
        self.port: int | None = None
        #: The ApiServer that set ``listening``: a replaced server's late-ending thread must not clear
        #: the flag its successor set (on a loaded machine the old one can end after the new one listens).
        self.owner: object | None = None
        self._lock = threading.Lock()

    def set_listening(self, owner: object) -> None:
        with self._lock:
            self.owner = owner
            self.listening.set()

    def clear_listening(self, owner: object) -> None:
        """Clear ``listening``, unless another server has taken over since."""
        with self._lock:
            if self.owner is owner or self.owner is None:
                self.owner = None
                self.listening.clear()

    @property
    def base_url(self) -> str:
        host = self.host or "127.0.0.1"
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"


def bind(listen: Listen, port: int) -> socket.socket:
    """A listening TCP socket on ``listen.host`` and ``port`` (0: any free port)."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it. Without it, on a socket handed to uvicorn (rather than
        # bound by it), a response written in two parts waits for the client's delayed ACK: 40 ms each.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((listen.host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class ApiServer(LaporgubActor):
    """Runs uvicorn for the API; its actor thread only starts, watches and stops the server thread.

    Args:
        app_factory: builds the ASGI application (called in ``__init__``).
        listen: ``[api] listen``.
        status: set while listening; keeps the port an ``:0`` listen got, so a restart reuses it.
        settings: ``[api]``, for the connection limits (laporgub/api/limits.py); defaults without it.
        metrics: counts connections the server closed itself (``laporgub_api_connections_closed_total``).
    """

    actor_name = actor_names.API

    def __init__(self, *, app_factory: Callable[[], Any], listen: Listen, status: ApiStatus,
                 directory: Directory, scheduler: Scheduler, settings: ApiConfig | None = None,
                 metrics: Metrics | None = None, clock: Clock = SYSTEM) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.status = status
        self.settings = settings or ApiConfig()
        self.metrics = metrics
        port = status.port if listen.port == 0 and status.port else listen.port
        try:
            self.sock = bind(listen, port)
        except OSError as exc:
            raise ApiServerError(f"api.listen: cannot listen on {listen}: {exc.strerror or exc}") from exc
        status.host, status.port = listen.host, self.sock.getsockname()[1]
        self.app = app_factory()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.stopping = False

    def on_start(self) -> None:
        api = self.settings
        limits = Limits(header_timeout_seconds=api.header_timeout_seconds,
                        body_timeout_seconds=api.body_timeout_seconds, max_connections=api.max_connections)
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off", server_header=False,
            timeout_graceful_shutdown=1, loop="asyncio",
            # uvicorn waits any number of seconds (loop.call_later); its annotation says int.
            timeout_keep_alive=api.keepalive_timeout_seconds,  # type: ignore[arg-type]
            http=guarded_protocol(limits, self._closed), backlog=128,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="api-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.release()
                raise ApiServerError("the HTTP API server did not start")
            time.sleep(0.01)
        self.status.set_listening(self)
        logger.info("event=api_listening listen=%s", self.status.base_url)

    def _closed(self, reason: str) -> None:
        """A connection the server closed itself (a deadline passed, or over the cap)."""
        if self.metrics is not None:
            self.metrics.api_connections_closed.labels(reason=reason).inc()

    async def _main(self) -> None:
        # Out of descriptors, asyncio logs a traceback for every failed accept(): one line a minute instead.
        asyncio.get_running_loop().set_exception_handler(loop_exception_handler(ThrottledLog()))
        assert self.server is not None
        await self.server.serve(sockets=[self.sock])

    def _serve(self) -> None:
        """The server thread: uvicorn's own event loop until asked to stop."""
        reason = "ended"
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the actor, which fails and is restarted
            reason = f"{type(exc).__name__}: {exc}"
            logger.error("event=api_server_crashed error=%s", reason, exc_info=exc)
        finally:
            self.status.clear_listening(self)
        if not self.stopping:
            try:
                self.actor_ref.tell(ApiServerStopped(reason))
            except Exception:  # noqa: BLE001 - the actor is already gone
                pass

    @handles(ApiServerStopped)
    def _on_server_stopped(self, message: ApiServerStopped) -> None:
        raise ApiServerError(f"the HTTP API server stopped: {message.reason}")

    def release(self) -> None:
        self.stopping = True
        self.status.clear_listening(self)
        server, thread = self.server, self.thread
        if server is not None and thread is not None and thread.is_alive():
            server.should_exit = True
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                server.force_exit = True
                thread.join(0.5)
                logger.warning("event=api_stop_forced")
        try:
            self.sock.close()
        except OSError:
            pass
