"""What every LaporGub actor shares: ping, addressing by name, timers, its database
connection and the dispatch of its messages.

Actors address each other by name through a :class:`Directory` rather than
holding each other's refs: when the supervisor restarts a dead actor, the name
points at the new one and senders never talk to a corpse. The names themselves
are built in one place, :mod:`laporgub.actor_names`.

The plumbing every actor used to repeat lives here: an actor that sets
``uses_database`` gets its thread's connection opened in ``on_start`` (subclasses
call ``super().on_start()`` first) and closed after its ``release``; its messages
go to the methods marked ``@handles(MessageType)``, one table per class built when
the class is defined, and anything else is logged as ``event=unknown_message``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import pykka

from laporgub import db
from laporgub.clock import SYSTEM, Clock

logger = logging.getLogger(__name__)


class Directory:
    """Thread-safe map from actor names to their current refs.

    Rule (Mopidy's ``listener.py``): events travel with ``tell`` only. An actor
    that blocked on ``ask`` to a peer which asks back would deadlock; and a
    lost ``tell`` costs nothing here, because every hand-off is also in the
    database and each actor sweeps it on start and on its timer.
    """

    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()

    def register(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            self._refs[name] = ref

    def unregister(self, name: str) -> None:
        with self._lock:
            self._refs.pop(name, None)

    def get(self, name: str) -> pykka.ActorRef[Any] | None:
        with self._lock:
            return self._refs.get(name)

    def names(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [n for n in self._refs if n.startswith(prefix)]

    def tell(self, name: str, message: object) -> bool:
        """Send ``message`` to the actor called ``name``; False if it is not running.

        Never raises: the message is also recoverable from the database.
        """
        ref = self.get(name)
        if ref is None:
            logger.debug("event=tell_dropped actor=%s message=%s reason=absent", name, type(message).__name__)
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            logger.debug("event=tell_dropped actor=%s message=%s reason=dead", name, type(message).__name__)
            return False
        return True


class Scheduler:
    """One thread that ``tell``s actors their timed messages (pykka has no timers)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, pykka.ActorRef[Any], object]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, ref: pykka.ActorRef[Any], message: object) -> None:
        """Tell ``message`` to ``ref`` after ``delay`` seconds (any thread)."""
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._counter), ref, message))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, ref, message = heapq.heappop(self._heap)
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                pass  # the actor stopped; its successor schedules its own timers


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def handles(*message_types: type) -> Callable[[_Handler], _Handler]:
    """Mark an actor method as the handler of ``message_types`` (see :class:`LaporgubActor`)."""

    def mark(method: _Handler) -> _Handler:
        method._laporgub_handles = message_types  # type: ignore[attr-defined]
        return method

    return mark


class LaporgubActor(pykka.ThreadingActor):
    """Base of every LaporGub actor: ``ping`` for the supervisor, timers, failure logging,
    the database connection and message dispatch.

    Subclasses get ``self.directory``, ``self.scheduler`` and ``self.clock`` from the app.
    """

    #: Name under which the actor is registered in the Directory.
    actor_name: str = "actor"
    #: A thread stuck in I/O must not keep the process alive past the stop budget;
    #: everything that matters is already in the database.
    use_daemon_thread = True
    #: Open this thread's database connection in ``on_start``, close it after ``release``
    #: (peewee keeps one connection per thread).
    uses_database: ClassVar[bool] = False
    #: Message type -> name of the method marked ``@handles`` for it (this class and its bases).
    _handlers: ClassVar[dict[type, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers = dict(cls._handlers)
        for name, attr in vars(cls).items():
            for message_type in getattr(attr, "_laporgub_handles", ()):
                handlers[message_type] = name
        cls._handlers = handlers

    def __init__(self, *, directory: Directory, scheduler: Scheduler, clock: Clock = SYSTEM) -> None:
        super().__init__()
        self.directory = directory
        self.scheduler = scheduler
        #: The service's one clock (wall and monotonic time); tests pin the date through it.
        self.clock = clock

    def on_start(self) -> None:
        if self.uses_database:
            db.database.connect(reuse_if_open=True)

    def on_receive(self, message: Any) -> Any:
        """Hand ``message`` to the method marked ``@handles`` for its type."""
        for message_type in type(message).__mro__:
            name = self._handlers.get(message_type)
            if name is not None:
                return getattr(self, name)(message)
        # Logged under the actor's own module, so ``[service.log_levels]`` of its component applies.
        logging.getLogger(type(self).__module__).warning(
            "event=unknown_message actor=%s message=%r", self.actor_name, type(message).__name__)
        return None

    def ping(self) -> bool:
        """Answer the supervisor's liveness check (runs in the actor's thread)."""
        return True

    def schedule(self, delay: float, message: object) -> None:
        """Tell ourselves ``message`` after ``delay`` seconds."""
        self.scheduler.call_later(delay, self.actor_ref, message)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        logger.error(
            "event=actor_failed actor=%s error=%s",
            self.actor_name,
            f"{getattr(exception_type, '__name__', exception_type)}: {exception_value}",
        )
        self._release_all()

    def on_stop(self) -> None:
        self._release_all()

    def _release_all(self) -> None:
        self.release()
        if self.uses_database and not db.database.is_closed():
            db.database.close()

    def release(self) -> None:
        """Free the subclass's resources; called from ``on_stop`` and ``on_failure`` (pykka runs
        only one), before the database connection is closed."""
