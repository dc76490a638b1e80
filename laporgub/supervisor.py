"""The supervisor: pykka does not supervise, so we do (uvicorn's ``keep_subprocess_alive`` for actors).

It runs in the main thread. Each child has a spec (:class:`ChildSpec`: name, factory,
stop timeout) and, apart from it, its run-time state (:class:`Child`: ref, restarts,
next attempt). Every second it checks that each child is alive and answers ``ping``.
A dead child (pykka stops an actor on an unhandled exception, in ``on_start`` as in a
message) is restarted, logged and counted in ``laporgub_actor_restarts_total``, with
exponential backoff: the first restart at once, then the gaps between attempts double
from :data:`BACKOFF_MIN` up to a cap (:meth:`Supervisor.backoff`), whether the child
died starting, died later, or its factory raised. A hung child (no answer within
``hang_timeout``) cannot be killed, its thread would leak with what it holds, so the
supervisor stops feeding systemd's watchdog, which restarts the whole process; without
systemd it gives up after twice the limit. Too many restarts of one child in a window
also make it give up: the process exits non-zero and systemd's ``Restart=on-failure``
takes over. Times come from the service's clock (laporgub/clock.py), so a test drives
the backoff with a :class:`laporgub.clock.ManualClock`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from laporgub.actors._base import Directory
from laporgub.clock import SYSTEM, Clock
from laporgub.exceptions import ActorStartError
from laporgub.metrics import Metrics

logger = logging.getLogger(__name__)

#: The gap before the second restart of a child within the window; each further one doubles it.
BACKOFF_MIN = 0.5
#: The longest gap between two restarts (shorter when the restart limit needs it, see ``Supervisor.backoff``).
BACKOFF_MAX = 30.0


class SupervisorGaveUp(Exception):
    """Raised when a child keeps dying faster than the restart limit allows."""


@dataclass(frozen=True)
class ChildSpec:
    """How to start one supervised actor (fixed for the life of the service).

    Attributes:
        name: directory name (``registry``, ``modem:modem-1``, ``dispatcher:kesehatan``).
        start: starts the actor and returns its ref (``__init__`` runs in the caller's thread).
        stop_timeout: how long a clean stop may take.
    """

    name: str
    start: Callable[[], pykka.ActorRef[Any]]
    stop_timeout: float = 5.0


@dataclass
class Child:
    """One supervised actor as it runs: its spec and what the supervisor knows of it now.

    Attributes:
        ref: the running actor (None before its first start).
        restarts: clock times (monotonic) of its restarts within the window.
        pending: the outstanding ``ping`` future, if any.
        pinged_at: when that ping was sent (clock monotonic time).
        hung: reported hung and not yet recovered.
        next_attempt: no restart before this clock monotonic time (the backoff).
    """

    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None = None
    restarts: deque[float] = field(default_factory=deque)
    pending: pykka.Future[bool] | None = None
    pinged_at: float = 0.0
    hung: bool = False
    next_attempt: float = 0.0

    @property
    def name(self) -> str:
        return self.spec.name


class Supervisor:
    """Starts children in order, keeps them alive, stops them in reverse order.

    Args:
        directory: where children are registered by name.
        metrics: for restart counts.
        ping_timeout: how long a starting child may take to answer its first ``ping``.
        hang_timeout: a running child that does not answer ``ping`` within this is hung
            (longer than the longest bounded operation: a modem may take 60 s over AT+CMGS).
        max_restarts / window: more restarts of one child than this within
            ``window`` seconds -> give up.
        clock: the service's clock; its monotonic time dates restarts, backoff and pings.
    """

    def __init__(self, directory: Directory, metrics: Metrics, *, ping_timeout: float = 90.0,
                 hang_timeout: float | None = None, max_restarts: int = 10, window: float = 120.0,
                 clock: Clock = SYSTEM) -> None:
        self.directory = directory
        self.metrics = metrics
        self.ping_timeout = ping_timeout
        self.hang_timeout = ping_timeout if hang_timeout is None else hang_timeout
        self.max_restarts = max_restarts
        self.window = window
        self.clock = clock
        self.children: list[Child] = []
        self._lock = threading.Lock()

    def backoff(self, restarts: int) -> float:
        """The gap after the ``restarts``-th restart within the window before the next attempt.

        Doubles from :data:`BACKOFF_MIN`; capped at :data:`BACKOFF_MAX`, and at ``window /
        max_restarts`` so that a child in a crash loop still reaches the restart limit
        within the window (the process gives up and systemd takes over).
        """
        cap = min(BACKOFF_MAX, self.window / max(1, self.max_restarts))
        return min(cap, BACKOFF_MIN * 2 ** max(0, restarts - 1))

    def start_child(self, spec: ChildSpec) -> None:
        """Start a child now and wait until its ``on_start`` has run (ping)."""
        self.metrics.declare_actor(spec.name)
        child = Child(spec)
        self._start(child)
        with self._lock:
            self.children.append(child)

    def _start(self, child: Child, wait: bool = True) -> None:
        ref = child.spec.start()
        self.directory.register(child.name, ref)
        child.ref = ref
        if not wait:
            # A restart must not stall the supervision loop: its first ping is judged by later rounds.
            child.pending = ref.proxy().ping()
            child.pinged_at = self.clock.monotonic()
            return
        try:
            ref.proxy().ping().get(timeout=self.ping_timeout)
        except pykka.ActorDeadError:
            raise ActorStartError(f"{child.name} failed to start (its error is logged above)") from None
        except pykka.Timeout:
            raise ActorStartError(f"{child.name} did not finish starting within {self.ping_timeout:.0f} s") from None

    def check(self) -> bool:
        """One round of liveness checks; restarts what is dead (once its backoff has passed).

        Never blocks long: each child has at most one ``ping`` outstanding; a child
        busy with a slow modem command answers a little later and stays healthy; one
        whose ping has waited longer than ``hang_timeout`` is hung (see :meth:`_hung`).

        Returns:
            True when every child is alive and none is hung (the systemd watchdog is fed then).
        """
        now = self.clock.monotonic()
        with self._lock:
            children = list(self.children)
        for child in children:
            self._ping(child, now)
        deadline = time.monotonic() + 0.5  # a real wait: all answers within half a second of real time
        healthy = True
        for child in children:
            ok, problem = self._health(child, deadline)
            healthy = healthy and ok
            if problem is not None:
                child.pending = None
                if now >= child.next_attempt:
                    self._restart(child, problem, now)
        return healthy

    def _ping(self, child: Child, now: float) -> None:
        """Send a ``ping`` to a live child that has none outstanding."""
        if child.ref is not None and child.ref.is_alive() and child.pending is None:
            try:
                child.pending = child.ref.proxy().ping()
                child.pinged_at = now
            except pykka.ActorDeadError:
                child.pending = None

    def _health(self, child: Child, deadline: float) -> tuple[bool, str | None]:
        """(healthy, why it must be restarted or None) of one child, waiting for its ping until ``deadline``."""
        if child.ref is None or not child.ref.is_alive():
            return False, "dead"
        if child.pending is None:
            return True, None
        try:
            child.pending.get(timeout=max(0.0, deadline - time.monotonic()))
        except pykka.Timeout:
            return not self._hung(child), None
        except pykka.ActorDeadError:
            return False, "dead"
        except Exception as exc:  # ping itself failed: treat as dead
            return False, f"ping failed: {exc}"
        child.pending = None
        if child.hung:
            child.hung = False
            logger.warning("event=actor_recovered actor=%s", child.name)
        return True, None

    def _hung(self, child: Child) -> bool:
        """Whether a child whose ping is unanswered has waited past ``hang_timeout`` (busy is not hung).

        A thread cannot be killed: restarting in-process would leak it with whatever it
        holds (a serial port). The caller stops feeding the watchdog so systemd restarts
        the process; without systemd, this gives up after twice the limit.
        """
        waited = self.clock.monotonic() - child.pinged_at
        if waited <= self.hang_timeout:
            return False
        if not child.hung:
            child.hung = True
            logger.error("event=actor_hung actor=%s waited_seconds=%.0f", child.name, waited)
        if waited > 2 * self.hang_timeout:
            logger.critical("event=supervisor_gave_up actor=%s reason=hung", child.name)
            raise SupervisorGaveUp(f"{child.name} hung for {waited:.0f} s") from None
        return True

    def _restart(self, child: Child, problem: str, now: float) -> None:
        while child.restarts and now - child.restarts[0] > self.window:
            child.restarts.popleft()
        if len(child.restarts) >= self.max_restarts:
            logger.critical("event=supervisor_gave_up actor=%s restarts=%s window_seconds=%.0f",
                            child.name, len(child.restarts), self.window)
            raise SupervisorGaveUp(f"{child.name} restarted {len(child.restarts)} times in {self.window:.0f} s")
        child.restarts.append(now)
        delay = self.backoff(len(child.restarts))
        child.next_attempt = now + delay
        logger.error("event=actor_restart actor=%s reason=%s backoff_seconds=%.1f", child.name, problem, delay)
        if child.ref is not None and child.ref.is_alive():
            try:
                child.ref.stop(block=True, timeout=child.spec.stop_timeout)
            except pykka.Timeout:
                logger.error("event=actor_stop_timeout actor=%s (left running, replaced)", child.name)
        self.metrics.actor_restarts.labels(actor=child.name).inc()
        try:
            self._start(child, wait=False)
        except Exception as exc:
            logger.error("event=actor_start_failed actor=%s error=%s", child.name, exc)

    def all_alive(self) -> bool:
        with self._lock:
            return all(c.ref is not None and c.ref.is_alive() for c in self.children)

    def stop_all(self, deadline: float) -> None:
        """Stop children in reverse start order, each bounded by the time left."""
        with self._lock:
            children = list(reversed(self.children))
        for child in children:
            self.stop_child(child, deadline)

    def stop_child(self, child: Child, deadline: float) -> None:
        ref = child.ref
        if ref is None:
            return
        self.directory.unregister(child.name)
        if ref.is_alive():
            try:
                ref.stop(block=True, timeout=max(0.1, min(child.spec.stop_timeout, deadline - time.monotonic())))
            except pykka.Timeout:
                logger.error("event=actor_stop_timeout actor=%s", child.name)
