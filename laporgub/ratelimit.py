"""Telegram's flood limits, as one shared limiter: plain code, no threads of its own.

Telegram allows a bot about 30 messages a second overall, about 20 a minute
into one group or channel (counted as a sliding window: a burst of 20 can earn
a ``retry_after`` of up to a minute), and about one a second into a private
chat. Past that it answers 429 with ``retry_after``, and nothing may go to that
chat before it expires. Every sender (the group dispatchers, the responder's
answers, the report) reserves a slot here before its request.

aiolimiter (what PTB's AIORateLimiter uses) is a leaky bucket that lets a
burst of 20 through at once and has no per-private-chat limit and no notion of
"not before" for one chat, so the windows are kept here, exactly.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits enforced; Telegram's defaults."""

    overall_per_second: int = 30
    group_per_minute: int = 20
    group_window_seconds: float = 60.0
    private_per_second: int = 1
    private_window_seconds: float = 1.0


def is_group(chat_id: int | str) -> bool:
    """Groups, supergroups and channels have negative ids (or an ``@name``)."""
    return isinstance(chat_id, str) or chat_id < 0


class RateLimiter:
    """Sliding windows per chat and overall, plus per-chat ``retry_after`` blocks. Thread-safe.

    Args:
        limits: the windows.
        clock: monotonic seconds (tests inject a fake one).
    """

    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        self._lock = threading.Lock()
        self._overall: deque[float] = deque()
        self._chats: dict[int | str, deque[float]] = {}
        self._blocked_until: dict[int | str, float] = {}

    def _window(self, chat_id: int | str) -> tuple[int, float]:
        if is_group(chat_id):
            return self.limits.group_per_minute, self.limits.group_window_seconds
        return self.limits.private_per_second, self.limits.private_window_seconds

    def delay(self, chat_id: int | str) -> float:
        """Seconds to wait before a message to ``chat_id`` is allowed (0 = now). Reserves nothing."""
        with self._lock:
            return self._delay(chat_id, self.clock())

    def _delay(self, chat_id: int | str, now: float) -> float:
        wait = max(0.0, self._blocked_until.get(chat_id, 0.0) - now)
        count, window = self._window(chat_id)
        sent = self._chats.get(chat_id)
        if sent:
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) >= count:
                wait = max(wait, sent[len(sent) - count] + window - now)
        while self._overall and self._overall[0] <= now - 1.0:
            self._overall.popleft()
        if len(self._overall) >= self.limits.overall_per_second:
            wait = max(wait, self._overall[len(self._overall) - self.limits.overall_per_second] + 1.0 - now)
        return wait

    def try_acquire(self, chat_id: int | str) -> float:
        """Reserve a slot now if allowed and return 0; else return the seconds to wait (nothing reserved)."""
        with self._lock:
            now = self.clock()
            wait = self._delay(chat_id, now)
            if wait > 0:
                return wait
            self._chats.setdefault(chat_id, deque()).append(now)
            self._overall.append(now)
            return 0.0

    def acquire(self, chat_id: int | str, timeout: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Block until a slot is reserved (True) or ``timeout`` passes (False)."""
        deadline = self.clock() + timeout
        while True:
            wait = self.try_acquire(chat_id)
            if wait == 0:
                return True
            if self.clock() + wait > deadline:
                return False
            sleep(min(wait, 0.5))

    def block(self, chat_id: int | str, seconds: float) -> None:
        """Telegram said ``retry_after``: nothing goes to this chat before it expires."""
        with self._lock:
            until = self.clock() + seconds
            self._blocked_until[chat_id] = max(self._blocked_until.get(chat_id, 0.0), until)

    def blocked_for(self, chat_id: int | str) -> float:
        """Seconds left of a ``retry_after`` block on ``chat_id``."""
        with self._lock:
            return max(0.0, self._blocked_until.get(chat_id, 0.0) - self.clock())
