"""The supervisor: pykka does not supervise, so we do (uvicorn's ``keep_subprocess_alive`` for actors).

It runs in the main thread. Each child has a spec (name + factory). Every
second it checks that each child is alive and answers ``ping``. A dead child
(pykka stops an actor on an unhandled exception) is restarted with exponential
backoff, logged and counted in ``laporgub_actor_restarts_total``. A hung child
(no answer within ``hang_timeout``) cannot be killed, its thread would leak
with what it holds, so the supervisor stops feeding systemd's watchdog, which
restarts the whole process; without systemd it gives up after twice the limit.
Too many restarts of one child in a window also make it give up: the process
exits non-zero and systemd's ``Restart=on-failure`` takes over.
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
from laporgub.exceptions import ActorStartError
from laporgub.metrics import Metrics

logger = logging.getLogger(__name__)


class SupervisorGaveUp(Exception):
    """Raised when a child keeps dying faster than the restart limit allows."""


@dataclass
class ChildSpec:
    """How to start one supervised actor.

    Attributes:
        name: directory name (``registry``, ``modem:modem-1``, ``dispatcher:kesehatan``).
        start: starts the actor and returns its ref (``__init__`` runs in the caller's thread).
        stop_timeout: how long a clean stop may take.
    """

    name: str
    start: Callable[[], pykka.ActorRef[Any]]
    stop_timeout: float = 5.0
    ref: pykka.ActorRef[Any] | None = None
    restarts: deque[float] = field(default_factory=deque)
    pending: pykka.Future[bool] | None = None  # the outstanding ping future, if any
    pinged_at: float = 0.0
    hung: bool = False
    next_start: float = 0.0
    backoff: float = 0.5


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
    """

    def __init__(self, directory: Directory, metrics: Metrics, *, ping_timeout: float = 90.0,
                 hang_timeout: float | None = None, max_restarts: int = 10, window: float = 120.0) -> None:
        self.directory = directory
        self.metrics = metrics
        self.ping_timeout = ping_timeout
        self.hang_timeout = ping_timeout if hang_timeout is None else hang_timeout
        self.max_restarts = max_restarts
        self.window = window
        self.children: list[ChildSpec] = []
        self._lock = threading.Lock()

    def start_child(self, spec: ChildSpec) -> None:
        """Start a child now and wait until its ``on_start`` has run (ping)."""
        self.metrics.declare_actor(spec.name)
        self._start(spec)
        with self._lock:
            self.children.append(spec)

    def _start(self, spec: ChildSpec, wait: bool = True) -> None:
        ref = spec.start()
        self.directory.register(spec.name, ref)
        spec.ref = ref
        if not wait:
            # A restart must not stall the supervision loop: its first ping is judged by later rounds.
            spec.pending = ref.proxy().ping()
            spec.pinged_at = time.monotonic()
            return
        try:
            ref.proxy().ping().get(timeout=self.ping_timeout)
        except pykka.ActorDeadError:
            raise ActorStartError(f"{spec.name} failed to start (its error is logged above)") from None
        except pykka.Timeout:
            raise ActorStartError(f"{spec.name} did not finish starting within {self.ping_timeout:.0f} s") from None

    def check(self) -> bool:
        """One round of liveness checks; restarts what is dead or hung.

        Never blocks long: each child has at most one ``ping`` outstanding; a child
        busy with a slow modem command answers a little later and stays healthy; one
        whose ping has waited longer than ``hang_timeout`` is hung and restarted.

        Returns:
            True when every child is alive and none is hung (the systemd watchdog is fed then).
        """
        healthy = True
        now = time.monotonic()
        with self._lock:
            children = list(self.children)
        for spec in children:
            if spec.ref is not None and spec.ref.is_alive() and spec.pending is None:
                try:
                    spec.pending = spec.ref.proxy().ping()
                    spec.pinged_at = now
                except pykka.ActorDeadError:
                    spec.pending = None
        deadline = time.monotonic() + 0.5
        for spec in children:
            problem = None
            if spec.ref is None or not spec.ref.is_alive():
                problem = "dead"
            elif spec.pending is not None:
                try:
                    spec.pending.get(timeout=max(0.0, deadline - time.monotonic()))
                    spec.pending = None
                    if spec.hung:
                        spec.hung = False
                        logger.warning("event=actor_recovered actor=%s", spec.name)
                except pykka.Timeout:
                    waited = time.monotonic() - spec.pinged_at
                    if waited > self.hang_timeout:
                        # A thread cannot be killed: restarting in-process would leak it with
                        # whatever it holds (a serial port). Stop feeding the watchdog so systemd
                        # restarts the process; without systemd, give up after twice the limit.
                        healthy = False
                        if not spec.hung:
                            spec.hung = True
                            logger.error("event=actor_hung actor=%s waited_seconds=%.0f", spec.name, waited)
                        if waited > 2 * self.hang_timeout:
                            logger.critical("event=supervisor_gave_up actor=%s reason=hung", spec.name)
                            raise SupervisorGaveUp(f"{spec.name} hung for {waited:.0f} s") from None
                    continue
                except pykka.ActorDeadError:
                    problem = "dead"
                except Exception as exc:  # ping itself failed: treat as dead
                    problem = f"ping failed: {exc}"
            if problem is None:
                continue
            healthy = False
            spec.pending = None
            if now < spec.next_start:
                continue
            self._restart(spec, problem, now)
        return healthy

    def _restart(self, spec: ChildSpec, problem: str, now: float) -> None:
        while spec.restarts and now - spec.restarts[0] > self.window:
            spec.restarts.popleft()
        if len(spec.restarts) >= self.max_restarts:
            logger.critical("event=supervisor_gave_up actor=%s restarts=%s window_seconds=%.0f",
                            spec.name, len(spec.restarts), self.window)
            raise SupervisorGaveUp(f"{spec.name} restarted {len(spec.restarts)} times in {self.window:.0f} s")
        logger.error("event=actor_restart actor=%s reason=%s backoff_seconds=%.1f", spec.name, problem, spec.backoff)
        if spec.ref is not None and spec.ref.is_alive():
            try:
                spec.ref.stop(block=True, timeout=spec.stop_timeout)
            except pykka.Timeout:
                logger.error("event=actor_stop_timeout actor=%s (left running, replaced)", spec.name)
        spec.restarts.append(now)
        self.metrics.actor_restarts.labels(actor=spec.name).inc()
        try:
            self._start(spec, wait=False)
            spec.backoff = 0.5
        except Exception as exc:
            logger.error("event=actor_start_failed actor=%s error=%s", spec.name, exc)
            spec.next_start = now + spec.backoff
            spec.backoff = min(30.0, spec.backoff * 2)

    def all_alive(self) -> bool:
        with self._lock:
            return all(s.ref is not None and s.ref.is_alive() for s in self.children)

    def stop_all(self, deadline: float) -> None:
        """Stop children in reverse start order, each bounded by the time left."""
        with self._lock:
            children = list(reversed(self.children))
        for spec in children:
            self.stop_child(spec, deadline)

    def stop_child(self, spec: ChildSpec, deadline: float) -> None:
        ref = spec.ref
        if ref is None:
            return
        self.directory.unregister(spec.name)
        if ref.is_alive():
            try:
                ref.stop(block=True, timeout=max(0.1, min(spec.stop_timeout, deadline - time.monotonic())))
            except pykka.Timeout:
                logger.error("event=actor_stop_timeout actor=%s", spec.name)
