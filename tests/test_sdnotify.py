"""sd_notify under a harness of our own: READY after the modem is initialised, WATCHDOG while healthy, STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from laporgub import sdnotify
from tests.conftest import TOKEN, TOKEN_ENV, make_config_data, write_config

ROOT = Path(__file__).resolve().parent.parent


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket; records (time, message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.seen: list[tuple[float, str]] = []

    def collect(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.seen.append((time.monotonic(), data.decode()))

    def wait_for(self, prefix: str, timeout: float) -> tuple[float, str] | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for item in self.seen:
                if any(line.startswith(prefix) for line in item[1].splitlines()):
                    return item
            self.collect(0.1)
        return None

    def count(self, prefix: str, since: float) -> int:
        return sum(1 for t, m in self.seen if t >= since and any(x.startswith(prefix) for x in m.splitlines()))


def test_notify_is_a_no_op_outside_systemd(monkeypatch: Any) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")  # someone else's watchdog
    assert sdnotify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 15.0


def test_ready_watchdog_status_hang_and_stopping(tmp_path: Path, modem: Any, botapi: Any) -> None:
    data = make_config_data(tmp_path, [modem.port], botapi.base_url, sweep=0.5)
    data["service"]["actor_hang_seconds"] = 5
    data["modems"][0]["command_timeout_seconds"] = 20
    config = write_config(tmp_path / "config.toml", data)
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {**os.environ, TOKEN_ENV: TOKEN, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}
    env.pop("WATCHDOG_PID", None)
    log = open(tmp_path / "service.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "laporgub", "run", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        ready = notify.wait_for("READY=1", timeout=30)
        assert ready is not None, (tmp_path / "service.log").read_text()
        # READY only once the modem is initialised.
        assert any(c.startswith("AT+CNMI") for c in modem.commands)
        assert "STATUS=ready: modems 1/1 up" in ready[1]
        start = time.monotonic()
        notify.collect(3.5)
        assert notify.count("WATCHDOG=1", start) >= 2

        modem.set_hung(True)  # the modem actor now blocks in a command for 20 s: a hung actor
        notify.collect(6.0)  # the supervisor notices after actor_hang_seconds
        quiet_from = time.monotonic()
        notify.collect(2.0)
        assert notify.count("WATCHDOG=1", quiet_from) == 0
        assert "event=actor_hung actor=modem:modem-1" in (tmp_path / "service.log").read_text()

        proc.send_signal(signal.SIGTERM)
        assert notify.wait_for("STOPPING=1", timeout=10) is not None
        assert proc.wait(15) == 0
    finally:
        modem.set_hung(False)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        notify.sock.close()
