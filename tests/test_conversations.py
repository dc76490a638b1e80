"""Conversations (issue 19): a citizen's SMS answering a PIC joins that ticket.

The unit half drives :class:`Intake` and :class:`ResponseDesk` on a SQLite file with a
manual clock (the threading rule, ``/tanya``, ``/pisah``, the reminder to the citizen,
the API's ``messages``); the end-to-end half runs the whole service on the emulators
(pty modem, Bot API stand-in) on SQLite and PostgreSQL, and a `laporgub run` process
killed with SIGKILL between an answer's arrival and its post.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee
import pytest

from laporgub import conversations, db
from laporgub.clock import ManualClock, ShiftedClock
from laporgub.config import Config, ConfigError, parse_config
from laporgub.followup import Followup
from laporgub.intake import Intake, StoreResult, build_classifier
from laporgub.outbox import claim_notifications, route_ticket
from laporgub.pdu import encode_deliver
from laporgub.render import Renderer
from laporgub.responses import IncomingMessage, Outcome, ResponseDesk
from laporgub.routing import Classifier
from tests.conftest import PIC_PU, add_pics, default_data, make_config_data, outboxes_settled, wait_until

BOT = "laporgub_bot"
CHANNEL = -1001000000001
KESEHATAN = -1001000000003
INFRA = -1001000000008
PIC_KES = 111111111  # config.toml: kesehatan
ADMIN = 222222222  # config.toml: channel, admin
STRANGER = 999999999
T0 = 1_796_000_000.0  # 2026-11-30 (WIB), any moment will do

CITIZEN = "+6281234560200"
ROAD = "Jalan rusak berlubang besar di Jl. Kenanga Desa Sidomulyo Ungaran, sudah 3 bulan belum diperbaiki"
QUESTION = "Mohon kirim alamat lengkap dan patokan lokasinya?"
ADDRESS = "Jl. Kenanga RT 3 RW 2 dekat masjid"
FLOOD = "Banjir setinggi lutut merendam rumah warga di Perumahan Griya Asri sejak subuh tadi"
FERTILISER = "Pupuk subsidi langka di kios tani dekat rumah saya"
CLINIC = "Puskesmas di Desa Sidomulyo tutup, tidak ada dokter jaga"


# --------------------------------------------------------------------------
# Unit: intake and desk on a SQLite file, a manual clock.


@dataclass
class Env:
    config: Config
    desk: ResponseDesk
    intake: Intake
    classifier: Classifier
    clock: ManualClock

    def sms(self, text: str, sender: str = CITIZEN) -> StoreResult:
        return self.intake.store_sms("modem-1", _pdu(sender, text), self.clock.time())

    def ticket(self, text: str, sender: str = CITIZEN) -> db.Ticket:
        result = self.sms(text, sender)
        assert result.ticket_id is not None, result
        route_ticket(self.config, self.classifier, result.ticket_id, self.clock.time())
        return db.Ticket.get_by_id(result.ticket_id)

    def handle(self, m: IncomingMessage) -> Outcome:
        with db.database.atomic():
            return self.desk.handle(m, self.clock.time())


_pdus = itertools.count(1)


def _pdu(sender: str, text: str) -> str:
    # A distinct PDU each time (the same text twice is two SMS, not a repeat read): vary the timestamp.
    from datetime import datetime, timedelta, timezone

    when = datetime(2026, 11, 30, 8, 0, tzinfo=timezone(timedelta(hours=7))) + timedelta(seconds=next(_pdus))
    return encode_deliver(sender, text, timestamp=when)[0]


def make_env(tmp_path: Path, tweak: Any = None) -> Env:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot")
    add_pics(data)
    if tweak is not None:
        tweak(data)
    config = parse_config(data)
    db.open_database(config.service.database)
    db.database.connect(reuse_if_open=True)
    classifier = build_classifier(config)
    clock = ManualClock(T0)
    return Env(config, ResponseDesk(config, BOT), Intake(config, classifier, Renderer(config), clock), classifier,
               clock)


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    yield make_env(tmp_path)
    db.database.close()


_updates = itertools.count(700)
_messages = itertools.count(5000)


def msg(text: str, *, user: int = PIC_PU, chat: int = INFRA, reply_to: int | None = None) -> IncomingMessage:
    return IncomingMessage(update_id=next(_updates), chat_id=chat, chat_type="supergroup",
                           message_id=next(_messages), user_id=user, user_name="Someone", text=text,
                           reply_to_message_id=reply_to, reply_to_bot=reply_to is not None)


def sent_as(ticket: db.Ticket, destination: str, message_id: int, kind: str = "ticket") -> None:
    n = db.Notification.update(status="sent", message_id=message_id).where(
        (db.Notification.ticket == ticket) & (db.Notification.destination == destination)
        & (db.Notification.kind == kind)).execute()
    assert n == 1


def sms_to(number: str) -> list[db.OutboundSms]:
    return list(db.OutboundSms.select().where(db.OutboundSms.destination == number).order_by(db.OutboundSms.id))


def asked(env: Env, question: str = QUESTION) -> tuple[db.Ticket, IncomingMessage]:
    """A road complaint whose PIC replied to its notification with a question."""
    ticket = env.ticket(ROAD)
    sent_as(ticket, "infrastruktur", 100)
    sent_as(ticket, "channel", 200)
    env.clock.advance(60)
    reply = msg(question, reply_to=100)
    assert env.handle(reply).action == "response"
    return db.Ticket.get_by_id(ticket.id), reply


def test_answer_after_a_question_joins_the_ticket_as_a_reply(env: Env) -> None:
    ticket, question = asked(env)
    assert ticket.waiting_since == env.clock.time() and ticket.status == "responded"
    assert db.PicResponse.get().question is True
    asking = sms_to(CITIZEN)[-1]
    assert "Pertanyaan Dinas PU Bina Marga" in asking.text and "balas SMS ini" in asking.text

    env.clock.advance(600)  # ten minutes later
    result = env.sms(ADDRESS)
    assert result.kind == "answer" and result.ticket_id is None and result.ticket_number == ticket.number
    assert result.answer_seconds == pytest.approx(600, abs=1)
    assert db.Ticket.select().count() == 1  # no new ticket
    ack = sms_to(CITIZEN)[-1]
    assert ack.purpose == "answer_ack"
    assert ack.text == f"Terima kasih, jawaban Anda diteruskan ke petugas (tiket {ticket.number})."
    assert db.Ticket.get_by_id(ticket.id).waiting_since is None
    inbound = db.InboundSms.select().order_by(db.InboundSms.id.desc()).get()
    assert inbound.kind == "answer" and inbound.ticket_id == ticket.id

    # Posted in the ticket's groups: a reply to the PIC's question where the PIC wrote, else to the notification.
    rows = {r.destination: r for r in db.Notification.select().where(db.Notification.kind == "answer")}
    assert set(rows) == {"channel", "infrastruktur", "kabkota"}
    renderer = Renderer(env.config)
    infra = claim_notifications("infrastruktur", renderer, env.clock.time())
    assert [(r.kind, r.reply_to) for r in infra] == [("answer", question.message_id)]
    shown = infra[0].messages[0]
    assert ADDRESS in shown and ticket.number in shown and "0812****0200" in shown and "81234560200" not in shown
    assert "pisah" not in shown  # not ambiguous
    assert [r.reply_to for r in claim_notifications("channel", renderer, env.clock.time())] == [200]
    assert [r.reply_to for r in claim_notifications("kabkota", renderer, env.clock.time())
            if r.kind == "answer"] == [None]  # its notification was never sent: a plain post

    # The PIC's reply to the posted answer reaches the same citizen.
    db.Notification.update(status="sent", message_id=300).where(
        db.Notification.id == rows["infrastruktur"].id).execute()
    env.clock.advance(120)
    assert env.handle(msg("Terima kasih, tim kami meluncur besok pagi.", reply_to=300)).action == "response"
    last = sms_to(CITIZEN)[-1]
    assert last.purpose == "response" and "tim kami meluncur" in last.text and ticket.number in last.text
    assert db.Ticket.get_by_id(ticket.id).waiting_since is None  # a statement: waits for nobody


def test_a_clearly_different_problem_is_a_new_ticket(env: Env) -> None:
    ticket, _ = asked(env)
    env.clock.advance(600)
    flood = env.sms(FLOOD)  # an emergency: never held in a road ticket's thread
    assert flood.kind == "complaint" and flood.ticket_number != ticket.number
    env.clock.advance(60)
    farm = env.sms(FERTILISER)  # another topic, nothing in common with the road
    assert farm.kind == "complaint" and farm.ticket_id is not None
    assert db.Ticket.select().count() == 3
    acks = [s for s in sms_to(CITIZEN) if s.purpose == "ack"]
    assert [a.ticket_id for a in acks][-2:] == [flood.ticket_id, farm.ticket_id]
    assert db.Ticket.get_by_id(ticket.id).waiting_since is not None  # still waiting for the answer


def test_without_a_pic_message_in_the_window_nothing_changes(env: Env) -> None:
    first = env.ticket(ROAD)
    env.clock.advance(600)
    second = env.sms(ADDRESS)  # nobody wrote to the citizen: a complaint as ever
    assert second.kind == "complaint" and second.ticket_id not in (None, first.id)
    # A PIC message older than the window counts for nothing either.
    sent_as(first, "infrastruktur", 100)
    assert env.handle(msg(QUESTION, reply_to=100)).action == "response"
    env.clock.advance(env.config.conversations.window_hours * 3600 + 1)
    late = env.sms("Jl. Kenanga RT 3 dekat masjid besar")
    assert late.kind == "complaint" and late.ticket_id is not None


def test_conversations_off_behaves_as_before(tmp_path: Path) -> None:
    env = make_env(tmp_path, lambda data: data.update(conversations={"enabled": False}))
    try:
        asked(env)
        env.clock.advance(600)
        assert env.sms(ADDRESS).kind == "complaint"
    finally:
        db.database.close()


def test_ambiguous_answer_joins_and_says_so_then_pisah_makes_it_a_ticket(env: Env) -> None:
    ticket, _ = asked(env)
    env.clock.advance(600)
    result = env.sms(CLINIC)  # another topic, but the same village: joined, flagged
    assert result.kind == "answer" and result.ticket_number == ticket.number
    row = db.Notification.get((db.Notification.kind == "answer") & (db.Notification.destination == "infrastruktur"))
    assert "mungkin laporan lain (Group Kesehatan)" in row.text and "/pisah" in row.text
    db.Notification.update(status="sent", message_id=400).where(db.Notification.id == row.id).execute()

    # Strangers and PICs of other groups cannot split it.
    before = db.Ticket.select().count()
    assert env.handle(msg("/pisah", user=STRANGER, reply_to=400)).action == "refused"
    assert env.handle(msg("/pisah", user=PIC_KES, reply_to=400)).action == "refused"
    assert db.Ticket.select().count() == before

    outcome = env.handle(msg("/pisah", reply_to=400))
    assert outcome.action == "split" and outcome.outbound_sms
    new = db.Ticket.get(db.Ticket.number == outcome.ticket)
    assert new.text == CLINIC and new.sender == CITIZEN and new.filtered_at is None  # the filter routes it
    inbound = db.InboundSms.get(db.InboundSms.text == CLINIC)
    assert inbound.kind == "complaint" and inbound.ticket_id == new.id
    ack = sms_to(CITIZEN)[-1]
    assert ack.purpose == "ack" and new.number in ack.text
    assert env.handle(msg("/pisah", reply_to=400)).action == "rejected"  # split already
    route_ticket(env.config, env.classifier, new.id, env.clock.time())
    assert "kesehatan" in {c.group for c in db.TicketCategory.select().where(db.TicketCategory.ticket == new.id)}


def test_pisah_with_the_ticket_number_splits_its_latest_answer(env: Env) -> None:
    ticket, _ = asked(env)
    env.clock.advance(600)
    assert env.sms(ADDRESS).kind == "answer"
    outcome = env.handle(msg(f"/pisah {ticket.number}"))
    assert outcome.action == "split" and outcome.ticket != ticket.number
    assert db.Ticket.get(db.Ticket.number == outcome.ticket).text == ADDRESS
    # Nothing left to split: the old answer (a ticket not in an incident) gets the incident's refusal.
    assert env.handle(msg(f"/pisah {ticket.number}")).action == "rejected"


def test_tanya_marks_the_ticket_waiting_and_strangers_cannot_ask(env: Env) -> None:
    ticket = env.ticket(ROAD)
    assert env.handle(msg(f"/tanya {ticket.number} Sejak kapan jalannya rusak", user=STRANGER)).action == "refused"
    assert env.handle(msg(f"/tanya {ticket.number} Sejak kapan", user=PIC_KES, chat=KESEHATAN)).action == "refused"
    assert env.handle(msg(f"/tanya {ticket.number}")).action == "rejected"  # no question
    assert db.Ticket.get_by_id(ticket.id).waiting_since is None and not db.PicResponse.select().exists()
    outcome = env.handle(msg(f"/tanya {ticket.number} Sejak kapan jalannya rusak"))  # no "?": asked all the same
    assert outcome.action == "response" and outcome.outbound_sms
    t = db.Ticket.get_by_id(ticket.id)
    assert t.waiting_since == env.clock.time() and t.status == "responded"
    assert db.PicResponse.get().question is True
    assert "Pertanyaan" in sms_to(CITIZEN)[-1].text
    reply = db.ChatReply.select().order_by(db.ChatReply.id.desc()).get()
    assert reply.text.startswith(f"✅ Pertanyaan untuk tiket {ticket.number}") and "balasan" in reply.text
    env.clock.advance(3600)
    assert env.sms("Sejak bulan Agustus pak").kind == "answer"


def test_the_ticket_most_recently_answered_wins(env: Env) -> None:
    road = env.ticket(ROAD)
    env.clock.advance(60)
    clinic = env.ticket("Puskesmas Sidomulyo menolak pasien BPJS, obat juga kosong")
    assert env.handle(msg(f"/tanya {road.number} Di RT berapa?")).action == "response"
    env.clock.advance(60)
    assert env.handle(msg(f"/tanya {clinic.number} Puskesmas yang mana?", user=PIC_KES,
                          chat=KESEHATAN)).action == "response"
    env.clock.advance(60)
    assert env.sms("Yang di dekat pasar").ticket_number == clinic.number
    env.clock.advance(60)
    assert env.handle(msg(f"/tanggapi {road.number} Lokasinya di RT berapa?")).action == "response"
    env.clock.advance(60)
    assert env.sms("RT 3 pak").ticket_number == road.number
    # A closed ticket takes no answers.
    assert env.handle(msg(f"/selesai {road.number} Sudah ditambal")).action == "close"
    env.clock.advance(60)
    assert env.sms("Terima kasih banyak").ticket_number == clinic.number


def test_status_queries_and_other_ticket_numbers_are_not_answers(env: Env) -> None:
    ticket, _ = asked(env)
    other = env.ticket(FERTILISER, sender="+6285712345678")
    env.clock.advance(60)
    status = env.sms(f"CEK {ticket.number}")
    assert status.kind == "status_query" and sms_to(CITIZEN)[-1].purpose == "status"
    assert QUESTION in sms_to(CITIZEN)[-1].text  # the status shows the latest message: the question
    named = env.sms(f"Laporan saya {other.number} tentang pupuk langka belum ada kabar")
    assert named.kind != "answer"
    assert db.Ticket.get_by_id(ticket.id).waiting_since is not None  # neither was the answer


def test_flood_control_keeps_working_in_a_conversation(env: Env) -> None:
    ticket, _ = asked(env)
    kinds = []
    for i in range(8):
        env.clock.advance(20)
        kinds.append(env.sms(f"Tambahan keterangan nomor {i} soal lokasinya pak").kind)
    # flood_count = 5 SMS in 10 minutes, the complaint included: the rest are batched follow-ups.
    assert kinds[:4] == ["answer"] * 4 and set(kinds[4:]) == {"followup"}
    assert db.Ticket.select().count() == 1
    assert db.Notification.select().where((db.Notification.kind == "followup")
                                          & (db.Notification.ticket == ticket.id)).exists()


def test_the_waiting_citizen_is_reminded_once_and_the_pic_not_at_all(env: Env) -> None:
    ticket, _ = asked(env)
    followup = Followup(env.config)
    env.clock.advance(23 * 3600)
    assert followup.run(env.clock.time()).citizen_reminders == 0
    env.clock.advance(3600 + 1)
    result = followup.run(env.clock.time())
    assert result.citizen_reminders == 1 and result.reminders == 0
    reminder = sms_to(CITIZEN)[-1]
    assert reminder.purpose == "reminder" and ticket.number in reminder.text and "alamat lengkap" in reminder.text
    env.clock.advance(3 * 24 * 3600)  # days later: neither reminded again nor the PIC reminded or escalated
    again = followup.run(env.clock.time())
    assert (again.citizen_reminders, again.reminders, again.escalations) == (0, 0, 0)
    assert not db.Notification.select().where(db.Notification.kind.in_(["reminder", "escalation"])).exists()
    # A waiting ticket is never a PIC's to be reminded of, even when it counts as unanswered.
    db.Ticket.update(status="open").where(db.Ticket.id == ticket.id).execute()
    assert followup.run(env.clock.time()).reminders == 0
    # A new question gets its own reminder; an answer ends the wait (nothing more to remind).
    db.Ticket.update(status="responded", waiting_since=env.clock.time()).where(db.Ticket.id == ticket.id).execute()
    env.clock.advance(25 * 3600)
    assert followup.run(env.clock.time()).citizen_reminders == 1
    assert conversations.waiting_count() == 1
    from laporgub.metrics import read_state

    assert read_state(env.clock.time(), ["infrastruktur"], ["infrastruktur"]).waiting_for_citizen == 1
    env.clock.advance(60)
    assert env.intake.store_sms("modem-1", _pdu(CITIZEN, "Di depan masjid pak"), env.clock.time()).kind in (
        "complaint", "answer")  # out of the window (the PIC wrote days ago): judged on its own
    assert followup.run(env.clock.time() + 30 * 24 * 3600).citizen_reminders == 0


def test_api_view_keeps_the_thread_in_order(env: Env) -> None:
    from laporgub.api.views import TicketViews

    ticket, _ = asked(env)
    env.clock.advance(600)
    env.sms("Jl. Kenanga RT 3, hubungi 081234567890 bila perlu")
    env.clock.advance(60)
    assert env.handle(msg(f"/tanggapi {ticket.number} Baik, segera kami cek.")).action == "response"
    view = TicketViews(env.config).tickets([db.Ticket.get_by_id(ticket.id)])[0]
    assert [(m["from"], m["kind"]) for m in view["messages"]] == [
        ("citizen", "report"), ("pic", "question"), ("citizen", "answer"), ("pic", "response")]
    assert "081234567890" not in str(view["messages"]) and "0812****7890" in view["messages"][2]["text"]
    assert [r["action"] for r in view["responses"]] == ["response", "response"]  # unchanged in meaning
    assert view["waiting_for_citizen"] is False


def test_conversations_config_is_validated() -> None:
    data = default_data()
    data["conversations"] = {"window_hours": -1, "remind_citizen_hour": 24}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    problems = "\n".join(exc.value.problems)
    assert "conversations.window_hours" in problems and "remind_citizen_hours" in problems
    config = parse_config(default_data())
    assert config.conversations.window_hours == 72 and config.conversations.remind_citizen_hours == 24
    assert "(tiket $ticket)" in config.texts.answer_ack_sms


@pytest.mark.both_backends
def test_migration_6_adds_conversations_to_an_older_schema(tmp_path: Path, db_url: str | None) -> None:
    from playhouse.migrate import PostgresqlMigrator, SqliteMigrator
    from playhouse.migrate import migrate as apply

    url = db_url or f"sqlite:///{tmp_path / 'old.db'}"
    db.open_database(url)
    with db.database.connection_context():
        target = db.database.obj
        migrator = SqliteMigrator(target) if db.is_sqlite() else PostgresqlMigrator(target)
        legacy = {"legacy": True} if db.is_sqlite() else {}
        apply(migrator.drop_index("ticket", "ticket_waiting_since"),
              migrator.drop_column("ticket", "waiting_since", **legacy),
              migrator.drop_column("pic_response", "question", **legacy))
        db.SchemaVersion.delete().where(db.SchemaVersion.version >= 6).execute()  # a version 5 database
    db.open_database(url)
    with db.database.connection_context():
        assert "waiting_since" in {c.name for c in db.database.get_columns("ticket")}
        assert "question" in {c.name for c in db.database.get_columns("pic_response")}
        assert db.SchemaVersion.select(peewee.fn.MAX(db.SchemaVersion.version)).scalar() == db.SCHEMA_VERSION == 6
    db.database.close()


# --------------------------------------------------------------------------
# End to end: the real service on the emulators.


def tickets() -> list[db.Ticket]:
    with db.database.connection_context():
        return list(db.Ticket.select().order_by(db.Ticket.id))


def to_citizen(modem: Any) -> list[str]:
    return [text for dest, text in modem.sent_messages if dest == CITIZEN]


def pic_message_ids() -> list[int]:
    """The Telegram message ids of the PICs' messages recorded (the ones the answers reply to)."""
    with db.database.connection_context():
        return [r.message_id for r in db.PicResponse.select().order_by(db.PicResponse.id)]


def in_chat(botapi: Any, chat: int, needle: str) -> list[Any]:
    return [m for m in botapi.messages_for(chat) if needle in (m.plain_text or "")]


@pytest.mark.both_backends
def test_question_answer_and_the_next_reply_end_to_end(modem: Any, botapi: Any, make_service: Any) -> None:
    clock = ShiftedClock(T0)
    service = make_service([modem], botapi, tweak=add_pics, clock=clock)
    modem.receive_sms(CITIZEN, ROAD)
    assert wait_until(lambda: len(tickets()) == 1 and outboxes_settled(), timeout=30)
    ticket = tickets()[0]
    notification = in_chat(botapi, INFRA, ticket.number)[-1]
    question_id = botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text=QUESTION,
                                      reply_to_message_id=notification.message_id)
    assert question_id > 0
    assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == CITIZEN]) == 2, timeout=20)
    assert "Pertanyaan Dinas PU Bina Marga" in to_citizen(modem)[-1]
    pic_message_id = pic_message_ids()[-1]

    clock.jump(600)  # the citizen answers ten minutes later
    modem.receive_sms(CITIZEN, ADDRESS)
    assert wait_until(lambda: in_chat(botapi, INFRA, ADDRESS) and outboxes_settled(), timeout=30)
    assert len(tickets()) == 1  # no new ticket
    assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == CITIZEN]) == 3, timeout=20)
    ack = to_citizen(modem)[-1]
    assert ack == f"Terima kasih, jawaban Anda diteruskan ke petugas (tiket {ticket.number})."
    assert service.metrics.value("laporgub_citizen_answers_total") == 1
    assert service.metrics.value("laporgub_citizen_answer_seconds_count") == 1
    assert service.metrics.value("laporgub_citizen_answer_seconds_bucket", le="900.0") == 1  # ten minutes
    posted = in_chat(botapi, INFRA, ADDRESS)
    assert len(posted) == 1 and posted[0].reply_to_message_id == pic_message_id
    assert "0812****0200" in (posted[0].plain_text or "")
    channel = in_chat(botapi, CHANNEL, ADDRESS)
    assert len(channel) == 1 and channel[0].reply_to_message_id == in_chat(botapi, CHANNEL, ticket.number)[0].message_id
    for m in botapi.messages:
        assert "81234560200" not in (m.text or "")

    # The PIC's next reply (to the posted answer) reaches the citizen.
    botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text="Terima kasih, tim kami meluncur besok.",
                        reply_to_message_id=posted[0].message_id)
    assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == CITIZEN]) == 4, timeout=20)
    assert "tim kami meluncur" in to_citizen(modem)[-1] and ticket.number in to_citizen(modem)[-1]
    with db.database.connection_context():
        assert db.InboundSms.select().where(db.InboundSms.kind == "answer").count() == 1
        assert db.Ticket.get_by_id(ticket.id).waiting_since is None


def test_flood_report_in_a_conversation_is_a_new_ticket_end_to_end(modem: Any, botapi: Any,
                                                                     make_service: Any) -> None:
    make_service([modem], botapi, tweak=add_pics)
    modem.receive_sms(CITIZEN, ROAD)
    assert wait_until(lambda: len(tickets()) == 1 and outboxes_settled(), timeout=30)
    ticket = tickets()[0]
    botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text=f"/tanya {ticket.number} Sejak kapan rusaknya?")
    assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == CITIZEN]) == 2, timeout=20)
    modem.receive_sms(CITIZEN, FLOOD)
    assert wait_until(lambda: len(tickets()) == 2 and outboxes_settled(), timeout=30)
    flood = tickets()[1]
    assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == CITIZEN]) == 3, timeout=20)
    assert flood.number in to_citizen(modem)[-1]  # the acknowledgement with its own number
    assert in_chat(botapi, -1001000000005, flood.number)  # darurat


# --------------------------------------------------------------------------
# kill -9 between the answer's arrival and its post.


def test_sigkill_between_answer_and_post_posts_it_once(tmp_path: Path, modem: Any, botapi: Any) -> None:
    from tests.conftest import write_config
    from tests.test_process import Proc, free_port, ready

    port = free_port()
    data = make_config_data(tmp_path, [modem.port], botapi.base_url, group_interval=0.2, sweep=1.0)
    data["metrics"]["listen"] = f"127.0.0.1:{port}"
    add_pics(data)
    config = write_config(tmp_path / "config.toml", data)
    url = data["service"]["database"]
    procs: list[Proc] = []
    try:
        procs.append(Proc(config, tmp_path / "service.log"))
        assert wait_until(lambda: ready(port), timeout=30), procs[0].log.read_text()
        modem.receive_sms(CITIZEN, ROAD)
        # Posted, and its message id committed (a reply to it must find the ticket).
        assert wait_until(lambda: in_chat(botapi, INFRA, "Jl. Kenanga") and _notified(url), timeout=30)
        notification = in_chat(botapi, INFRA, "Jl. Kenanga")[-1]
        botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text=QUESTION, reply_to_message_id=notification.message_id)
        assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == CITIZEN]) == 2, timeout=90), \
            [line[:300] for line in procs[0].log.read_text().splitlines()
             if any(k in line for k in ("telegram_update", "pic_", "sms_sent", "update_", "poll", "WARNING", "ERROR"))]
        db.database.initialize(db.make_database(url))
        pic_message_id = pic_message_ids()[-1]

        botapi.set_down(True)  # the answer arrives and is committed, but cannot be posted yet
        modem.receive_sms(CITIZEN, ADDRESS)
        assert wait_until(lambda: _answer_rows(url) >= 3, timeout=30), procs[0].log.read_text()[-3000:]
        procs[0].proc.send_signal(signal.SIGKILL)
        procs[0].proc.wait(10)
        botapi.set_down(False)

        procs.append(Proc(config, tmp_path / "service.log"))
        assert wait_until(lambda: len(in_chat(botapi, INFRA, ADDRESS)) >= 1 and _answer_rows(url, "sent") >= 3,
                          timeout=60), procs[1].log.read_text()[-3000:]
        posted = in_chat(botapi, INFRA, ADDRESS)
        assert len(posted) == 1 and posted[0].reply_to_message_id == pic_message_id
        assert len(in_chat(botapi, CHANNEL, ADDRESS)) == 1
        db.database.initialize(db.make_database(url))
        with db.database.connection_context():
            assert db.Ticket.select().count() == 1
            assert db.InboundSms.select().where(db.InboundSms.kind == "answer").count() == 1
        procs[1].proc.send_signal(signal.SIGTERM)
        assert procs[1].proc.wait(15) == 0
    finally:
        for proc in procs:
            proc.close()
        if db.database.obj is not None and not db.database.is_closed():
            db.database.close()


def _answer_rows(url: str, status: str | None = None) -> int:
    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        query = db.Notification.select().where(db.Notification.kind == "answer")
        if status is not None:
            query = query.where(db.Notification.status == status)
        return int(query.count())


def test_monthly_report_counts_questions_answers_and_waits(env: Env) -> None:
    from laporgub.report.aggregate import aggregate
    from laporgub.report.periods import Month

    ticket, _ = asked(env)  # a question a minute after the report
    env.clock.advance(600)
    assert env.sms(ADDRESS).kind == "answer"
    other = env.ticket(FERTILISER, sender="+6285712345678")
    assert env.handle(msg(f"/tanya {other.number} Di kios mana?", user=ADMIN, chat=CHANNEL)).action == "response"
    report = aggregate(db.database.obj, Month.of(T0, env.config.tz), tz=env.config.tz,
                       timezone_name=env.config.service.timezone, as_of=env.clock.time() + 1,
                       target_seconds=3 * 86400, sla_limits=env.config.sla.as_dict(),
                       group_names={k: g.name for k, g in env.config.groups.items()})
    c = report.totals.conversations
    assert (c.questions, c.answers, c.waiting) == (2, 1, 1)
    assert c.median_answer_seconds == pytest.approx(600, abs=1)
    # Response times keep their meaning: a question is the first response, the answer is no complaint.
    assert report.totals.stats.received == 2 and report.totals.stats.responded == 2
    assert report.totals.stats.median_seconds is not None


def test_a_reply_to_an_answer_in_an_incident_goes_to_that_citizen_only(env: Env) -> None:
    DARURAT = -1001000000005
    first = env.ticket("Banjir rob setinggi lutut di Desa Bedono Kec. Sayung Demak, air masuk rumah warga",
                       sender="+6281100000001")
    env.clock.advance(60)
    second = env.ticket("Mohon bantuan, Desa Bedono Sayung Demak terendam banjir sejak subuh, warga butuh perahu",
                        sender="+6281100000002")
    second = db.Ticket.get_by_id(second.id)
    assert second.incident_id is not None and second.incident_id == db.Ticket.get_by_id(first.id).incident_id
    sent_as(first, "darurat", 500)
    # A question to the incident reaches both reporters; the second answers.
    assert env.handle(msg("Berapa KK yang terdampak?", user=ADMIN, chat=DARURAT, reply_to=500)).action == "response"
    assert db.Ticket.select().where(db.Ticket.waiting_since.is_null(False)).count() == 2
    env.clock.advance(300)
    answer = env.sms("Sekitar 40 KK pak, di RT 2 dan RT 3", sender="+6281100000002")
    assert answer.kind == "answer" and answer.ticket_number == second.number
    post = db.Notification.get((db.Notification.kind == "answer") & (db.Notification.destination == "darurat"))
    assert [r.reply_to for r in claim_notifications("darurat", Renderer(env.config), env.clock.time())
            if r.kind == "answer"] == [db.PicResponse.select().order_by(db.PicResponse.id).first().message_id]
    db.Notification.update(status="sent", message_id=600).where(db.Notification.id == post.id).execute()
    before = len(sms_to("+6281100000001"))
    assert env.handle(msg("Baik, perahu dikirim ke RT 2.", user=ADMIN, chat=DARURAT, reply_to=600)).action \
        == "response"
    assert len(sms_to("+6281100000001")) == before  # the other reporter is not told
    assert "perahu dikirim" in sms_to("+6281100000002")[-1].text


@pytest.mark.parametrize(("text", "reason"), [
    (ADDRESS, "plain"),  # the model's guess (infrastruktur) is no topic: a plain answer
    ("Sejak bulan Agustus pak", "plain"),  # the learned model says darurat; no keyword does
    ("Sudah 3 bulan, lampu penerangan jalan di sana juga mati", "same_topic"),
    ("Jalannya rusak sampai depan puskesmas, dokter juga susah lewat", "also_other_topic"),
    (CLINIC, "linked"),  # another topic, the same village
    (FERTILISER, None),  # another topic, nothing in common
    (FLOOD, None),  # an emergency
])
def test_threading_rule_decides_by_topic_and_link(env: Env, text: str, reason: str | None) -> None:
    asked(env)
    result = env.classifier.classify(text, CITIZEN)
    thread = conversations.find_thread(env.config, env.classifier, CITIZEN, text, result, env.clock.time() + 60)
    assert (thread.reason if thread else None) == reason, (result.matched, thread)
    if thread is not None:
        assert thread.ambiguous == (reason in ("also_other_topic", "linked", "ticket_without_topic"))


def test_threading_rule_joins_anything_to_a_ticket_routed_without_a_keyword(env: Env) -> None:
    ticket = env.ticket("Mohon bantuan bapak untuk warga kami secepatnya")
    assert env.handle(msg(f"/tanya {ticket.number} Masalahnya apa, pak?", user=ADMIN, chat=CHANNEL)).action \
        == "response"
    result = env.classifier.classify(FERTILISER, CITIZEN)
    thread = conversations.find_thread(env.config, env.classifier, CITIZEN, FERTILISER, result, env.clock.time())
    assert thread is not None and thread.reason == "ticket_without_topic" and thread.ambiguous
    assert conversations.find_thread(env.config, env.classifier, "+6289999999999", FERTILISER, result,
                                     env.clock.time()) is None  # another number: no conversation


def _notified(url: str) -> bool:
    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        return db.Notification.select().where((db.Notification.destination == "infrastruktur")
                                              & db.Notification.message_id.is_null(False)).exists()
