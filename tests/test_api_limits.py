"""The API cannot be held open: header and body deadlines, a connection cap, a clean 503 out of file
descriptors (one log line a minute), cursor bounds. Real sockets against the running service."""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from laporgub.api.limits import ThrottledLog, descriptors_exhausted
from laporgub.clock import ManualClock
from tests.api_helpers import start_api_fixture  # noqa: F401 - fixture
from tests.conftest import ROOT, TOKEN, TOKEN_ENV, make_config_data, wait_until, write_config

HALF_OPEN = 50


def connect(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.setblocking(False)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the connection (EOF or reset); False while it is held open."""
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    if data and b"503" not in data[:20] and b"408" not in data[:20]:
        return False  # an answer: still reading until the close
    return data == b"" or closed_by_server(sock)


def closed(metrics: Any, reason: str) -> float:
    return metrics.value("laporgub_api_connections_closed_total", reason=reason) or 0.0


def test_half_open_connections_neither_block_others_nor_stay(start_api: Any) -> None:
    api = start_api(header_timeout_seconds=3, body_timeout_seconds=3, max_connections=200)
    metrics = api.service.metrics
    silent = [connect(api.base_url) for _ in range(HALF_OPEN // 2)]
    partial = [connect(api.base_url) for _ in range(HALF_OPEN - len(silent))]
    for sock in partial:
        sock.send(b"GET /open311/v2/services.json HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    stop = threading.Event()

    def trickle() -> None:  # a byte now and then: the deadline is absolute, not an idle timer
        while not stop.wait(0.3):
            for sock in partial[:10]:
                try:
                    sock.send(b"a")
                except OSError:
                    pass

    threading.Thread(target=trickle, daemon=True).start()
    try:
        held = [s for s in silent + partial if not closed_by_server(s)]
        # The normal request is answered while the half-open connections are held.
        answer = httpx.get(api.base_url + "/open311/v2/services.json", timeout=20)
        assert answer.status_code == 200 and answer.json()
        assert len(held) == HALF_OPEN, f"only {len(held)} of {HALF_OPEN} were still open when the request went"
        # ... and the server closes every one of them itself, before a generous deadline.
        assert wait_until(lambda: all(closed_by_server(s) for s in silent + partial), timeout=60), \
            f"{sum(not closed_by_server(s) for s in silent + partial)} half-open connections still open"
        assert closed(metrics, "header_timeout") >= HALF_OPEN
    finally:
        stop.set()
        for sock in silent + partial:
            sock.close()


def test_a_stalled_body_is_closed_and_logged_once(start_api: Any, caplog: pytest.LogCaptureFixture) -> None:
    api = start_api(header_timeout_seconds=2, body_timeout_seconds=1)
    key = api.key("submit")
    sock = connect(api.base_url)
    try:
        sock.send(f"POST /api/v1/complaints HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"text\": \"Jalan".encode())
        assert wait_until(lambda: closed_by_server(sock), timeout=60), "a stalled body kept its connection"
    finally:
        sock.close()
    assert wait_until(lambda: closed(api.service.metrics, "body_timeout") == 1, timeout=10)
    assert "event=api_error" not in caplog.text and "Traceback" not in caplog.text
    # A kept-alive connection that finished its request is left to the keep-alive timer, not cut short.
    with httpx.Client(base_url=api.base_url, timeout=10) as client:
        assert client.get("/open311/v2/services.json").status_code == 200
        assert client.get("/open311/v2/services.json").status_code == 200


def test_connections_beyond_the_cap_get_503(start_api: Any) -> None:
    api = start_api(max_connections=5, header_timeout_seconds=30)
    idle = [connect(api.base_url) for _ in range(5)]
    try:
        assert wait_until(lambda: not any(closed_by_server(s) for s in idle), timeout=5)
        answer = httpx.get(api.base_url + "/open311/v2/services.json", timeout=10)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert answer.json()["error"]["code"] == "unavailable"
        assert closed(api.service.metrics, "connection_limit") >= 1
    finally:
        for sock in idle:
            sock.close()

    def served() -> bool:
        return httpx.get(api.base_url + "/open311/v2/services.json", timeout=10).status_code == 200

    assert wait_until(served, timeout=20)


@pytest.mark.parametrize("cursor", [
    {"v": 1, "a": 2**63, "s": None}, {"v": 1, "a": 10**30, "s": None}, {"v": 1, "a": 0, "s": 1e300},
])
def test_cursor_out_of_range_is_422(start_api: Any, cursor: dict[str, Any]) -> None:
    api = start_api()
    client = api.client(api.key("read"))
    text = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode().rstrip("=")
    r = client.get("/api/v1/tickets", params={"cursor": text})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "cursor"
    infinite = base64.urlsafe_b64encode(b'{"v":1,"a":0,"s":Infinity}').decode().rstrip("=")
    assert client.get("/api/v1/tickets", params={"cursor": infinite}).status_code == 422
    assert client.get("/api/v1/tickets", params={"cursor": base64.urlsafe_b64encode(
        json.dumps({"v": 1, "a": 2**63 - 1, "s": None}).encode()).decode().rstrip("=")}).status_code == 200


def test_descriptor_exhaustion_is_recognised() -> None:
    assert descriptors_exhausted(OSError(errno.EMFILE, "Too many open files"))
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = OSError(errno.ENFILE, "File table overflow")
    assert descriptors_exhausted(wrapped)
    assert not descriptors_exhausted(OSError(errno.ENOENT, "No such file"))
    assert not descriptors_exhausted(ValueError("unable to open database file"))  # plenty of headroom here


def test_throttled_log_writes_one_line_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(0.0)
    throttle = ThrottledLog(60.0, clock)
    caplog.set_level(logging.ERROR, logger="laporgub.api.limits")
    results = [throttle(logging.ERROR, "api_out_of_descriptors", "where=accept") for _ in range(2000)]
    assert results.count(True) == 1
    clock.advance(61)
    assert throttle(logging.ERROR, "api_out_of_descriptors")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "suppressed_last_minute=1999" in lines[1]


def test_out_of_descriptors_is_a_clean_503_and_one_log_line(tmp_path: Path, modem: Any, botapi: Any) -> None:
    """`laporgub run` under a small RLIMIT_NOFILE; connections use up the descriptors; requests get 503."""
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    port, metrics_port = ports
    data = make_config_data(tmp_path, [modem.port], botapi.base_url)
    data["metrics"]["listen"] = f"127.0.0.1:{metrics_port}"
    data["api"] = {"listen": f"127.0.0.1:{port}", "max_connections": 5000, "header_timeout_seconds": 120}
    config = write_config(tmp_path / "config.toml", data)
    log = tmp_path / "service.log"
    limit = 160

    def small_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "laporgub", "run", "--config", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=small_limit,
                                env={**os.environ, TOKEN_ENV: TOKEN, "PYTHONUNBUFFERED": "1"})
    held: list[socket.socket] = []
    try:
        def up() -> bool:  # every actor running, the modem initialised, the API listening
            try:
                return "laporgub_ready 1.0" in httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
            except httpx.HTTPError:
                return False

        assert wait_until(up, timeout=60), log.read_text()[-3000:]
        used = len(os.listdir(f"/proc/{proc.pid}/fd"))
        # Take every descriptor the service has left, and some: the last ones wait in the listen queue.
        for _ in range(limit - used + 20):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert wait_until(lambda: len(os.listdir(f"/proc/{proc.pid}/fd")) >= limit - 2, timeout=20)
        # Accepted connections: a request needs a database connection, i.e. descriptors. All sent first, so
        # the handlers run while none is free; an answer's close frees one, and the listen queue takes it
        # again within a second, so a late request may find room: then it is served, never a 500.
        for sock in held[:30]:
            sock.sendall(b"GET /open311/v2/requests.json HTTP/1.1\r\nHost: x\r\n\r\n")
        answers = []
        for sock in held[:30]:
            sock.settimeout(30)
            answers.append(sock.recv(4096))
        assert all(a.startswith(b"HTTP/1.1 ") for a in answers), answers
        statuses = [a.split(b" ", 2)[1] for a in answers]
        assert set(statuses) <= {b"503", b"200"} and statuses.count(b"503") >= 10, answers[:3]
        assert all(b"retry-after: 5" in a.lower() for a in answers if a.split(b" ", 2)[1] == b"503")
        # What the service logged while out of descriptors (read now: the stop below may add its own lines).
        assert wait_until(lambda: "event=api_out_of_descriptors" in log.read_text(errors="replace"), timeout=10)
        text = log.read_text(encoding="utf-8", errors="replace")
    finally:
        for sock in held:
            sock.close()
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    lines = text.splitlines()
    out_of_fds = [line for line in lines if "event=api_out_of_descriptors" in line]
    assert 1 <= len(out_of_fds) <= 2, out_of_fds  # one a minute (the request path, and accept() perhaps)
    # The API's own lines (other actors may say their modem or database failed meanwhile: not this test's).
    noisy = [line for line in lines if "event=api_error" in line or "component=asyncio" in line
             or ("component=uvicorn" in line and "level=INFO" not in line)
             or ("component=laporgub.api" in line and "Traceback" in line)]
    assert not noisy, noisy[:3]
