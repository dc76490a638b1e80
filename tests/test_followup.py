"""Follow-up monitoring: reminders, escalation and digests, each exactly once, under a simulated clock.

First the logic on a SQLite file with explicit times, then the real Service
whose Monitor reads a clock the test moves forward.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from laporgub import db
from laporgub.clock import ShiftedClock
from laporgub.config import Config, parse_config
from laporgub.followup import Followup
from laporgub.intake import Intake, build_classifier
from laporgub.messages import Tick
from laporgub.outbox import route_ticket
from laporgub.pdu import encode_deliver
from laporgub.render import Renderer, visible_len
from laporgub.routing import Classifier
from tests.conftest import TOKEN, TOKEN_ENV, make_config_data, outboxes_settled, wait_until

WIB = ZoneInfo("Asia/Jakarta")
T0 = datetime(2026, 11, 28, 9, 30, tzinfo=WIB).timestamp()
HOUR = 3600.0
KESEHATAN = -1001000000003
ADMIN_CHAT = -1001000000000
BUPATI_SEMARANG = -1001000000101

# kesehatan + kabkota (Ungaran is in Kabupaten Semarang, whose regent is a [[leaders]] entry)
UNGARAN = "Puskesmas di Ungaran menolak pasien BPJS, obat juga kosong di apotek"
PUSKESMAS = "Puskesmas menolak pasien BPJS, obat juga kosong di apotek puskesmas kami"
SPAM = "Selamat! Nomor Anda mendapatkan hadiah cek tunai Rp 175jt dari PT Undian. Info klik bit.ly/hadiah"


@dataclass
class Env:
    config: Config
    intake: Intake
    classifier: Classifier


def make_env(tmp_path: Path, **followup: Any) -> Env:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot")
    data["followup"] = {**data.get("followup", {}), **followup}
    config = parse_config(data)
    db.open_database(config.service.database)
    db.database.connect(reuse_if_open=True)
    classifier = build_classifier(config)
    return Env(config, Intake(config, classifier, Renderer(config)), classifier)


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    yield make_env(tmp_path)
    db.database.close()


_senders = iter(range(1000, 9999))


def new_ticket(env: Env, text: str, received_at: float, status: str = "open") -> db.Ticket:
    sender = f"+62812345{next(_senders):04d}"
    result = env.intake.store_sms("modem-1", encode_deliver(sender, text)[0], received_at)
    assert result.ticket_id is not None
    route_ticket(env.config, env.classifier, result.ticket_id)
    db.Ticket.update(status=status).where(db.Ticket.id == result.ticket_id).execute()
    return db.Ticket.get_by_id(result.ticket_id)


def rows(kind: str, ticket: db.Ticket | None = None) -> list[db.Notification]:
    query = db.Notification.select().where(db.Notification.kind == kind)
    if ticket is not None:
        query = query.where(db.Notification.ticket == ticket)
    return list(query.order_by(db.Notification.id))


def test_reminder_then_escalation_each_once(env: Env) -> None:
    late = new_ticket(env, UNGARAN, T0)
    answered = new_ticket(env, PUSKESMAS, T0, status="responded")
    new_ticket(env, SPAM, T0)
    newer = new_ticket(env, PUSKESMAS, T0 + 20 * HOUR)
    followup = Followup(env.config)

    assert followup.run(T0 + 23 * HOUR).reminders == 0
    result = followup.run(T0 + 24 * HOUR + 60)
    assert (result.reminders, result.escalations) == (1, 0)
    reminders = rows("reminder", late)
    assert sorted(r.destination for r in reminders) == ["kabkota", "kesehatan"]  # its groups, not the channel
    text = reminders[0].text
    assert late.number in text and "24 jam" in text and "Pengingat" in text and "0812****" not in text
    assert set(result.destinations) == {"kabkota", "kesehatan"}
    assert rows("reminder", answered) == [] and len(rows("reminder")) == 2  # neither answered nor spam

    assert followup.run(T0 + 25 * HOUR).reminders == 0  # once
    assert Followup(env.config).run(T0 + 26 * HOUR).reminders == 0  # also after a restart

    result = followup.run(T0 + 72 * HOUR + 60)
    assert (result.reminders, result.escalations) == (1, 1)  # the newer one's reminder, the late one's escalation
    assert [(r.ticket_id, r.destination) for r in rows("reminder") if r.ticket_id != late.id] == [(newer.id, "kesehatan")]
    escalation = rows("escalation", late)
    assert sorted(r.destination for r in escalation) == ["admin", "leader-2"]  # Bupati Semarang + admins
    assert {r.chat_id for r in escalation} == {ADMIN_CHAT, BUPATI_SEMARANG}
    assert late.number in escalation[0].text and "72 jam" in escalation[0].text
    assert "Kabupaten Semarang" in escalation[0].text and "0812****" in escalation[0].text
    assert followup.run(T0 + 100 * HOUR).escalations == 1  # only the newer one, now due
    assert Followup(env.config).run(T0 + 200 * HOUR).escalations == 0
    assert db.FollowupEvent.select().count() == 4


def test_answered_after_the_reminder_is_not_escalated(env: Env) -> None:
    ticket = new_ticket(env, PUSKESMAS, T0)
    followup = Followup(env.config)
    assert followup.run(T0 + 30 * HOUR).reminders == 1
    db.Ticket.update(status="responded").where(db.Ticket.id == ticket.id).execute()
    assert followup.run(T0 + 80 * HOUR).escalations == 0


def test_daily_digest_oldest_first_once_a_day(env: Env) -> None:
    oldest = new_ticket(env, PUSKESMAS, T0 - 50 * HOUR)
    answered = new_ticket(env, "Rumah sakit daerah menolak pasien BPJS yang kritis", T0 - 30 * HOUR,
                          status="responded")
    newest = new_ticket(env, UNGARAN, T0 - 2 * HOUR)
    closed = new_ticket(env, "Stok obat di puskesmas kosong sudah seminggu", T0 - 40 * HOUR, status="closed")
    day = (datetime.fromtimestamp(T0, WIB) + timedelta(days=1)).replace(hour=6, minute=59)
    followup = Followup(env.config)
    assert followup.run(day.timestamp()).digests == 0
    result = followup.run(day.replace(hour=7, minute=0).timestamp())
    digests = {r.destination: r for r in rows("digest")}
    assert "kesehatan" in digests and "channel" in digests and "energi" not in digests
    assert "29-11-2026" in digests["kesehatan"].text
    assert result.digests == len(digests) and set(result.destinations) == set(digests)
    text = digests["kesehatan"].text
    assert "3 tiket belum selesai" in text and closed.number not in text
    assert text.index(oldest.number) < text.index(answered.number) < text.index(newest.number)
    assert "sudah ditanggapi" in text and "(2 hari)" in text
    assert digests["kesehatan"].ticket_id is None and digests["kesehatan"].chat_id == KESEHATAN
    assert db.DigestRun.select().where(db.DigestRun.group == "energi").get().tickets == 0  # recorded, not sent
    assert followup.run(day.replace(hour=23).timestamp()).digests == 0  # once a day
    assert Followup(env.config).run(day.replace(hour=23, minute=30).timestamp()).digests == 0  # after a restart
    assert Followup(env.config).run((day + timedelta(days=1)).replace(hour=7, minute=5).timestamp()).digests > 0


def test_long_digest_is_cut_and_split(tmp_path: Path) -> None:
    env = make_env(tmp_path, digest_max_tickets=45)
    try:
        long_text = "Puskesmas menolak pasien BPJS " + "dan obat kosong di apotek " * 4  # one SMS; cut in the digest
        for i in range(50):
            new_ticket(env, f"{long_text} nomor {i}", T0 - (60 - i) * HOUR)
        Followup(env.config).run(datetime.fromtimestamp(T0, WIB).replace(hour=8).timestamp())
        parts = [r.text for r in rows("digest") if r.destination == "kesehatan"]
        assert len(parts) >= 2
        assert all(visible_len(p, "HTML") <= 4096 for p in parts)
        joined = "\n".join(parts)
        assert joined.count("• ") == 45 and "dan 5 tiket lainnya" in parts[-1]
        assert all("50 tiket belum selesai" in p for p in parts)
    finally:
        db.database.close()


def test_steps_can_be_switched_off(tmp_path: Path) -> None:
    env = make_env(tmp_path, reminder_hours=0, escalate_hours=0, digest_time="off")
    try:
        new_ticket(env, PUSKESMAS, T0)
        result = Followup(env.config).run(T0 + 500 * HOUR)
        assert (result.reminders, result.escalations, result.digests) == (0, 0, 0)
        assert db.Notification.select().where(db.Notification.kind.in_(["reminder", "escalation", "digest"])).count() == 0
    finally:
        db.database.close()


# --------------------------------------------------------------------------
# The Monitor in the real service, with a simulated clock.


class Clock(ShiftedClock):
    """The service's clock; the test sets its wall time (``clock.now = ...``), durations stay real."""

    def __init__(self) -> None:
        super().__init__(time.time())

    @property
    def now(self) -> float:
        return self.time()

    @now.setter
    def now(self, wall: float) -> None:
        self.set(wall)


def start_service(tmp_path: Path, modem: Any, botapi: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Any:
    from laporgub.app import Service
    from laporgub.config import Secret

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    data = make_config_data(tmp_path, [modem.port], botapi.base_url)
    service = Service(parse_config(data), Secret(TOKEN), metrics_server=False, clock=clock)
    service.start()
    assert service.wait_ready(20)
    return service


def check_now(service: Any) -> None:
    """Make the Monitor check at once, and wait until it has (its inbox is first in, first out)."""
    assert service.directory.tell("monitor", Tick("now"))
    service.directory.get("monitor").proxy().ping().get(timeout=10)


def kinds() -> dict[str, int]:
    with db.database.connection_context():
        return {k: db.Notification.select().where(db.Notification.kind == k).count()
                for k in ("reminder", "escalation", "digest")}


def all_sent() -> bool:
    # One snapshot: separate counts can pass between two commits (see outboxes_settled).
    return outboxes_settled(sms=False, chat_replies=True)


def chat(botapi: Any, chat_id: int, needle: str) -> list[Any]:
    return [m for m in botapi.messages_for(chat_id) if needle in (m.plain_text or "")]


def test_monitor_in_the_service_once_per_step_across_restarts(tmp_path: Path, modem: Any, botapi: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    service = start_service(tmp_path, modem, botapi, clock, monkeypatch)
    try:
        modem.receive_sms("+6281234567100", UNGARAN)
        assert wait_until(lambda: all_sent() and len(chat(botapi, KESEHATAN, "Laporan baru")) == 1, timeout=20)
        with db.database.connection_context():
            ticket = db.Ticket.get()
        received = ticket.received_at

        clock.now = received + 24 * HOUR + 60
        check_now(service)
        assert wait_until(lambda: all_sent() and len(chat(botapi, KESEHATAN, "Pengingat")) == 1, timeout=15)
        reminder = chat(botapi, KESEHATAN, "Pengingat")[0]
        assert ticket.number in (reminder.plain_text or "")
        check_now(service)
        check_now(service)
        assert kinds()["reminder"] == 2  # kesehatan + kabkota, once

        clock.now = received + 72 * HOUR + 60
        check_now(service)
        assert wait_until(lambda: all_sent() and len(chat(botapi, ADMIN_CHAT, "Eskalasi")) == 1, timeout=15)
        assert len(chat(botapi, BUPATI_SEMARANG, "Eskalasi")) == 1
        check_now(service)
        assert kinds()["escalation"] == 2
    finally:
        service.stop()

    # After a restart nothing is sent again; the next day's digest comes once.
    service = start_service(tmp_path, modem, botapi, clock, monkeypatch)
    try:
        check_now(service)
        assert kinds()["reminder"] == 2 and kinds()["escalation"] == 2
        digests = kinds()["digest"]
        later = datetime.fromtimestamp(received + 4 * 24 * HOUR, WIB).replace(hour=7, minute=1)
        clock.now = later.timestamp()
        check_now(service)
        check_now(service)
        assert wait_until(lambda: all_sent() and any(ticket.number in (m.plain_text or "")
                                                     for m in chat(botapi, KESEHATAN, "Rekap harian")), timeout=15)
        sent = kinds()["digest"] - digests
        assert sent >= 3  # channel, kesehatan, kabkota: each once
        check_now(service)
        assert kinds()["digest"] - digests == sent
        # A PIC may answer right from the reminder: replies to it map back to the ticket.
        botapi.push_message(chat_id=KESEHATAN, user_id=111111111, text="Sudah kami hubungi puskesmasnya.",
                            reply_to_message_id=reminder.message_id)
        assert wait_until(lambda: all_sent() and len(chat(botapi, KESEHATAN, "tercatat")) == 1, timeout=15)
        with db.database.connection_context():
            assert db.PicResponse.get().ticket_id == ticket.id
    finally:
        service.stop()
    assert len(chat(botapi, KESEHATAN, "Pengingat")) == 1 and len(chat(botapi, ADMIN_CHAT, "Eskalasi")) == 1
