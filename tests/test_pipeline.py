"""The flow end to end, with real parts: pty modem emulator, PTB over HTTP to the stand-in, SQLite file.

Nothing of ours is mocked: the ModemReader speaks AT to the emulator, the
registry, filter and dispatchers are the real actors under the supervisor.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from laporgub import db
from laporgub.clock import ShiftedClock
from laporgub.pdu import decode_submit
from tests.conftest import db_count, outboxes_settled, wait_until

CHANNEL = -1001000000001
WIB = ZoneInfo("Asia/Jakarta")


def tickets() -> list[db.Ticket]:
    with db.database.connection_context():
        return list(db.Ticket.select().order_by(db.Ticket.id))


def chat_texts(botapi: Any, chat_id: int) -> list[str]:
    """The texts of the messages in a chat (a document's caption, or nothing, when it is a file)."""
    return [m.plain_text or m.caption or "" for m in botapi.messages_for(chat_id)]


def all_sent(service: Any) -> bool:
    """Every ticket routed, every notification and outbound SMS sent (one snapshot: see outboxes_settled)."""
    return outboxes_settled()


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=WIB).timestamp()


#: Where a fresh installation starts in these tests: awkward moments for dates, by the service's clock.
MOMENTS = {
    # The first minutes of a month in WIB: still the last day of the previous month in UTC,
    # and days 1-8 are when the monthly report is due.
    "first-of-month-00:05-WIB": wib(2026, 12, 1, 0, 5),
    # Into the new year while the SMS arrive.
    "new-year-eve-23:59:57-WIB": wib(2026, 12, 31, 23, 59, 57),
    # A leap day.
    "leap-day-00:05-WIB": wib(2028, 2, 29, 0, 5),
    # The report's time (08:00 on the 1st) on a database created a minute before: nothing to report.
    "report-time-on-install-day": wib(2027, 3, 1, 7, 59),
}


@pytest.mark.both_backends
def test_complaints_reach_groups_and_citizen(modem: Any, botapi: Any, make_service: Any) -> None:
    # Pinned to 00:05 WIB on the 1st of a month: the test passes on any day it is run.
    clock = ShiftedClock(MOMENTS["first-of-month-00:05-WIB"])
    service = make_service([modem], botapi, clock=clock)
    complaints_reach_groups_and_citizen(service, modem, botapi)
    for t in tickets():
        assert t.number.startswith("261201-")  # the WIB date, not UTC's 30 November


@pytest.mark.parametrize("moment", [m for m in MOMENTS if m != "first-of-month-00:05-WIB"])
def test_pipeline_at_awkward_moments(moment: str, modem: Any, botapi: Any, make_service: Any) -> None:
    clock = ShiftedClock(MOMENTS[moment])
    service = make_service([modem], botapi, clock=clock)
    complaints_reach_groups_and_citizen(service, modem, botapi)
    if moment == "report-time-on-install-day":
        # Past 08:00 on the 1st now: February's report is due, but the installation did not exist then.
        clock.set(wib(2027, 3, 1, 8, 0, 1))
        assert service.directory.get("reporter").proxy().check().get(timeout=30) == []
        assert not [m for m in botapi.messages if m.method == "sendDocument"]


def complaints_reach_groups_and_citizen(service: Any, modem: Any, botapi: Any) -> None:
    """The SOP end to end for three complaints; every date in tickets follows the service's clock."""
    config = service.config
    modem.receive_sms("+6281234560200", "Jalan rusak parah di Ungaran, lubang besar <bahaya> & belum diperbaiki")
    modem.receive_sms("+6285712345678", "BANJIR setinggi 1 meter di Kampung Tambaklorok, warga butuh perahu")
    long_text = ("Pupuk subsidi urea langka di Desa Ngembak, petani kesulitan. " * 5).strip() + " 🌾"
    modem.receive_sms("+6287812340000", long_text)

    assert wait_until(lambda: len(tickets()) == 3 and all_sent(service), timeout=30)
    assert modem.wait_for(lambda m: not m.stored and len(m.sent_messages) == 3, timeout=15)

    by_sender = {t.sender: t for t in tickets()}
    road = by_sender["+6281234560200"]
    flood = by_sender["+6285712345678"]
    farm = by_sender["+6287812340000"]
    assert re.fullmatch(r"\d{6}-0200-1", road.number)
    assert farm.text == long_text  # multipart joined exactly, emoji included
    assert road.regency == "Kabupaten Semarang"

    channel = chat_texts(botapi, CHANNEL)
    joined = "\n".join(channel)
    for t in (road, flood, farm):
        assert t.number in joined
    assert "lubang besar <bahaya> & belum" in joined  # escaped on the wire, intact for the reader
    raw = "\n".join(m.text or "" for m in botapi.messages_for(CHANNEL))
    assert "&lt;bahaya&gt; &amp; belum" in raw
    # Numbers masked everywhere in Telegram.
    for m in botapi.messages:
        shown = (m.text or "") + (m.caption or "")  # a document has a caption and no text
        assert "81234560200" not in shown and "5712345678" not in shown
    assert "0812****0200" in joined

    infra = config.groups["infrastruktur"].chat_id
    darurat = config.groups["darurat"].chat_id
    kabkota = config.groups["kabkota"].chat_id
    pertanian = config.groups["pertanian"].chat_id
    assert any(road.number in t for t in chat_texts(botapi, infra))
    # Explainable: the notification says which keywords routed it where.
    assert any(road.number in t and "Kata kunci: infrastruktur: " in t for t in chat_texts(botapi, infra))
    assert any(road.number in t for t in chat_texts(botapi, kabkota))
    assert any(flood.number in t and "DARURAT" in t for t in chat_texts(botapi, darurat))
    assert any(farm.number in t for t in chat_texts(botapi, pertanian))
    assert not any(road.number in t for t in chat_texts(botapi, darurat))

    # Acknowledgements: one per complaint, international format, ticket number inside.
    acks = {dest: text for dest, text in modem.sent_messages}
    assert set(acks) == {"+6281234560200", "+6285712345678", "+6287812340000"}
    assert road.number in acks["+6281234560200"]
    for sent in modem.sent:
        assert sent.destination_toa == 0x91
        assert decode_submit(sent.pdu).destination.startswith("+62")

    # Stage metrics counted every ticket and every group send.
    m = service.metrics
    assert m.value("laporgub_stage_duration_seconds_count", stage="register") == 3
    assert m.value("laporgub_stage_duration_seconds_count", stage="filter") == 3
    sent_rows = db_count(lambda: db.Notification.select().where(db.Notification.status == "sent").count())
    # A dispatcher observes its metrics just after committing 'sent': wait for the last one.
    assert wait_until(lambda: m.value("laporgub_stage_duration_seconds_count", stage="notify") == sent_rows, 10)
    assert m.value("laporgub_stage_duration_seconds_bucket", stage="register", le="9.0") == 3
    assert m.value("laporgub_sla_seconds", stage="filter") == 27
    assert m.value("laporgub_ready") == 1
    assert wait_until(lambda: m.value("laporgub_end_to_end_seconds_count") == 3, 10)
    assert m.value("laporgub_group_stage_duration_seconds_count", stage="notify", group="darurat") >= 1
    # SMS deleted only after commit: every AT+CMGD came after the message was stored.
    assert sum(1 for c in modem.commands if c.startswith("AT+CMGD")) >= 4  # 3 SMS, one of them in several parts

    # Dates follow the service's clock: each ticket's number carries its day of receipt in WIB.
    for t in tickets():
        received = datetime.fromtimestamp(t.received_at, WIB)
        assert t.number.startswith(received.strftime("%y%m%d-")), (t.number, received)
    # A new installation sends no monthly report for a month before it existed.
    assert not [m for m in botapi.messages if m.method == "sendDocument"]


@pytest.mark.both_backends
def test_each_kind_gets_what_the_table_says(modem: Any, botapi: Any, make_service: Any) -> None:
    service = make_service([modem], botapi)
    admin = service.config.telegram.admin_chat_id
    modem.receive_sms("+6281111110001", "Lampu penerangan jalan di depan SD Negeri 2 mati sudah seminggu")
    assert wait_until(lambda: len(tickets()) == 1 and all_sent(service), timeout=20)
    first = tickets()[0]

    modem.receive_sms("+6289912345678", "Selamat! Nomor Anda mendapatkan hadiah cek tunai Rp 175jt dari PT Undian. "
                                        "Info klik bit.ly/hadiah")
    modem.receive_sms("TELKOMSEL", "Sisa kuota internet Anda 100MB. Beli paket di *363#")
    modem.receive_sms("+6285600001111", "tes")
    modem.receive_sms("+6281111110001", f"CEK {first.number}")
    modem.receive_sms("+6282222220002", f"cek {first.number.replace('-', '')}")
    assert wait_until(lambda: db_count(lambda: db.InboundSms.select().where(db.InboundSms.kind.is_null(False)).count()) == 6
                      and all_sent(service), timeout=30)
    assert modem.wait_for(lambda m: not m.stored, timeout=10)

    with db.database.connection_context():
        kinds = {i.sender_raw: i.kind for i in db.InboundSms.select()}
    assert kinds["TELKOMSEL"] == "operator"
    assert kinds["+6285600001111"] == "too_short"
    assert kinds["+6282222220002"] == "status_query"

    all_tickets = tickets()
    assert len(all_tickets) == 2  # the complaint and the suspected spam; nothing else gets a ticket
    spam = [t for t in all_tickets if t.kind == "spam"][0]
    assert any(spam.number in t and "SPAM" in t for t in chat_texts(botapi, CHANNEL))
    for chat in {g.chat_id for k, g in service.config.groups.items() if k != "channel"}:
        assert not any(spam.number in t for t in chat_texts(botapi, chat))
    assert any("kuota internet" in t for t in chat_texts(botapi, admin))

    replies = {}
    for dest, text in modem.sent_messages:
        replies.setdefault(dest, []).append(text)
    assert "+6289912345678" not in replies  # no SMS back to spam
    assert not any(d.isalpha() for d in replies)  # nothing to the operator
    assert any("CEK" in t or "Tulis" in t for t in replies["+6285600001111"])  # help text
    status = replies["+6281111110001"][-1]
    assert first.number in status and "menunggu" in status
    assert "tidak ditemukan" in replies["+6282222220002"][0]  # not the filer: no status disclosed


@pytest.mark.both_backends
def test_sms_stored_before_start_is_read_and_storage_emptied(modem: Any, botapi: Any, make_service: Any) -> None:
    # No host has the port open: the +CMTI indications are lost, as on real hardware.
    for i in range(5):
        modem.receive_sms(f"+62812000000{i:02d}", f"Sampah menumpuk di pasar desa nomor {i} sudah dua minggu")
    assert len(modem.stored) == 5
    service = make_service([modem], botapi)
    assert wait_until(lambda: len(tickets()) == 5 and all_sent(service), timeout=30)
    assert modem.wait_for(lambda m: not m.stored, timeout=10)
    numbers = [t.number for t in tickets()]
    assert len(set(numbers)) == 5


def test_store_failure_keeps_sms_on_modem(modem: Any, botapi: Any, make_service: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from laporgub.intake import Intake

    original = Intake.store_sms
    calls = {"n": 0}

    def flaky(self: Intake, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk full (injected)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Intake, "store_sms", flaky)
    service = make_service([modem], botapi, sweep=1.0)
    modem.receive_sms("+6281234567001", "Air PDAM mati tiga hari di perumahan kami, mohon bantuan")
    # The failed store must not delete the SMS; the sweep offers it again and it is stored.
    assert wait_until(lambda: len(tickets()) == 1 and all_sent(service), timeout=20)
    assert calls["n"] >= 2
    assert modem.wait_for(lambda m: not m.stored, timeout=10)
    assert len(tickets()) == 1


def test_dispatcher_crash_is_restarted_and_isolated(modem: Any, botapi: Any, make_service: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from laporgub.actors.dispatcher import GroupDispatcher

    service = make_service([modem], botapi)
    original = GroupDispatcher._pump
    crashed = {"n": 0}

    def poisoned(self: GroupDispatcher) -> None:
        if self.destination == "kesehatan" and crashed["n"] == 0:
            crashed["n"] += 1
            raise RuntimeError("poisoned (injected)")
        original(self)

    monkeypatch.setattr(GroupDispatcher, "_pump", poisoned)
    modem.receive_sms("+6281234567002", "Puskesmas menolak pasien BPJS, obat juga kosong di apotek puskesmas")
    modem.receive_sms("+6281234567003", "Jembatan gantung di desa kami putus, anak sekolah tidak bisa lewat")
    # Intake and other groups go on; the kesehatan dispatcher comes back and sends.
    assert wait_until(lambda: len(tickets()) == 2 and all_sent(service), timeout=30)
    assert crashed["n"] == 1
    assert service.metrics.value("laporgub_actor_restarts_total", actor="dispatcher:kesehatan") == 1
    kesehatan = service.config.groups["kesehatan"].chat_id
    assert len(botapi.messages_for(kesehatan)) >= 1


@pytest.mark.both_backends
def test_telegram_errors_keep_rows_pending_until_accepted(modem: Any, botapi: Any, make_service: Any) -> None:
    service = make_service([modem], botapi)
    botapi.fail_next("sendMessage", status=429, retry_after=1, times=1)
    botapi.fail_next("sendMessage", status=500, times=2)
    modem.receive_sms("+6281234567004", "Harga cabai di pasar naik dua kali lipat, pedagang kecil menjerit")
    assert wait_until(lambda: len(tickets()) == 1 and all_sent(service), timeout=40)
    assert botapi.early_retries == 0
    number = tickets()[0].number
    with db.database.connection_context():
        rows = [(n.destination, n.status, n.message_id, n.attempts, n.last_error, n.claimed_by)
                for n in db.Notification.select().order_by(db.Notification.id)]
    seen = [(m.chat_id, m.message_id, m.plain_text[:60]) for m in botapi.messages]
    assert any(number in t for t in chat_texts(botapi, CHANNEL)), (rows, seen)
    errors = sum(service.metrics.value("laporgub_telegram_errors_total", group=g, error=e) or 0
                 for g in ("channel", "ekonomi_industri") for e in ("retry_after", "network", "other"))
    assert errors >= 3


def test_malformed_pdu_kept_raw_reported_and_queue_goes_on(modem: Any, botapi: Any, make_service: Any) -> None:
    service = make_service([modem], botapi)
    admin = service.config.telegram.admin_chat_id
    bad = "07912618485400F9040B916281000000F00000621182"  # cut in the middle of the timestamp
    modem.receive_pdu(bad)
    modem.receive_sms("+6281234567005", "Saluran irigasi sawah jebol, air tidak sampai ke sawah kami")
    assert wait_until(lambda: len(tickets()) == 1 and all_sent(service), timeout=20)
    assert modem.wait_for(lambda m: not m.stored, timeout=10)
    with db.database.connection_context():
        kept = db.InboundSms.get(db.InboundSms.state == "undecodable")
    assert kept.pdu == bad and kept.error
    # The admins hear of it, by its row; the PDU itself stays out of Telegram (its address field is the
    # sender's number in semi-octets: 2618... here).
    assert any(f"#{kept.id}" in t and f"{len(bad)} karakter hex" in t for t in chat_texts(botapi, admin))
    assert not any(bad[:30] in t or "26180" in t for t in chat_texts(botapi, admin))
    assert service.metrics.value("laporgub_sms_received_total", modem="modem-1", kind="undecodable") == 1


def test_incomplete_multipart_registered_after_wait(modem: Any, botapi: Any, make_service: Any) -> None:
    from laporgub.pdu import encode_deliver

    def tweak(data: dict[str, Any]) -> None:
        data["intake"]["concat_wait_minutes"] = 0.02  # 1.2 s

    service = make_service([modem], botapi, tweak=tweak)
    text = " ".join(f"kata{i}" for i in range(60))
    parts = encode_deliver("+6281234567006", text, concat_reference=77)
    assert len(parts) == 3
    modem.receive_pdu(parts[2])
    modem.receive_pdu(parts[0])
    modem.receive_pdu(parts[0])  # the same part twice counts once
    assert wait_until(lambda: len(tickets()) == 1 and all_sent(service), timeout=20)
    ticket = tickets()[0]
    assert ticket.missing_parts == "2"
    assert "[bagian 2/3 tidak diterima]" in ticket.text
    assert ticket.text.startswith("kata0 ") and ticket.text.endswith("kata59")
    assert modem.wait_for(lambda m: not m.stored, timeout=10)


@pytest.mark.both_backends
def test_flood_from_one_number_becomes_followups(modem: Any, botapi: Any, make_service: Any) -> None:
    def tweak(data: dict[str, Any]) -> None:
        data["intake"]["followup_interval_minutes"] = 0

    service = make_service([modem], botapi, tweak=tweak)
    for i in range(8):
        modem.receive_sms("+6281234567007", f"Jalan desa rusak parah nomor {i}, mohon diperbaiki segera")
    assert wait_until(lambda: db_count(lambda: db.InboundSms.select().where(db.InboundSms.kind.is_null(False)).count())
                      == 8 and all_sent(service), timeout=30)
    assert len(tickets()) == 5  # flood_count = 5: the rest are follow-ups of the latest ticket
    latest = tickets()[-1]
    with db.database.connection_context():
        followups = list(db.InboundSms.select().where(db.InboundSms.kind == "followup"))
    assert len(followups) == 3 and all(f.ticket_id == latest.id for f in followups)
    assert len([d for d, _ in modem.sent_messages if d == "+6281234567007"]) == 5  # no ack for follow-ups
    channel = "\n".join(chat_texts(botapi, CHANNEL))
    assert "Tambahan" in channel and "nomor 7" in channel


def test_modem_port_lost_and_back(modem: Any, botapi: Any, make_service: Any) -> None:
    service = make_service([modem], botapi, sweep=0.5)
    modem.receive_sms("+6281234567008", "Pipa PDAM bocor di depan pasar, air terbuang percuma")
    assert wait_until(lambda: len(tickets()) == 1, timeout=20)
    modem.drop_port()
    assert wait_until(lambda: service.metrics.value("laporgub_modem_up", modem="modem-1") == 0, timeout=15)
    modem.receive_sms("+6281234567009", "Jembatan kayu di dusun kami rapuh dan hampir roboh")  # stored, +CMTI lost
    modem.restore_port()
    assert wait_until(lambda: len(tickets()) == 2 and all_sent(service), timeout=40)
    assert modem.wait_for(lambda m: not m.stored, timeout=10)
    assert service.metrics.value("laporgub_modem_up", modem="modem-1") == 1


def test_telegram_down_at_start_intake_goes_on(modem: Any, botapi: Any, make_service: Any) -> None:
    botapi.set_down(True)
    service = make_service([modem], botapi)
    modem.receive_sms("+6281234567010", "Sekolah kami atapnya bocor, murid belajar di lantai saat hujan")
    assert wait_until(lambda: len(tickets()) == 1, timeout=20)
    assert modem.wait_for(lambda m: len(m.sent_messages) == 1 and not m.stored, timeout=15)  # ack went out
    number = tickets()[0].number
    assert not any(number in t for t in chat_texts(botapi, CHANNEL))
    botapi.set_down(False)
    assert wait_until(lambda: all_sent(service), timeout=40)
    assert any(number in t for t in chat_texts(botapi, CHANNEL))


def test_modem_left_at_cmgs_prompt_by_a_killed_process(modem: Any, botapi: Any, make_service: Any) -> None:
    import serial

    # A previous process died between AT+CMGS and the PDU: the modem waits at "> ".
    port = serial.Serial(modem.port, 115200, timeout=0.2)
    port.write(b"ATE0\r")
    time.sleep(0.2)
    port.write(b"AT+CMGS=25\r")
    seen = b""
    deadline = time.monotonic() + 5
    while b"> " not in seen and time.monotonic() < deadline:
        seen += port.read(64)
    assert b"> " in seen
    port.close()
    modem.receive_sms("+6281234567011", "Truk tambang galian C merusak jalan desa dan bikin debu")
    service = make_service([modem], botapi)
    assert wait_until(lambda: len(tickets()) == 1 and all_sent(service), timeout=20)
    assert modem.wait_for(lambda m: not m.stored and len(m.sent_messages) == 1, timeout=10)
    assert not any(s.text.startswith("AT") for s in modem.sent)  # nothing half-typed went out as an SMS


@pytest.mark.timeout(300)
def test_burst_into_one_group_is_combined_within_flood_limits(modem: Any, make_service: Any) -> None:
    from laporgub.sim.botapi import BotApiServer
    from tests.conftest import TOKEN

    strict = BotApiServer(token=TOKEN, enforce_limits=True).start()

    def each_on_its_own(data: dict[str, Any]) -> None:
        # Sixty reports of one damaged road would become one incident (test_incidents_pipeline.py):
        # here every ticket goes to the group, to measure combining.
        data["incidents"] = {"enabled": False}

    try:
        service = make_service([modem], strict, group_interval=3.0, tweak=each_on_its_own)
        for i in range(60):
            # A SIM holds 30 SMS: when it is full the network keeps the SMS and delivers it again
            # once there is room (SMSC retry), as here; a loaded machine's reader drains it slower.
            sender, text = f"+62813770{i:05d}", f"Jalan rusak berlubang di Dusun Krajan RT {i}, mohon diperbaiki"
            assert wait_until(lambda s=sender, t=text: modem.receive_sms(s, t), timeout=120, interval=0.2), i
            time.sleep(0.02)
        # About 25 s on an idle machine (eight paced messages per chat, 3 s apart); a loaded one
        # takes longer, and only the deadline of a condition, never a sleep, bounds it.
        assert wait_until(lambda: len(tickets()) == 60 and all_sent(service), timeout=240)
        numbers = [t.number for t in tickets()]
        # Combined, not 60 pages: at most one page per 3 s pacing interval while tickets came in
        # (eight when they come in at once; more only when a loaded machine registered them slower).
        routed = sorted(t.filtered_at for t in tickets())
        pages = max(8, math.ceil((routed[-1] - routed[0]) / 3.0) + 2)
        infra = service.config.groups["infrastruktur"].chat_id
        for chat in (CHANNEL, infra):
            texts = "\n".join(chat_texts(strict, chat))
            assert all(n in texts for n in numbers)
            assert len(strict.messages_for(chat)) <= pages, (len(strict.messages_for(chat)), pages)
        assert not [r for r in strict.requests if r.status == 429]
        assert strict.early_retries == 0
        # How fast (notify p99 against the 9 s SLA) is measured by `python benchmarks/run.py`, not here:
        # a timed assertion fails on a busy machine. Here: each chat paced at least 3 s apart.
        for chat in (CHANNEL, infra):
            times = [m.received_monotonic for m in strict.messages_for(chat)]
            assert all(b - a >= 3.0 * 0.95 for a, b in zip(times, times[1:])), times
    finally:
        strict.stop()


def test_all_sent_is_one_snapshot(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (a CI flake): the settle check must not pass between two commits of the service.

    The filter commits a ticket's routing (pending notification rows + ``filtered_at``) while the
    test polls. Checked with one COUNT per table, the notification count could read before that
    commit and the "unrouted" count after it: all_sent() said yes, nothing had been sent yet. Here
    the routing commits just before each statement of the check in turn: it must never say yes.
    """
    db.open_database(f"sqlite:///{tmp_path / 'snapshot.db'}")
    now = time.time()
    with db.database.connection_context():
        ticket = db.Ticket.create(number="261128-0200-1", day="261128", four="0200", seq=1, text="Jalan rusak",
                                  received_at=now, registered_at=now, updated_at=now)
        db.OutboundSms.create(destination="+6281234560200", text="ack", purpose="ack", ticket=ticket,
                              status="sent", created_at=now)
    target = db.database.obj
    real_execute = target.execute_sql

    def route() -> None:  # what route_ticket commits, in short
        with db.database.atomic():
            db.Notification.create(ticket=ticket, destination="channel", chat_id=CHANNEL, kind="ticket",
                                   queued_at=now)
            db.Ticket.update(filtered_at=now).where(db.Ticket.id == ticket.id).execute()

    for k in range(4):  # route before the check's first, second, ... statement (or not at all)
        with db.database.connection_context():
            db.Notification.delete().execute()
            db.Ticket.update(filtered_at=None).execute()
        calls = {"n": 0}

        def execute_sql(*args: Any, k: int = k, calls: dict[str, int] = calls, **kwargs: Any) -> Any:
            n = calls["n"]
            calls["n"] += 1  # first: route()'s own statements come through here too
            if n == k:
                route()
            return real_execute(*args, **kwargs)

        monkeypatch.setattr(target, "execute_sql", execute_sql)
        settled = all_sent(None)
        monkeypatch.undo()
        assert not settled, f"all_sent() said settled with the routing committed before its statement {k + 1}"
    target.close()
