"""ReportGenerator: the monthly report reaches every leader's chat exactly once, at the scheduled time.

Real parts: the actor under pykka, python-telegram-bot through the
TelegramGateway over HTTP to the package's Bot API stand-in, a SQLite file.
Only the clock is simulated: a fake ``clock`` is "the 1st at 08:00 WIB".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka
import pytest

from laporgub import db
from laporgub.actors._base import Directory, Scheduler
from laporgub.actors.reporter import ReportGenerator
from laporgub.clock import Clock
from laporgub.config import Config, Secret, parse_config
from laporgub.sim.botapi import BotApiServer
from laporgub.telegram_gateway import TelegramGateway
from tests.conftest import TOKEN, make_config_data, wait_until
from tests.test_report_aggregate import seed_known_month, wib

NAMES = ["laporan-laporgub-2026-01.pdf", "laporan-laporgub-2026-01.xlsx", "tiket-laporgub-2026-01.csv"]


class FakeClock(Clock):
    """The service's clock with a wall time the test sets (``clock.now = ...``); durations stay real."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

#: The rig's database was created then: the service existed during the months reported on.
INSTALLED = wib(2025, 11, 20, 9, 0)


@dataclass
class Rig:
    config: Config
    botapi: BotApiServer
    gateway: TelegramGateway
    directory: Directory
    scheduler: Scheduler
    chats: tuple[int, ...]

    def start(self, clock: FakeClock, instance: str = "test-1") -> Any:
        ref = ReportGenerator.start(config=self.config, gateway=self.gateway, directory=self.directory,
                                    scheduler=self.scheduler, clock=clock, instance=instance)
        proxy = ref.proxy()
        assert proxy.ping().get(timeout=10)
        return proxy

    def documents(self, chat_id: int) -> list[Any]:
        return [m for m in self.botapi.messages_for(chat_id) if m.method == "sendDocument"]

    def total_documents(self) -> int:
        return sum(len(self.documents(c)) for c in self.chats)

    def runs(self) -> list[tuple[str, int, str, str]]:
        with db.database.connection_context():
            return [(r.month, r.chat_id, r.status, r.files or "")
                    for r in db.ReportRun.select().order_by(db.ReportRun.month, db.ReportRun.chat_id)]


@pytest.fixture()
def rig(tmp_path: Path, botapi: BotApiServer, token_env: str, db_url: str | None) -> Iterator[Rig]:
    config = parse_config(make_config_data(tmp_path, ["loop://"], botapi.base_url, database=db_url))
    chats = tuple(dict.fromkeys(leader.chat_id for leader in config.leaders))
    assert len(chats) >= 2, "config.toml is expected to name at least two leaders' chats"
    handle = db.open_database(config.service.database, clock=FakeClock(INSTALLED))
    with handle.connection_context():
        seed_known_month()
    gateway = TelegramGateway(config.telegram, Secret(TOKEN))
    gateway.start()
    scheduler = Scheduler()
    yield Rig(config, botapi, gateway, Directory(), scheduler, chats)
    pykka.ActorRegistry.stop_all(block=True, timeout=10)
    scheduler.stop()
    gateway.stop()


def test_sent_once_per_chat_at_the_scheduled_time(rig: Rig) -> None:
    clock = FakeClock(wib(2026, 2, 1, 7, 59, 59))
    reporter = rig.start(clock)
    assert reporter.check().get(timeout=60) == []  # a second early: nothing (December is long past)
    assert rig.total_documents() == 0

    clock.now = wib(2026, 2, 1, 8, 0, 0)
    # the actor's own timer (due in one second) sends it, without being asked
    assert rig.botapi.wait_for(lambda msgs: len([m for m in msgs if m.method == "sendDocument"]) >= 6, timeout=60)
    for chat in rig.chats:
        docs = rig.documents(chat)
        assert [d.document_name for d in docs] == NAMES
        assert docs[0].document.startswith(b"%PDF-") and docs[1].document.startswith(b"PK")
        assert "Januari 2026" in (docs[0].caption or "") and "Pengaduan: 8" in docs[0].caption
    assert wait_until(lambda: [r[2] for r in rig.runs()] == ["sent"] * len(rig.chats))

    # later checks and later ticks send nothing more
    clock.now = wib(2026, 2, 1, 9, 0)
    assert all(d.outcome != "sent" for d in reporter.check().get(timeout=60))
    clock.now = wib(2026, 2, 20, 9, 0)
    reporter.check().get(timeout=60)
    assert rig.total_documents() == 6


def test_missed_report_is_sent_at_start(rig: Rig) -> None:
    # the service was down on the 1st and comes back on the 3rd
    clock = FakeClock(wib(2026, 2, 3, 10, 15))
    rig.start(clock)
    assert rig.botapi.wait_for(lambda msgs: len([m for m in msgs if m.method == "sendDocument"]) >= 6, timeout=60)
    assert wait_until(lambda: [r[:3] for r in rig.runs()] == [("2026-01", c, "sent") for c in sorted(rig.chats)])


@pytest.mark.both_backends
def test_two_instances_send_once(rig: Rig) -> None:
    clock = FakeClock(wib(2026, 2, 1, 8, 0))
    first = rig.start(clock, instance="host-a:1")
    second = rig.start(clock, instance="host-b:2")
    results = [*first.check().get(timeout=60), *second.check().get(timeout=60)]
    assert rig.botapi.wait_for(lambda msgs: len([m for m in msgs if m.method == "sendDocument"]) >= 6, timeout=60)
    for proxy in (first, second):
        proxy.check().get(timeout=60)
    assert rig.total_documents() == 6
    assert all(len(rig.documents(c)) == 3 for c in rig.chats)
    assert all(r.outcome in ("skipped",) for r in results if r.outcome != "sent")


def test_failed_send_is_retried_without_repeating_files(rig: Rig) -> None:
    clock = FakeClock(wib(2026, 2, 1, 7, 0))
    reporter = rig.start(clock)
    first, second = rig.chats[0], rig.chats[1]
    clock.now = wib(2026, 2, 1, 8, 0)
    rig.botapi.fail_next("sendDocument", status=429, retry_after=1)
    outcome = {d.chat_id: d.outcome for d in reporter.check().get(timeout=60)}
    assert outcome[first] == "failed" and outcome[second] == "sent"
    assert len(rig.documents(first)) == 0 and len(rig.documents(second)) == 3
    assert ("2026-01", first, "failed", "") in rig.runs()

    # Telegram said "retry after 1 s": not before (the stand-in checks it in real time too)
    clock.now += 0.5
    assert all(d.outcome != "sent" for d in reporter.check().get(timeout=60))
    assert len(rig.documents(first)) == 0

    # Telegram's retry_after blocks the chat in the gateway's limiter for every sender (real time)
    assert wait_until(lambda: rig.gateway.limiter.blocked_for(first) == 0, timeout=10)
    clock.now += 2
    assert [d.outcome for d in reporter.check().get(timeout=60)] == ["sent"]
    assert [d.document_name for d in rig.documents(first)] == NAMES

    # a delivery that broke after the PDF went through sends only the rest
    with db.database.connection_context():
        db.ReportRun.update(status="failed", files=NAMES[0]).where(db.ReportRun.chat_id == second).execute()
    assert [d.outcome for d in reporter.check().get(timeout=60)] == ["sent"]
    assert [d.document_name for d in rig.documents(second)] == NAMES + NAMES[1:]


def test_stale_claim_is_taken_over(rig: Rig) -> None:
    clock = FakeClock(wib(2026, 2, 1, 9, 0))
    with db.database.connection_context():
        for chat in rig.chats:  # another instance claimed and died an hour ago
            db.ReportRun.create(month="2026-01", chat_id=chat, status="claimed", claimed_by="dead:1",
                                claimed_at=wib(2026, 2, 1, 8, 0))
    reporter = rig.start(clock)
    assert rig.botapi.wait_for(lambda msgs: len([m for m in msgs if m.method == "sendDocument"]) >= 6, timeout=60)
    reporter.check().get(timeout=60)
    assert rig.total_documents() == 6


def test_retry_after_on_the_report_holds_back_every_sender_to_that_chat(rig: Rig) -> None:
    from laporgub.telegram_gateway import Throttled

    clock = FakeClock(wib(2026, 2, 1, 7, 0))
    reporter = rig.start(clock)
    first, second = rig.chats[0], rig.chats[1]
    clock.now = wib(2026, 2, 1, 8, 0)
    rig.botapi.fail_next("sendDocument", status=429, retry_after=3)
    outcome = {d.chat_id: d.outcome for d in reporter.check().get(timeout=60)}
    assert outcome[first] == "failed"

    # Any other sender to that chat (a group's dispatcher, a command's answer) waits too...
    assert rig.gateway.limiter.blocked_for(first) > 0
    with pytest.raises(Throttled):
        rig.gateway.send_message(first, "Laporan baru 260201-0200-1", None, wait=0.0)
    # ...while other chats are not held back.
    rig.gateway.send_message(second, "Laporan baru 260201-0200-2", None, wait=5.0)

    # Once the window Telegram gave has passed, the chat is open to every sender again.
    assert wait_until(lambda: rig.gateway.limiter.blocked_for(first) == 0, timeout=15)
    rig.gateway.send_message(first, "Laporan baru 260201-0200-1", None, wait=5.0)
    clock.now += 10
    assert [d.outcome for d in reporter.check().get(timeout=60)] == ["sent"]
    assert [d.document_name for d in rig.documents(first)] == NAMES
    assert rig.botapi.early_retries == 0  # nothing reached the chat inside the forbidden window


def test_a_new_installation_sends_no_report_on_a_month_before_it(rig: Rig) -> None:
    # The database was created on the 2nd of February: January's report would be empty and false.
    with db.database.connection_context():
        db.SchemaVersion.update(applied_at=wib(2026, 2, 2, 10, 0)).execute()
    clock = FakeClock(wib(2026, 2, 2, 10, 5))
    reporter = rig.start(clock)
    assert reporter.check().get(timeout=60) == []
    assert rig.runs() == [] and rig.total_documents() == 0

    # February is the installation's first month: its report goes out on the 1st of March.
    clock.now = wib(2026, 3, 1, 8, 0)
    sent = [d for d in reporter.check().get(timeout=60) if d.outcome == "sent"]
    assert sorted(d.chat_id for d in sent) == sorted(rig.chats) and {d.month for d in sent} == {"2026-02"}
    assert {r[0] for r in rig.runs()} == {"2026-02"}


def test_installed_during_the_month_reports_that_month(rig: Rig) -> None:
    with db.database.connection_context():  # created on 20 January: January's report is due
        db.SchemaVersion.update(applied_at=wib(2026, 1, 20, 9, 0)).execute()
    rig.start(FakeClock(wib(2026, 2, 1, 8, 0)))  # its first check runs at start
    assert wait_until(lambda: [r[:3] for r in rig.runs()] == [("2026-01", c, "sent") for c in sorted(rig.chats)])


@pytest.mark.parametrize(("offset_minutes", "sent"), [(-1, True), (1, False)])
def test_catch_up_window_last_minute_and_after(rig: Rig, offset_minutes: int, sent: bool) -> None:
    # Down since before the 1st: back on the last minute of the 7-day catch-up window, or just after it.
    from laporgub.report.settings import report_config

    catch_up = report_config(rig.config).catch_up_days * 86400
    clock = FakeClock(wib(2026, 2, 1, 8, 0) + catch_up + offset_minutes * 60)
    reporter = rig.start(clock)
    outcomes = [d.outcome for d in reporter.check().get(timeout=60)]  # after the check at start
    if sent:
        assert wait_until(lambda: [r[2] for r in rig.runs()] == ["sent"] * len(rig.chats))
        assert rig.total_documents() == 3 * len(rig.chats)
    else:
        assert outcomes == [] and rig.runs() == [] and rig.total_documents() == 0
