"""The supervisor's backoff, measured on a clock the test moves (laporgub/supervisor.py)."""

from __future__ import annotations

import time
from typing import Any

import pykka
import pytest

from laporgub.actors._base import Directory, LaporgubActor, Scheduler
from laporgub.clock import ManualClock
from laporgub.metrics import Metrics
from laporgub.supervisor import BACKOFF_MAX, BACKOFF_MIN, ChildSpec, Supervisor, SupervisorGaveUp

STEP = 0.25  # the test's supervision round, in seconds of the manual clock


def _metrics() -> Metrics:
    return Metrics({"register": 9, "filter": 27, "notify": 9, "deliver": 3}, [], [])


def test_an_actor_that_dies_in_on_start_is_restarted_with_doubling_gaps_up_to_the_cap() -> None:
    # It starts once, then dies of a message; every later start fails in on_start (a database that
    # went away, say). Before, it was restarted at every round (each second); now the attempts are
    # 0.5, 1, 2, 4 s apart, then the cap, until the limit of restarts in the window is reached.
    clock = ManualClock(0.0, monotonic_start=0.0)
    directory = Directory()
    scheduler = Scheduler()
    metrics = _metrics()
    supervisor = Supervisor(directory, metrics, ping_timeout=2, max_restarts=8, window=40, clock=clock)
    assert supervisor.backoff(1) == BACKOFF_MIN and supervisor.backoff(99) == 5.0  # 40 s / 8 restarts
    attempts: list[float] = []

    class Fails(LaporgubActor):
        actor_name = "fails"

        def on_start(self) -> None:
            if len(attempts) > 1:
                raise RuntimeError("cannot start (injected)")

        def on_receive(self, message: Any) -> Any:
            raise RuntimeError("poison (injected)")

    def start() -> pykka.ActorRef[Any]:
        attempts.append(clock.monotonic())
        return Fails.start(directory=directory, scheduler=scheduler)

    supervisor.start_child(ChildSpec("fails", start))
    directory.tell("fails", "poison")
    try:
        with pytest.raises(SupervisorGaveUp, match="fails restarted 8 times in 40 s"):
            for _ in range(400):
                ref = directory.get("fails")
                deadline = time.monotonic() + 5
                while ref is not None and ref.is_alive() and time.monotonic() < deadline:
                    time.sleep(0.005)
                supervisor.check()
                clock.advance(STEP)
        gaps = [b - a for a, b in zip(attempts[1:], attempts[2:])]
        assert gaps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
        assert clock.monotonic() == attempts[-1] + 5.0  # gave up in the round the next attempt was due
        assert metrics.value("laporgub_actor_restarts_total", actor="fails") == 8
    finally:
        supervisor.stop_all(time.monotonic() + 2)
        scheduler.stop()


def test_the_default_backoff_still_reaches_the_restart_limit_within_the_window() -> None:
    supervisor = Supervisor(Directory(), _metrics(), clock=ManualClock(0.0))
    gaps = [supervisor.backoff(n) for n in range(1, supervisor.max_restarts)]
    assert gaps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and max(gaps) <= BACKOFF_MAX
    assert sum(gaps) < supervisor.window  # a crash loop ends in a give-up (systemd restarts the process)


def test_a_restart_long_after_the_last_one_is_at_once_and_the_backoff_starts_again() -> None:
    clock = ManualClock(0.0, monotonic_start=0.0)
    directory = Directory()
    scheduler = Scheduler()
    supervisor = Supervisor(directory, _metrics(), ping_timeout=2, max_restarts=3, window=10, clock=clock)
    attempts: list[float] = []

    class Dies(LaporgubActor):
        actor_name = "dies"

        def on_receive(self, message: Any) -> Any:
            raise RuntimeError("poison (injected)")

    def start() -> pykka.ActorRef[Any]:
        attempts.append(clock.monotonic())
        return Dies.start(directory=directory, scheduler=scheduler)

    def kill_and_check() -> None:
        ref = directory.get("dies")
        assert ref is not None
        ref.tell("poison")
        deadline = time.monotonic() + 5
        while ref.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        supervisor.check()

    supervisor.start_child(ChildSpec("dies", start))
    try:
        kill_and_check()
        clock.advance(0.5)
        kill_and_check()
        clock.advance(60)  # both restarts are out of the window now
        kill_and_check()
        assert attempts == [0.0, 0.0, 0.5, 60.5]
        assert supervisor.children[0].next_attempt == 60.5 + 0.5
    finally:
        supervisor.stop_all(time.monotonic() + 2)
        scheduler.stop()
