"""Helpers for the website API and webhook tests: a running service with the API on a free port, keys, clients."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from laporgub import db
from laporgub.api import auth
from tests.conftest import ROOT

CHANNEL = -1001000000001
ADMIN_PIC = 222222222  # config.toml: admin PIC in the channel group


@dataclass
class Api:
    """A running service with its API, and a client per scope set."""

    service: Any
    base_url: str
    clients: list[httpx.Client] = field(default_factory=list)
    made: int = 0

    def key(self, *scopes: str, name: str | None = None) -> str:
        self.made += 1
        with db.database.connection_context():
            _info, key = auth.create_key(name or f"test-{self.made}", list(scopes))
        return key

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0, **kwargs)
        self.clients.append(client)
        return client


def api_tweak(extra: Callable[[dict[str, Any]], None] | None = None, **api: Any) -> Callable[[dict[str, Any]], None]:
    """A make_service tweak that serves the API on a free port (rate limit high unless given)."""

    def tweak(data: dict[str, Any]) -> None:
        data["api"] = {"listen": "127.0.0.1:0", "rate_limit_per_minute": 100000, **api}
        if extra is not None:
            extra(data)

    return tweak


@pytest.fixture(name="start_api")
def start_api_fixture(modem: Any, botapi: Any, make_service: Any) -> Iterator[Callable[..., Api]]:
    """Start the whole service (pty modem, Bot API stand-in) with the API listening; returns an :class:`Api`."""
    handles: list[Api] = []

    def start(extra: Callable[[dict[str, Any]], None] | None = None, **api: Any) -> Api:
        service = make_service([modem], botapi, tweak=api_tweak(extra, **api))
        assert service.api_status.listening.is_set()
        handle = Api(service, service.api_status.base_url)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        for client in handle.clients:
            client.close()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m laporgub ARGS`` as its own process: beside a running service, as an admin would run it
    (in-process, opening the database would re-point the running service's database proxy)."""
    return subprocess.run([sys.executable, "-m", "laporgub", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, env={**os.environ, **(env or {})})


def tickets_in_db() -> list[db.Ticket]:
    with db.database.connection_context():
        return list(db.Ticket.select().order_by(db.Ticket.id))


# --------------------------------------------------------------------------
# A webhook receiver: verifies nothing itself, records everything, fails on demand.


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """An HTTP server that records each POST and answers 500 for the first ``fail_first`` attempts of each event."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False) -> None:
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.attempts: dict[str, int] = {}
        self.accepted: list[Received] = []
        self.refused: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                record = Received({k.lower(): v for k, v in self.headers.items()}, body)
                event_id = record.headers.get("x-laporgub-event-id", "")
                with receiver.lock:
                    n = receiver.attempts[event_id] = receiver.attempts.get(event_id, 0) + 1
                    ok = not receiver.always_fail and n > receiver.fail_first
                    (receiver.accepted if ok else receiver.refused).append(record)
                status = 200 if ok else 500
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"no")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/laporgub"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.json for r in self.accepted]
