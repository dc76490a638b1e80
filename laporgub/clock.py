"""The one clock the service is built with: wall time and monotonic time, apart.

Everything that reads the time gets it from the :class:`Clock` handed to it
(actors, intake, follow-ups, reports, the API, leases). Wall time
(:meth:`Clock.time`, epoch seconds) dates things: ticket numbers, stage
timestamps, the report's month, retention. Monotonic time
(:meth:`Clock.monotonic`) measures intervals: pacing, timeouts, rate limits.
Keeping them apart lets a test put the service at 00:05 WIB on the 1st of a
month (:class:`ShiftedClock`) while its waits and timeouts run in real time,
or drive both by hand (:class:`ManualClock`).

A test (``tests/test_clock_discipline.py``) fails when a module outside this
one reads ``time.time()``, ``datetime.now()`` or ``date.today()`` itself.
Real waits (an I/O timeout, the stop budget, a start-up deadline) may read
``time.monotonic()`` directly: they measure the machine, not the service's day.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, tzinfo


class Clock:
    """The real clock: the system's wall time and monotonic time."""

    def time(self) -> float:
        """Wall time, epoch seconds (UTC)."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        return time.monotonic()

    def now(self, tz: tzinfo) -> datetime:
        """The wall time as an aware datetime in ``tz``."""
        return datetime.fromtimestamp(self.time(), tz)

    def __call__(self) -> float:
        # Older call sites take a ``Callable[[], float]`` for wall time.
        return self.time()


#: The system clock; the default wherever no clock is passed.
SYSTEM = Clock()


def parse_since(text: str, now: float, tz: tzinfo) -> float | None:
    """``30d``, ``12h``, ``45m`` back from ``now``, or ``2026-01-31`` or an ISO time -> epoch seconds.

    None when it is neither. A date or time without an offset is in ``tz`` (the service's time
    zone). What every ``--since`` of the command line takes (``audit``, ``webhooks replay``,
    ``suggest-keywords``).
    """
    text = text.strip()
    m = re.fullmatch(r"(\d+)\s*([dhm])", text)
    if m:
        return now - int(m.group(1)) * {"d": 86400, "h": 3600, "m": 60}[m.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.timestamp()


class ShiftedClock(Clock):
    """Real time moved to start at ``start`` (epoch seconds): dates are pinned, durations real.

    Wall time starts at ``start`` when the clock is made and advances with the
    monotonic clock; :meth:`monotonic` is the real one, so waits, timeouts and
    pacing behave exactly as in production.
    """

    def __init__(self, start: float) -> None:
        self._offset = start - time.monotonic()

    def time(self) -> float:
        return time.monotonic() + self._offset

    def jump(self, seconds: float) -> None:
        """Move wall time by ``seconds`` (forward or back); monotonic time is untouched."""
        self._offset += seconds

    def set(self, wall: float) -> None:
        """Make the wall time ``wall`` now; it goes on from there."""
        self._offset = wall - time.monotonic()


class ManualClock(Clock):
    """A clock that moves only when told to (unit tests of time-driven logic)."""

    def __init__(self, start: float, monotonic_start: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._wall = float(start)
        self._mono = float(monotonic_start)

    def time(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def set(self, wall: float) -> None:
        """Set the wall time (a jump; monotonic time is untouched)."""
        with self._lock:
            self._wall = float(wall)
