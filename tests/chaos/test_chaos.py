"""Chaos: `laporgub run` under a stream of SMS while faults are injected at random; nothing may be lost.

Each test is one seeded run (seed printed; replay with ``LAPORGUB_CHAOS_SEED``),
split so pytest-xdist spreads them over its workers. ``LAPORGUB_SOAK_SECONDS``
(or ``pytest tests/chaos --soak=SECONDS``) makes every run stream that much
longer. What is checked after each run: :meth:`ChaosRun.verify`.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import ChaosRun, chaos_seed, soak_seconds

SOAK = soak_seconds()
pytestmark = pytest.mark.timeout(240 + 3 * SOAK)


@pytest.fixture()
def chaos(tmp_path: Path) -> Iterator[Callable[..., ChaosRun]]:
    runs: list[ChaosRun] = []

    def make(seed: int, **kwargs: object) -> ChaosRun:
        run = ChaosRun(tmp_path, chaos_seed(seed), **kwargs)  # type: ignore[arg-type]
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


def begin(run: ChaosRun) -> None:
    run.start_service()
    assert run.wait_ready(60), "".join(run.proc.lines[-30:]) if run.proc else "no process"
    run.start_background()


def end(run: ChaosRun, *, strict_once: bool = False) -> None:
    assert run.settle(), f"seed {run.seed}: not settled: {run.state()}; events: {run.events}"
    assert run.finish() == 0, "".join(run.proc.lines[-30:]) if run.proc else ""
    run.verify(strict_once=strict_once)


def until(run: ChaosRun, seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds + SOAK
    return lambda: time.monotonic() < deadline


@pytest.mark.parametrize("seed", [1101, 1102])
def test_sigkill_and_restart_cycles(chaos: Callable[..., ChaosRun], seed: int) -> None:
    """The whole service killed with SIGKILL at random moments (start-up included), 10 times per run
    (20 in the CI run)."""
    run = chaos(seed)
    begin(run)
    rng = run.rng
    cycles = 10 + int(SOAK / 2)
    for _ in range(cycles):
        time.sleep(rng.uniform(0.2, 1.4))
        run.kill()
        time.sleep(rng.uniform(0.0, 0.5))
        run.restart()
    end(run)
    assert run.figures.faults["sigkill"] == cycles
    assert run.figures.accepted >= 15


def test_actor_killed_from_inside(chaos: Callable[..., ChaosRun]) -> None:
    """Actors die of an unhandled exception (tests/chaos/faults.py); the supervisor restarts each one."""
    run = chaos(1201)
    begin(run)
    rng = run.rng
    running = until(run, 8)
    killed: list[str] = []
    while running():
        time.sleep(rng.uniform(0.7, 1.5))
        name = rng.choice(run.actor_names())
        run.kill_actor(name)
        killed.append(name)
    assert run.settle(), run.state()
    log = "".join(run.proc.lines) if run.proc else ""
    for name in set(killed):
        assert f"event=fault_injected actor={name} result=told" in log, name
        assert f"event=actor_restart actor={name} reason=dead" in log, name
    assert "event=supervisor_gave_up" not in log
    end(run)


def test_modem_ports_vanish_and_return(chaos: Callable[..., ChaosRun]) -> None:
    """USB modems unplugged and plugged back (one or both), once while the service is being killed."""
    run = chaos(1301, modems=2)
    begin(run)
    rng = run.rng
    running = until(run, 8)
    rounds = 0
    while running() or rounds < 3:
        time.sleep(rng.uniform(0.5, 2.0))
        dropped = rng.sample(run.modems, rng.choice([1, 1, 2]))
        for modem in dropped:
            modem.drop_port()
            run.note("modem_port_dropped")
        if rounds == 1:
            run.kill()
            time.sleep(rng.uniform(0.2, 1.0))
            run.restart()
        time.sleep(rng.uniform(1.0, 3.0))
        for modem in dropped:
            modem.restore_port()
        rounds += 1
    end(run)
    assert run.figures.faults["modem_port_dropped"] >= 3


def test_telegram_429_5xx_and_silence_longer_than_the_sla(chaos: Callable[..., ChaosRun]) -> None:
    """The Bot API answers 429, 500, 502 (down) or closes the connection unanswered, for longer than 9 s.

    No crash and no lost answer here, so every notification must arrive exactly once.
    """
    run = chaos(1401)
    begin(run)
    rng = run.rng
    api = run.botapi
    api.set_down(True)  # first, silence past the 9 s notify SLA (502 from the proxy in front of it)
    run.note("telegram_down")
    time.sleep(9.5)
    api.set_down(False)
    running = until(run, 3)
    while running():
        fault = rng.choice(["429", "500", "down", "drop"])
        if fault == "429":
            api.fail_next("sendMessage", status=429, retry_after=rng.randint(2, 8), times=rng.randint(1, 4))
        elif fault == "500":
            api.fail_next("sendMessage", status=rng.choice([500, 502, 504]), times=rng.randint(2, 8))
        elif fault == "down":
            api.set_down(True)
        else:
            api.drop_connections(times=rng.randint(2, 8), method="sendMessage")
        run.note(f"telegram_{fault}")
        time.sleep(rng.uniform(1.0, 2.0))
        api.set_down(False)
    end(run, strict_once=True)
    assert sum(1 for r in api.requests if r.status in (0, 429, 500, 502, 504)) >= 5  # the faults were met


def test_database_locked_by_another_process(chaos: Callable[..., ChaosRun]) -> None:
    """Another process holds BEGIN EXCLUSIVE on the SQLite file, sometimes past the 10 s busy timeout;
    once the service is killed and restarted while the lock is held."""
    run = chaos(1501)
    begin(run)
    rng = run.rng
    running = until(run, 6)
    rounds = 0
    while running() or rounds < 2:
        time.sleep(rng.uniform(0.5, 1.5))
        # The first lock outlasts the 10 s busy timeout (writes fail); later ones are shorter.
        locker = run.lock_database(rng.uniform(10.5, 12.0) if rounds == 0 else rng.uniform(1.0, 4.0))
        if rounds == 1:
            run.kill()
            run.restart()  # starts against a locked database: may fail and be restarted like systemd would
        locker.wait(30)
        rounds += 1
    end(run)
    assert run.figures.faults["database_locked"] >= 2


def test_disk_full_keeps_sms_on_the_modem(chaos: Callable[..., ChaosRun]) -> None:
    """Writes fail (RLIMIT_FSIZE lowered on the running process, SIGXFSZ ignored): the SMS stays on the
    modem until it can be stored. The limit is lifted live, or by a restart without it; once the
    service is even started with the disk full."""
    run = chaos(1601)
    begin(run)
    rng = run.rng
    assert run.proc is not None
    running = until(run, 6)
    rounds = 0
    while running() or rounds < 2:
        time.sleep(rng.uniform(0.5, 1.5))
        limit = rng.choice([0, 4096, 32768, 131072])
        if rounds == 1:
            run.kill()
            run.restart(fsize=limit)  # start-up with a full disk
        else:
            run.proc.set_fsize(limit)
        run.note(f"disk_full:{limit}")
        time.sleep(rng.uniform(2.0, 5.0))
        if rounds == 1 or rng.random() < 0.5:
            run.kill()
            run.restart()  # the limit goes with the process
        else:
            run.proc.set_fsize(resource.RLIM_INFINITY)  # RLIM_INFINITY: space freed while it runs
        rounds += 1
    end(run)
    assert sum(v for k, v in run.figures.faults.items() if k.startswith("disk_full")) >= 2


@pytest.mark.skipif(not SOAK, reason="soak only (LAPORGUB_SOAK_SECONDS or --soak): each fault has its own CI test "
                                     "above; keeps the CI run within its time budget")
def test_everything_at_once(chaos: Callable[..., ChaosRun]) -> None:
    """All of the above drawn at random, one after another and overlapping (the soak's main run)."""
    run = chaos(1701, modems=2)
    begin(run)
    rng = run.rng
    running = until(run, 6)
    lockers = []
    while running():
        time.sleep(rng.uniform(0.3, 1.5))
        fault = rng.choice(["sigkill", "actor", "modem", "telegram", "lock", "disk"])
        if fault == "sigkill":
            run.kill()
            time.sleep(rng.uniform(0.0, 1.0))
            run.restart()
        elif fault == "actor":
            run.kill_actor(rng.choice(run.actor_names()))
        elif fault == "modem":
            modem = rng.choice(run.modems)
            if modem.device is None:
                modem.restore_port()
            else:
                modem.drop_port()
                run.note("modem_port_dropped")
        elif fault == "telegram":
            run.botapi.fail_next("sendMessage", status=rng.choice([429, 500]), retry_after=rng.randint(1, 10),
                                 times=rng.randint(1, 10))
            run.note("telegram_error")
        elif fault == "lock":
            lockers.append(run.lock_database(rng.uniform(1.0, 11.0)))
        elif run.proc is not None and run.proc.alive():
            run.proc.set_fsize(rng.choice([0, 65536]))
            run.note("disk_full")
            time.sleep(rng.uniform(1.0, 4.0))
            if run.proc.alive():
                run.proc.set_fsize(resource.RLIM_INFINITY)
    for locker in lockers:
        locker.wait(30)
    end(run)
