"""systemd's notify protocol (sd_notify(3)) in a few lines over ``$NOTIFY_SOCKET``.

No dependency: ``sdnotify`` (last release 2017) swallows errors, and
``systemd-python`` needs libsystemd headers. Outside systemd (no
``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time

logger = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``"READY=1\\nSTATUS=..."``) to systemd; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        logger.warning("event=sd_notify_failed error=%s", exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WatchdogSec``), or None when no watchdog is asked of us."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 / 2 if value > 0 else None


class Notifier:
    """What the supervisor loop tells systemd: READY once, WATCHDOG while healthy, STATUS on change."""

    def __init__(self, clock: object = time.monotonic) -> None:
        self.clock = clock
        self.interval = watchdog_interval()
        self._last_ping = 0.0
        self._status = ""
        self.ready_sent = False

    def ready(self, status: str) -> None:
        if not self.ready_sent:
            self.ready_sent = True
            self._status = status
            notify(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            notify(f"STATUS={status}")

    def healthy(self) -> None:
        """Called after a supervision round in which every actor answered."""
        if self.interval is None:
            return
        now = self.clock()  # type: ignore[operator]
        if now - self._last_ping >= self.interval:
            self._last_ping = now
            notify("WATCHDOG=1")

    def reloading(self) -> None:
        notify("RELOADING=1")

    def reloaded(self, status: str) -> None:
        self._status = status
        notify(f"READY=1\nSTATUS={status}")

    def stopping(self) -> None:
        notify("STOPPING=1\nSTATUS=stopping")
