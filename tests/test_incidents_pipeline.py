"""Incidents end to end, with real parts: pty modem emulator, PTB over HTTP to the Bot API stand-in, SQLite.

Three emergencies at once (20 SMS each from 60 numbers over 3 minutes of the
service's clock) and 20 complaints that stand alone, several of them near the
events (the same kind in another village, a road damaged by the flood). The
service's ShiftedClock is moved with each SMS's minute, so three minutes pass
for the service in a few seconds of the test, and the edit pacing (one per
incident and chat per 30 s) is what production would see.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from laporgub import db
from laporgub.clock import ShiftedClock
from laporgub.sim.botapi import BotApiServer
from laporgub.tickets import hashtag
from tests.conftest import ROOT, TOKEN, db_count, outboxes_settled, wait_until

CHANNEL = -1001000000001
DARURAT = -1001000000005
GUBERNUR = -1001000000100  # a leader following darurat (config.toml)
PIC_DARURAT = 444444444
BURSTS = ROOT / "tests" / "data" / "incident_bursts_holdout.jsonl"


def burst(name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in BURSTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted((line for line in lines if line["burst"] == name), key=lambda line: line["minute"])


def add_darurat_pic(data: dict[str, Any]) -> None:
    data["pics"].append({"telegram_id": PIC_DARURAT, "name": "Sri Lestari", "agency": "BPBD Provinsi Jawa Tengah",
                         "surat_tugas": "360/18/2026", "groups": ["darurat"], "admin": False})


@pytest.fixture()
def strict_botapi() -> Iterator[BotApiServer]:
    """The Bot API stand-in enforcing Telegram's flood limits (20 a minute per group, edits counted)."""
    server = BotApiServer(token=TOKEN, enforce_limits=True).start()
    yield server
    server.stop()


def sent(botapi: Any, chat_id: int, method: str = "sendMessage") -> list[Any]:
    return [m for m in botapi.messages_for(chat_id) if m.method == method]


def tickets() -> list[db.Ticket]:
    with db.database.connection_context():
        return list(db.Ticket.select().order_by(db.Ticket.id))


def no_edit_waiting() -> bool:
    with db.database.connection_context():
        return not db.Notification.select().where((db.Notification.kind == "edit")
                                                  & (db.Notification.status == "pending")).exists()


def feed(modem: Any, clock: ShiftedClock, lines: list[dict[str, Any]]) -> None:
    """Each SMS at its minute of the service's clock (the modem's storage drained as it goes)."""
    start = clock.time()
    for line in lines:
        ahead = start + line["minute"] * 60 - clock.time()
        if ahead > 0:
            clock.jump(ahead)
        assert wait_until(lambda: len(modem.stored) < 20, timeout=20), f"modem storage not drained: {modem.stored}"
        modem.receive_sms(line["sender"], line["text"])
        time.sleep(0.08)  # a few seconds in all: the first reports' messages go out while the others arrive


def test_three_events_become_three_incidents_and_one_reply_answers_every_reporter(
        modem: Any, strict_botapi: Any, make_service: Any) -> None:
    botapi = strict_botapi
    lines = burst("tiga")
    events = sorted({line["event"] for line in lines if line["event"]})
    assert len(lines) == 80 and len(events) == 3 and len({line["sender"] for line in lines}) == 80
    clock = ShiftedClock(time.time())
    # Production pacing (one message per 3.2 s per group): 14 chats stay far below the 30 a second overall.
    service = make_service([modem], botapi, tweak=add_darurat_pic, clock=clock, group_interval=3.2)
    feed(modem, clock, lines)
    assert wait_until(lambda: len(tickets()) == 80, timeout=60), f"{len(tickets())} tickets of 80"
    # The last edits wait for their 30 s: let the service's clock pass them.
    for _ in range(3):
        clock.jump(31)
        if wait_until(lambda: outboxes_settled() and no_edit_waiting(), timeout=20):
            break
    assert outboxes_settled() and no_edit_waiting()

    by_sender = {t.sender: t for t in tickets()}
    event_of = {by_sender[line["sender"]].id: line["event"] for line in lines}
    all_tickets = tickets()
    # Every complaint keeps its own ticket and acknowledgement, and reaches the channel.
    channel = "\n".join(m.plain_text or "" for m in sent(botapi, CHANNEL))
    assert all(t.number in channel for t in all_tickets)
    acks = Counter(dest for dest, _text in modem.sent_messages)
    assert set(acks) == set(by_sender) and set(acks.values()) == {1}

    # Each event is one incident holding at least 18 of its 20 reports; no standalone complaint is linked.
    incident_of_event = {}
    for event in events:
        held = Counter(t.incident_id for t in all_tickets if event_of[t.id] == event and t.incident_id)
        assert held, f"{event}: not linked at all"
        incident, count = held.most_common(1)[0]
        assert count >= 18, f"{event}: the largest incident holds {count} of 20 ({dict(held)})"
        incident_of_event[event] = incident
    assert len(set(incident_of_event.values())) == 3
    linked_alone = [t.text for t in all_tickets if event_of[t.id] is None and t.incident_id]
    assert not linked_alone, linked_alone

    # Darurat (and its leader): one message per incident (its first report's, edited) plus the threshold
    # notices; reports standing alone are notified as ever.
    with db.database.connection_context():
        anchors = {i.id: db.Ticket.get_by_id(i.anchor) for i in db.Incident.select()}
        darurat_alone = [t for t in all_tickets if not t.incident_id and db.TicketCategory.select().where(
            (db.TicketCategory.ticket == t.id) & (db.TicketCategory.group == "darurat")).exists()]
    notices = {i: [(int(n), int(t)) for m in sent(botapi, DARURAT)
                   for n, t in re.findall(rf"KEJADIAN #K{i}: sudah (\d+) laporan \(melewati (\d+)\)", m.plain_text or "")]
               for i in anchors}
    for chat in (DARURAT, GUBERNUR):
        messages = sent(botapi, chat)
        texts = [m.plain_text or "" for m in messages]
        assert len(messages) <= len(anchors) + sum(map(len, notices.values())) + len(darurat_alone), (chat, texts)
        for t in all_tickets:
            # A ticket's own entry carries its hashtag; the incident's message quotes the newest reports.
            if t.incident_id and t.id != anchors[t.incident_id].id:
                assert not any(hashtag(t.number) in text for text in texts), f"linked {t.number} posted in {chat}"
        for incident, anchor in anchors.items():
            assert sum(hashtag(anchor.number) in text for text in texts) == 1, (incident, chat)
    for event, incident in incident_of_event.items():
        count = sum(1 for t in all_tickets if t.incident_id == incident)
        crossed = [n for n in service.config.incidents.thresholds if n <= count]
        # A short new message per threshold reached (one that waited for a slot gives way to a later one).
        assert 1 <= len(notices[incident]) <= len(crossed), (event, count, notices[incident])
        assert notices[incident][-1][1] == crossed[-1], notices[incident]
        # The incident's message shows the final count (edited as reports joined, or sent after the last one).
        message_id = first_message_of(anchors[incident], DARURAT)
        versions = [m for m in botapi.messages_for(DARURAT) if m.message_id == message_id]
        final = versions[-1].plain_text or ""
        assert f"KEJADIAN #K{incident}" in final and f"{count} laporan" in final, final
        assert [m for m in versions if m.method == "editMessageText"], f"{event}: never edited"
        # Edits paced: at most one per incident and chat per 30 s of the service's clock.
        with db.database.connection_context():
            times = sorted(n.sent_at for n in db.Notification.select().where(
                (db.Notification.incident == incident) & (db.Notification.kind == "edit")
                & (db.Notification.destination == "darurat") & (db.Notification.sent_at.is_null(False))))
        assert all(b - a >= 30 - 0.5 for a, b in zip(times, times[1:])), times
    # Within Telegram's flood limits (the stand-in enforces them), edits included.
    assert not [r for r in botapi.requests if r.status == 429] and botapi.early_retries == 0
    assert service.metrics.value("laporgub_incident_reports_total") >= 3 * 17
    assert service.metrics.value("laporgub_incident_notifications_saved_total") > 50

    # A PIC answers one incident by replying to its message: every one of its reporters gets the SMS, once;
    # nobody else does.
    incident = incident_of_event["klaten-kebakaran-gedaren"]
    message_id = first_message_of(anchors[incident], DARURAT)
    shown = next(m for m in reversed(botapi.messages_for(DARURAT)) if m.message_id == message_id).plain_text or ""
    answer = "Tim damkar dan BPBD Klaten sudah di lokasi, bantuan darurat dikirim sore ini."
    # A combined message carries several incidents' first reports: the reply names the one meant.
    prefix = f"K{incident}: " if len(re.findall(r"KEJADIAN #K\d+", shown)) > 1 else ""
    assert botapi.push_message(chat_id=DARURAT, user_id=PIC_DARURAT, text=prefix + answer,
                               reply_to_message_id=message_id) > 0
    members = {t.sender for t in all_tickets if t.incident_id == incident}
    assert wait_until(lambda: db_count(lambda: db.PicResponse.select().count()) > 0, timeout=20)
    clock.jump(31)  # the edit showing the response waits for its 30 s
    assert wait_until(lambda: outboxes_settled(chat_replies=True) and len(
        [d for d, text in modem.sent_messages if answer[:40] in text]) == len(members), timeout=40), \
        [d for d, text in modem.sent_messages if answer[:40] in text]
    answered = Counter(dest for dest, text in modem.sent_messages if answer[:40] in text)
    assert set(answered) == members and set(answered.values()) == {1}
    with db.database.connection_context():
        responses = db.PicResponse.select().where(db.PicResponse.text == answer).count()
        assert responses == len(members)
        assert {t.status for t in db.Ticket.select().where(db.Ticket.incident == incident)} == {"responded"}
    assert any(f"kejadian #K{incident}" in (m.plain_text or "") and "tercatat" in (m.plain_text or "")
               for m in sent(botapi, DARURAT))


def first_message_of(ticket: db.Ticket, chat_id: int) -> int:
    with db.database.connection_context():
        row = db.Notification.get((db.Notification.ticket == ticket.id) & (db.Notification.chat_id == chat_id)
                                  & (db.Notification.kind == "ticket"))
    assert row.message_id, f"{ticket.number} not sent to {chat_id}"
    return int(row.message_id)



def test_edits_take_the_shared_limiters_slots(strict_botapi: BotApiServer) -> None:
    """An edit reserves a slot like a send: with the chat's budget spent it waits, nothing reaches Telegram."""
    from laporgub.config import Secret, TelegramConfig
    from laporgub.ratelimit import Limits, RateLimiter
    from laporgub.telegram_gateway import TelegramGateway, Throttled

    limiter = RateLimiter(Limits(group_per_minute=2))
    gateway = TelegramGateway(TelegramConfig(base_url=strict_botapi.base_url, token_env="X", admin_chat_id=-1),
                              Secret(TOKEN), limiter)
    gateway.start()
    try:
        sent = gateway.send_message(DARURAT, "kejadian K1: 2 laporan", None)
        gateway.edit_message_text(DARURAT, sent.message_id, "kejadian K1: 3 laporan", None)
        before = len(strict_botapi.requests)
        with pytest.raises(Throttled):
            gateway.edit_message_text(DARURAT, sent.message_id, "kejadian K1: 4 laporan", None)
        assert len(strict_botapi.requests) == before
        assert [m.method for m in strict_botapi.messages_for(DARURAT)] == ["sendMessage", "editMessageText"]
    finally:
        gateway.stop()


def test_a_deleted_incident_message_is_replaced_by_the_incidents_own(
        modem: Any, botapi: BotApiServer, make_service: Any) -> None:
    """Someone deleted the first report's message: the edit gets "message to edit not found" and the incident
    posts its own message in that chat, which later edits rewrite."""
    import httpx

    lines = [line for line in burst("tiga") if line["event"] == "wonosobo-longsor-tieng"]
    clock = ShiftedClock(time.time())
    make_service([modem], botapi, clock=clock)
    modem.receive_sms(lines[0]["sender"], lines[0]["text"])
    assert wait_until(lambda: len(tickets()) == 1 and outboxes_settled(), timeout=20)
    first = tickets()[0]
    message_id = first_message_of(first, DARURAT)
    answer = httpx.post(f"{botapi.base_url}{TOKEN}/deleteMessage", data={"chat_id": DARURAT,
                                                                         "message_id": message_id}).json()
    assert answer == {"ok": True, "result": True}
    for line in lines[1:3]:
        modem.receive_sms(line["sender"], line["text"])
    assert wait_until(lambda: len(tickets()) == 3 and tickets()[2].incident_id, timeout=20)
    incident = tickets()[2].incident_id
    assert wait_until(lambda: any(f"KEJADIAN #K{incident}" in (m.plain_text or "")
                                  for m in sent(botapi, DARURAT)), timeout=30), \
        [(m.method, m.plain_text) for m in botapi.messages_for(DARURAT)]
    own = next(m for m in sent(botapi, DARURAT) if f"KEJADIAN #K{incident}" in (m.plain_text or ""))
    assert "3 laporan" in (own.plain_text or "") or "2 laporan" in (own.plain_text or "")
    # The next report edits the incident's own message (after the 30 s pacing of the service's clock).
    modem.receive_sms(lines[3]["sender"], lines[3]["text"])
    assert wait_until(lambda: len(tickets()) == 4, timeout=20)
    clock.jump(31)
    assert wait_until(lambda: any(m.method == "editMessageText" and m.message_id == own.message_id
                                  and "4 laporan" in (m.plain_text or "") for m in botapi.messages_for(DARURAT)),
                      timeout=30), [(m.method, m.message_id, m.plain_text) for m in botapi.messages_for(DARURAT)]
