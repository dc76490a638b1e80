"""Intake without actors: ticket numbers under concurrency, duplicates, the supervisor's limits."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pykka
import pytest

from laporgub import db
from laporgub.actors._base import Directory, LaporgubActor, Scheduler
from laporgub.clock import ManualClock
from laporgub.config import parse_config
from laporgub.exceptions import ActorStartError
from laporgub.intake import Intake, build_classifier
from laporgub.metrics import Metrics
from laporgub.pdu import encode_deliver
from laporgub.render import Renderer
from laporgub.supervisor import ChildSpec, Supervisor, SupervisorGaveUp
from tests.conftest import make_config_data


@pytest.fixture()
def intake(tmp_path: Path, db_url: str | None) -> Any:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot", database=db_url)
    config = parse_config(data)
    db.open_database(config.service.database)
    yield Intake(config, build_classifier(config), Renderer(config))
    db.database.close()


@pytest.mark.both_backends
def test_ticket_numbers_unique_under_concurrency(intake: Intake) -> None:
    # Eight threads, each with its own connection, register SMS from numbers sharing
    # their last four digits: every ticket gets its own sequence number.
    senders = [f"+6281{i:03d}550200" for i in range(8)]
    errors: list[BaseException] = []

    def work(sender: str) -> None:
        try:
            with db.database.connection_context():
                for j in range(5):
                    pdu = encode_deliver(sender, f"Jalan rusak di desa nomor {j}, mohon diperbaiki")[0]
                    intake.store_sms("m", pdu, time.time())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with db.database.connection_context():
        numbers = [t.number for t in db.Ticket.select()]
        seqs = sorted(t.seq for t in db.Ticket.select())
    # Flood control turns the sixth SMS of a number into a follow-up; five each here.
    assert len(numbers) == 40 and len(set(numbers)) == 40
    assert seqs == list(range(1, 41))
    assert all(n.split("-")[1] == "0200" for n in numbers)


@pytest.mark.both_backends
def test_same_pdu_twice_is_one_sms(intake: Intake) -> None:
    pdu = encode_deliver("+6281234567890", "Banjir di perumahan kami setinggi lutut")[0]
    with db.database.connection_context():
        first = intake.store_sms("m", pdu, time.time())
        again = intake.store_sms("m", pdu.lower(), time.time())
        assert not first.duplicate and again.duplicate and again.inbound_id == first.inbound_id
        assert db.Ticket.select().count() == 1
        assert db.OutboundSms.select().count() == 1  # one acknowledgement


def test_status_query_only_for_the_filer(intake: Intake) -> None:
    with db.database.connection_context():
        result = intake.store_sms("m", encode_deliver("+6281234560001", "Lampu jalan mati di RT 3")[0], time.time())
        number = result.ticket_number
        assert number
        intake.store_sms("m", encode_deliver("+6289999990001", f"CEK {number}")[0], time.time())
        intake.store_sms("m", encode_deliver("+6281234560001", f"status {number}")[0], time.time())
        answers = {o.destination: o.text for o in db.OutboundSms.select().where(db.OutboundSms.purpose == "status")}
    assert "tidak ditemukan" in answers["+6289999990001"] and "Lampu" not in answers["+6289999990001"]
    assert number in answers["+6281234560001"] and "menunggu tanggapan" in answers["+6281234560001"]


class Fragile(LaporgubActor):
    actor_name = "fragile"

    def on_start(self) -> None:
        raise RuntimeError("cannot start (injected)")


def test_supervisor_restarts_with_backoff_then_gives_up() -> None:
    # An actor that dies on every message it gets: restarted at once, then after 0.5 s and 1 s of the
    # supervisor's clock (not at every round), and the fourth death within the window is one too many.
    clock = ManualClock(0.0)
    metrics = Metrics({"register": 9, "filter": 27, "notify": 9, "deliver": 3}, [], [])
    directory = Directory()
    scheduler = Scheduler()
    supervisor = Supervisor(directory, metrics, ping_timeout=2, max_restarts=3, window=60, clock=clock)
    started: list[float] = []

    class Dies(LaporgubActor):
        actor_name = "dies"

        def on_receive(self, message: Any) -> Any:
            raise RuntimeError("poison (injected)")

    def start() -> pykka.ActorRef[Any]:
        started.append(clock.monotonic())
        return Dies.start(directory=directory, scheduler=scheduler)

    supervisor.start_child(ChildSpec("dies", start))
    try:
        with pytest.raises(SupervisorGaveUp):
            for _ in range(200):
                ref = directory.get("dies")
                if ref is not None and ref.is_alive():
                    ref.tell("poison")
                    deadline = time.monotonic() + 5
                    while ref.is_alive() and time.monotonic() < deadline:
                        time.sleep(0.01)
                supervisor.check()
                clock.advance(0.25)
        gaps = [b - a for a, b in zip(started, started[1:])]
        assert started[1] == 1000.0  # the first restart at once, in the round that saw the death
        assert gaps[1:] == [0.5, 1.0]  # then the backoff doubles
        assert len(started) == 4  # the first start and three restarts
        assert metrics.value("laporgub_actor_restarts_total", actor="dies") == 3
    finally:
        supervisor.stop_all(time.monotonic() + 2)
        scheduler.stop()


def test_startup_failure_of_an_actor_is_a_clear_error() -> None:
    metrics = Metrics({"register": 9, "filter": 27, "notify": 9, "deliver": 3}, [], [])
    directory = Directory()
    scheduler = Scheduler()
    supervisor = Supervisor(directory, metrics, ping_timeout=2, max_restarts=5, window=60)
    with pytest.raises(ActorStartError, match="fragile failed to start"):
        supervisor.start_child(ChildSpec("fragile", lambda: Fragile.start(directory=directory, scheduler=scheduler)))
    scheduler.stop()


def test_hung_actor_stops_being_healthy_then_supervisor_gives_up() -> None:
    metrics = Metrics({"register": 9, "filter": 27, "notify": 9, "deliver": 3}, [], [])
    directory = Directory()
    scheduler = Scheduler()
    supervisor = Supervisor(directory, metrics, ping_timeout=2, hang_timeout=1.0)
    release = threading.Event()

    class Stuck(LaporgubActor):
        actor_name = "stuck"

        def on_receive(self, message: Any) -> Any:
            release.wait(10)  # blocked in "I/O"

    supervisor.start_child(ChildSpec("stuck", lambda: Stuck.start(directory=directory, scheduler=scheduler)))
    try:
        assert supervisor.check() is True
        directory.tell("stuck", "block")
        assert supervisor.check() is True  # busy for a moment is not hung
        time.sleep(0.8)
        assert supervisor.check() is False  # hung: no watchdog; not restarted (a thread cannot be killed)
        assert metrics.value("laporgub_actor_restarts_total", actor="stuck") == 0
        time.sleep(0.8)
        with pytest.raises(SupervisorGaveUp, match="stuck hung"):
            supervisor.check()
    finally:
        release.set()
        supervisor.stop_all(time.monotonic() + 2)
        scheduler.stop()


def test_status_query_from_a_stranger_naming_a_problem_becomes_a_complaint(intake: Intake) -> None:
    # "When in doubt, a complaint": the earlier report went elsewhere, and no PIC would see this one.
    text = "Lampu jalan mati sudah 2 minggu, laporan saya kemarin kok belum ditanggapi?"
    with db.database.connection_context():
        result = intake.store_sms("m", encode_deliver("+6281234560077", text)[0], time.time())
        assert result.kind == "complaint" and result.ticket_number
        ticket = db.Ticket.get(db.Ticket.number == result.ticket_number)
        assert ticket.kind == "complaint" and ticket.text == text
        assert db.OutboundSms.get(db.OutboundSms.ticket == ticket).purpose == "ack"
        # The same words from a number that has a ticket are a status query about it.
        again = intake.store_sms("m", encode_deliver("+6281234560077", text + " ")[0], time.time())
        assert again.kind == "status_query" and db.Ticket.select().count() == 1
        # A bare query from a stranger names no problem: answered, no ticket.
        bare = intake.store_sms("m", encode_deliver("+6281234560078", "laporan sy kmrn kok blm dibalas")[0], time.time())
        assert bare.kind == "status_query" and db.Ticket.select().count() == 1


def test_ticket_registered_is_logged_only_after_the_commit(intake: Intake, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    # The commit fails (disk full, lock) after the ticket row was written: rolled back, no log line may name it.
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full (injected)")

    pdu = encode_deliver("+6281234560099", "Jalan berlubang di depan pasar, mohon diperbaiki")[0]
    caplog.set_level("INFO", logger="laporgub.intake")
    with db.database.connection_context():
        monkeypatch.setattr(db.database.obj, "commit", fail)
        with pytest.raises(OSError):
            intake.store_sms("m", pdu, time.time())
        assert db.Ticket.select().count() == 0
        assert "event=ticket_registered" not in caplog.text
        monkeypatch.undo()
        result = intake.store_sms("m", pdu, time.time())
    assert f"event=ticket_registered ticket={result.ticket_number} " in caplog.text
