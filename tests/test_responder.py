"""PICs' replies and commands: the desk without threads, then the real Service on the emulators.

The unit half calls :class:`ResponseDesk` on a SQLite file; the integration half
runs the whole service (pty modem emulator, Bot API stand-in over HTTP/1.1,
the Responder's getUpdates long polling) and plays PICs and strangers with
``BotApiServer.push_message``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from laporgub import db
from laporgub.config import Config, parse_config
from laporgub.intake import Intake, build_classifier
from laporgub.outbox import route_ticket
from laporgub.pdu import encode_deliver
from laporgub.render import Renderer
from laporgub.responses import IncomingMessage, Outcome, ResponseDesk, load_offset, save_offset
from laporgub.routing import Classifier
from laporgub.sim.botapi import BotApiServer
from tests.conftest import PIC_PU, TOKEN, add_pics, db_count, make_config_data, outboxes_settled, wait_until

BOT = "laporgub_bot"
CHANNEL = -1001000000001
KESEHATAN = -1001000000003
ENERGI = -1001000000009
INFRA = -1001000000008
ADMIN_CHAT = -1001000000000
PIC_KES = 111111111  # config.toml: kesehatan, Dinas Kesehatan Provinsi Jawa Tengah
ADMIN = 222222222  # config.toml: channel, admin = true
STRANGER = 999999999

PUSKESMAS = "Puskesmas menolak pasien BPJS, obat juga kosong di apotek puskesmas kami"
JEMBATAN = "Jembatan gantung di desa kami putus, anak sekolah tidak bisa lewat"
SPAM = "Selamat! Nomor Anda mendapatkan hadiah cek tunai Rp 175jt dari PT Undian. Info klik bit.ly/hadiah"


# --------------------------------------------------------------------------
# The desk, no threads.


@dataclass
class Env:
    config: Config
    desk: ResponseDesk
    intake: Intake
    classifier: Classifier


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot")
    add_pics(data)
    config = parse_config(data)
    db.open_database(config.service.database)
    db.database.connect(reuse_if_open=True)
    classifier = build_classifier(config)
    yield Env(config, ResponseDesk(config, BOT), Intake(config, classifier, Renderer(config)), classifier)
    db.database.close()


_updates = itertools.count(500)
_messages = itertools.count(9000)


def msg(text: str | None, *, user: int = PIC_KES, chat: int = KESEHATAN, reply_to: int | None = None,
        chat_type: str = "supergroup") -> IncomingMessage:
    return IncomingMessage(update_id=next(_updates), chat_id=chat, chat_type=chat_type, message_id=next(_messages),
                           user_id=user, user_name="Someone", text=text, reply_to_message_id=reply_to,
                           reply_to_bot=reply_to is not None)


def new_ticket(env: Env, sender: str, text: str) -> db.Ticket:
    result = env.intake.store_sms("modem-1", encode_deliver(sender, text)[0], time.time())
    assert result.ticket_id is not None
    route_ticket(env.config, env.classifier, result.ticket_id)
    return db.Ticket.get_by_id(result.ticket_id)


def sent_as(ticket: db.Ticket, destination: str, message_id: int) -> None:
    """The dispatcher sent this ticket's notification to ``destination`` as ``message_id``."""
    n = db.Notification.update(status="sent", message_id=message_id).where(
        (db.Notification.ticket == ticket) & (db.Notification.destination == destination)).execute()
    assert n == 1


def handle(env: Env, m: IncomingMessage) -> Outcome:
    with db.database.atomic():
        return env.desk.handle(m, time.time())


def counts() -> tuple[int, ...]:
    return (db.PicResponse.select().count(), db.OutboundSms.select().where(db.OutboundSms.purpose != "ack").count(),
            db.Notification.select().count(), db.TicketCategory.select().where(db.TicketCategory.active).count(),
            db.Ticket.select().where(db.Ticket.status != "open").count())


def last_reply() -> db.ChatReply:
    return db.ChatReply.select().order_by(db.ChatReply.id.desc()).get()


def groups_of(ticket: db.Ticket, active: bool = True) -> list[str]:
    return [c.group for c in db.TicketCategory.select().where(
        (db.TicketCategory.ticket == ticket) & (db.TicketCategory.active == active)).order_by(db.TicketCategory.id)]


def test_reply_to_notification_records_response_and_answers(env: Env) -> None:
    ticket = new_ticket(env, "+6281234560200", PUSKESMAS)
    assert "kesehatan" in groups_of(ticket)
    sent_as(ticket, "kesehatan", 41)
    m = msg("Obat sudah dikirim ke puskesmas hari ini.", reply_to=41)
    outcome = handle(env, m)
    assert (outcome.action, outcome.ticket, outcome.outbound_sms, outcome.replies) == ("response", ticket.number,
                                                                                      True, 1)
    response = db.PicResponse.get()
    assert (response.ticket_id, response.pic_telegram_id, response.action) == (ticket.id, PIC_KES, "response")
    assert response.agency == "Dinas Kesehatan Provinsi Jawa Tengah" and response.text.startswith("Obat sudah")
    assert (response.chat_id, response.message_id) == (KESEHATAN, m.message_id) and response.created_at > 0
    assert db.Ticket.get_by_id(ticket.id).status == "responded"
    sms = db.OutboundSms.get(db.OutboundSms.purpose == "response")
    assert sms.destination == "+6281234560200" and sms.ticket_id == ticket.id
    assert ticket.number in sms.text and "Dinas Kesehatan" in sms.text and "Obat sudah dikirim" in sms.text
    reply = last_reply()
    assert (reply.chat_id, reply.reply_to_message_id, reply.status) == (KESEHATAN, m.message_id, "pending")
    assert ticket.number in reply.text and "tercatat" in reply.text
    # A reply to the bot's own acknowledgement counts for the same ticket.
    db.ChatReply.update(status="sent", message_id=42).where(db.ChatReply.id == reply.id).execute()
    assert handle(env, msg("Tambahan: stok obat aman.", reply_to=42)).action == "response"
    assert db.PicResponse.select().count() == 2


def test_combined_message_needs_the_ticket_named(env: Env) -> None:
    first = new_ticket(env, "+6281234560201", PUSKESMAS)
    second = new_ticket(env, "+6281234560202", "Rumah sakit daerah menolak pasien BPJS yang kritis")
    sent_as(first, "kesehatan", 50)
    sent_as(second, "kesehatan", 50)  # coalesced into one message
    before = counts()
    outcome = handle(env, msg("Sudah kami tindak lanjuti.", reply_to=50))
    assert outcome.action == "rejected" and counts() == before
    text = last_reply().text
    assert first.number in text and second.number in text and "/tanggapi" in text
    outcome = handle(env, msg(f"{second.number.replace('-', '')}: pasien sudah dirawat.", reply_to=50))
    assert (outcome.action, outcome.ticket) == ("response", second.number)
    response = db.PicResponse.get()
    assert response.ticket_id == second.id and response.text == "pasien sudah dirawat."


def test_strangers_and_other_groups_change_nothing(env: Env) -> None:
    ticket = new_ticket(env, "+6281234560203", PUSKESMAS)
    sent_as(ticket, "kesehatan", 60)
    before = counts()
    for m in (
        msg("saya bukan PIC", user=STRANGER, reply_to=60),
        msg(f"/tanggapi {ticket.number} coba", user=STRANGER),
        msg(f"/selesai {ticket.number}", user=STRANGER, chat=STRANGER, chat_type="private"),
        msg(f"/alihkan {ticket.number} energi", user=STRANGER),
        msg(f"/status {ticket.number}", user=STRANGER),
    ):
        assert handle(env, m).action == "refused"
        assert "belum terdaftar sebagai PIC" in last_reply().text
    for m in (
        msg("bukan grup saya", user=PIC_PU, reply_to=60),
        msg(f"/tanggapi {ticket.number} coba", user=PIC_PU, chat=INFRA),
        msg(f"/selesai {ticket.number}", user=PIC_PU),
        msg(f"/alihkan {ticket.number} energi", user=PIC_PU),
    ):
        outcome = handle(env, m)
        assert (outcome.action, outcome.ticket) == ("refused", ticket.number)
        assert "bukan wewenang grup Anda" in last_reply().text
    assert counts() == before
    assert db.Ticket.get_by_id(ticket.id).status == "open"


def test_close_once_and_ticket_from_the_replied_message(env: Env) -> None:
    ticket = new_ticket(env, "+6281234560204", PUSKESMAS)
    sent_as(ticket, "kesehatan", 70)
    outcome = handle(env, msg("/selesai Pasien sudah mendapat layanan.", reply_to=70))
    assert (outcome.action, outcome.ticket) == ("close", ticket.number)
    assert db.Ticket.get_by_id(ticket.id).status == "closed"
    close = db.PicResponse.get()
    assert close.action == "close" and close.text == "Pasien sudah mendapat layanan."
    sms = db.OutboundSms.get(db.OutboundSms.purpose == "response")
    assert ticket.number in sms.text and "SELESAI" in sms.text and "Pasien sudah mendapat layanan." in sms.text
    again = handle(env, msg(f"/selesai {ticket.number}", user=ADMIN, chat=ADMIN, chat_type="private"))
    assert again.action == "rejected" and "sudah berstatus selesai" in last_reply().text
    assert db.PicResponse.select().count() == 1
    # /selesai without text: a default closing text is recorded; the SMS has no dangling space.
    other = new_ticket(env, "+6281234560205", PUSKESMAS)
    assert handle(env, msg(f"/selesai {other.number}", user=ADMIN, chat=CHANNEL)).action == "close"
    sms = db.OutboundSms.select().where(db.OutboundSms.ticket == other, db.OutboundSms.purpose == "response").get()
    assert sms.text.endswith("Provinsi Jawa Tengah.")


def test_reroute_moves_the_ticket_and_tells_both_groups(env: Env) -> None:
    ticket = new_ticket(env, "+6281234560206", PUSKESMAS)
    assert "kesehatan" in groups_of(ticket) and "energi" not in groups_of(ticket)
    before_groups = groups_of(ticket)
    outcome = handle(env, msg(f"/alihkan {ticket.number} Group Energi"))
    assert (outcome.action, outcome.ticket) == ("reroute", ticket.number)
    assert set(outcome.destinations) >= {"energi", "kesehatan"}
    assert groups_of(ticket) == [g for g in before_groups if g != "kesehatan"] + ["energi"]
    left = db.TicketCategory.get((db.TicketCategory.ticket == ticket) & (db.TicketCategory.group == "kesehatan"))
    assert not left.active and left.removed_at is not None
    new = db.TicketCategory.get((db.TicketCategory.ticket == ticket) & (db.TicketCategory.group == "energi"))
    assert new.active and new.source == "reroute"
    notes = {n.destination: n for n in db.Notification.select().where(
        (db.Notification.ticket == ticket) & (db.Notification.status == "pending")
        & db.Notification.destination.in_(["energi", "kesehatan"]) & db.Notification.kind.in_(["ticket", "note"]))}
    assert notes["energi"].kind == "ticket" and notes["energi"].text is None  # the normal notification
    assert notes["kesehatan"].kind == "note" and "Group Energi" in notes["kesehatan"].text
    assert ticket.number in notes["kesehatan"].text
    reroute = db.PicResponse.get()
    assert reroute.action == "reroute" and "Group Energi" in reroute.text
    assert "dialihkan" in last_reply().text
    # The kesehatan PIC no longer acts on it; re-routing to where it is already is refused.
    assert handle(env, msg(f"/tanggapi {ticket.number} masih kami pantau")).action == "refused"
    assert handle(env, msg(f"/alihkan {ticket.number} energi", user=ADMIN, chat=CHANNEL)).action == "rejected"
    assert handle(env, msg(f"/alihkan {ticket.number} pariwisata", user=ADMIN, chat=CHANNEL)).action == "rejected"
    assert "tidak dikenal" in last_reply().text
    # Back to kesehatan (an admin): the row it left is reused (ticket, group is unique).
    assert handle(env, msg(f"/alihkan {ticket.number} kesehatan", user=ADMIN, chat=ENERGI)).action == "reroute"
    assert "kesehatan" in groups_of(ticket) and "energi" not in groups_of(ticket)


def test_reroute_of_suspected_spam_makes_it_a_complaint(env: Env) -> None:
    ticket = new_ticket(env, "+6289912345678", SPAM)
    assert ticket.kind == "spam" and groups_of(ticket) == ["channel"]
    outcome = handle(env, msg(f"/alihkan {ticket.number} pelayanan_publik", user=ADMIN, chat=CHANNEL))
    assert outcome.action == "reroute" and outcome.outbound_sms
    ticket = db.Ticket.get_by_id(ticket.id)
    assert ticket.kind == "complaint" and groups_of(ticket) == ["channel", "pelayanan_publik"]
    ack = db.OutboundSms.get((db.OutboundSms.ticket == ticket) & (db.OutboundSms.purpose == "ack"))
    assert ticket.number in ack.text
    note = db.Notification.get((db.Notification.ticket == ticket) & (db.Notification.kind == "note"))
    assert note.destination == "channel"


def test_status_help_and_what_is_ignored(env: Env) -> None:
    ticket = new_ticket(env, "+6281234560207", PUSKESMAS)
    assert handle(env, msg(f"/status {ticket.number}")).action == "status"
    text = last_reply().text
    assert ticket.number in text and "menunggu tanggapan" in text and "Belum ada tanggapan" in text
    assert "0812****0207" in text and "81234560207" not in text
    handle(env, msg(f"/tanggapi {ticket.number} Sedang kami cek ke lapangan"))
    assert handle(env, msg(f"/status@laporgub_bot {ticket.number.replace('-', '')}")).action == "status"
    assert "Sedang kami cek ke lapangan" in last_reply().text and "Dinas Kesehatan" in last_reply().text
    assert handle(env, msg("/status 991231-0000-1")).action == "rejected"
    assert "tidak ditemukan" in last_reply().text
    assert handle(env, msg("/bantuan", user=STRANGER)).action == "help"
    assert "/tanggapi <tiket> <teks>" in last_reply().text
    assert handle(env, msg("halo bot", user=STRANGER, chat=STRANGER, chat_type="private")).action == "help"
    assert handle(env, msg("/hapus@laporgub_bot 1")).action == "rejected"
    replies = db.ChatReply.select().count()
    for ignored in (msg("obrolan biasa di grup"), msg("/hapus 1"), msg("/status@other_bot 1"), msg(None),
                    msg("/tanggapi", user=PIC_KES, chat=-1005, chat_type="channel")):
        assert handle(env, ignored).action == "ignored"
    assert db.ChatReply.select().count() == replies
    assert handle(env, msg("/tanggapi")).action == "rejected"
    assert "Sebutkan nomor tiketnya" in last_reply().text
    assert handle(env, msg(f"/tanggapi {ticket.number}")).action == "rejected"
    assert "kosong" in last_reply().text


def test_offset_is_durable_and_ages_out(env: Env) -> None:
    now = time.time()
    assert load_offset(now) is None
    save_offset(100_000_007, now)
    save_offset(100_000_008, now)
    assert load_offset(now + 60) == 100_000_008
    # Telegram keeps unconfirmed updates for a day: an older offset protects nothing.
    assert load_offset(now + 25 * 3600) is None


# --------------------------------------------------------------------------
# The real service on the emulators.


def tickets() -> list[db.Ticket]:
    with db.database.connection_context():
        return list(db.Ticket.select().order_by(db.Ticket.id))


def all_sent() -> bool:
    return outboxes_settled(chat_replies=True)  # one snapshot: separate counts can pass between two commits


def responses() -> list[db.PicResponse]:
    with db.database.connection_context():
        return list(db.PicResponse.select().order_by(db.PicResponse.id))


def message_with(botapi: BotApiServer, chat: int, needle: str) -> Any:
    found = [m for m in botapi.messages_for(chat) if needle in (m.plain_text or "")]
    assert found, f"no message with {needle!r} in chat {chat}"
    return found[-1]


def texts_in(botapi: BotApiServer, chat: int) -> list[str]:
    return [m.plain_text or "" for m in botapi.messages_for(chat)]


def complaint(modem: Any, sender: str, text: str, count: int) -> db.Ticket:
    modem.receive_sms(sender, text)
    assert wait_until(lambda: len(tickets()) == count and all_sent(), timeout=20)
    return [t for t in tickets() if t.sender == sender][-1]


def test_pic_reply_reaches_the_citizen(modem: Any, botapi: BotApiServer, make_service: Any) -> None:
    make_service([modem], botapi, tweak=add_pics)
    ticket = complaint(modem, "+6281234560300", PUSKESMAS, 1)
    notification = message_with(botapi, KESEHATAN, ticket.number)
    assert botapi.push_message(chat_id=KESEHATAN, user_id=PIC_KES, text="Obat sudah dikirim, silakan berobat lagi.",
                               reply_to_message_id=notification.message_id) > 0
    assert wait_until(lambda: len(responses()) == 1 and all_sent(), timeout=15)
    ack = message_with(botapi, KESEHATAN, "tercatat")
    assert ticket.number in (ack.plain_text or "") and ack.reply_to_message_id is not None
    assert ack.reply_to_message_id != notification.message_id  # it quotes the PIC's reply
    assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == "+6281234560300"]) == 2, timeout=15)
    answer = [t for d, t in modem.sent_messages if d == "+6281234560300"][-1]
    assert ticket.number in answer and "Dinas Kesehatan" in answer and "Obat sudah dikirim" in answer
    with db.database.connection_context():
        assert db.Ticket.get_by_id(ticket.id).status == "responded"
    # The citizen asks by SMS: the status shows the last response and its agency.
    modem.receive_sms("+6281234560300", f"CEK {ticket.number}")
    assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == "+6281234560300"]) == 3, timeout=20)
    status = [t for d, t in modem.sent_messages if d == "+6281234560300"][-1]
    assert ticket.number in status and "Obat sudah dikirim" in status and "Dinas Kesehatan" in status
    # setMyCommands at start, with Indonesian descriptions.
    assert {c["command"] for c in botapi.commands} == {"tanggapi", "tanya", "selesai", "alihkan", "status", "gabung",
                                                      "pisah", "bantuan"}
    assert any("Tutup tiket" in c["description"] for c in botapi.commands)


def test_commands_end_to_end(modem: Any, botapi: BotApiServer, make_service: Any) -> None:
    make_service([modem], botapi, tweak=add_pics)
    ticket = complaint(modem, "+6281234560301", JEMBATAN, 1)
    assert any(ticket.number in t for t in texts_in(botapi, INFRA))
    number = ticket.number.replace("-", "")  # without dashes, as PICs type it
    botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text=f"/tanggapi@laporgub_bot {number} Tim sedang menuju lokasi")
    assert wait_until(lambda: len(responses()) == 1 and all_sent(), timeout=15)
    # Bare /status works once the bot has posted in the group (privacy mode).
    botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text=f"/status {ticket.number}")
    assert botapi.wait_for(lambda ms: any("Tim sedang menuju lokasi" in (m.plain_text or "") and m.chat_id == INFRA
                                          and "Tanggapan terakhir" in (m.plain_text or "") for m in ms), timeout=15)
    botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text=f"/alihkan {ticket.number} energi")
    assert wait_until(lambda: len(responses()) == 2 and all_sent(), timeout=15)
    assert any(ticket.number in t and "Laporan baru" in t for t in texts_in(botapi, ENERGI))
    note = message_with(botapi, INFRA, "dialihkan dari")
    assert "Group Energi" in (note.plain_text or "") and ticket.number in (note.plain_text or "")
    # The admin closes it from a private chat with the bot.
    botapi.push_message(chat_id=ADMIN, user_id=ADMIN, chat_type="private",
                        text=f"/selesai {ticket.number.lower()} Jembatan darurat sudah dipasang")
    botapi.push_message(chat_id=ADMIN, user_id=ADMIN, chat_type="private", text="/bantuan")
    assert wait_until(lambda: len(responses()) == 3 and all_sent(), timeout=15)
    assert botapi.wait_for(lambda ms: any(m.chat_id == ADMIN and "/alihkan <tiket> <grup>" in (m.plain_text or "")
                                          for m in ms), timeout=10)
    assert [r.action for r in responses()] == ["response", "reroute", "close"]
    with db.database.connection_context():
        assert db.Ticket.get_by_id(ticket.id).status == "closed"
    assert modem.wait_for(lambda m: len([d for d, _ in m.sent_messages if d == "+6281234560301"]) == 3, timeout=15)
    closing = [t for d, t in modem.sent_messages if d == "+6281234560301"][-1]
    assert ticket.number in closing and "SELESAI" in closing and "Jembatan darurat" in closing


def test_strangers_get_a_refusal_and_change_nothing(modem: Any, botapi: BotApiServer, make_service: Any) -> None:
    make_service([modem], botapi, tweak=add_pics)
    ticket = complaint(modem, "+6281234560302", PUSKESMAS, 1)
    notification = message_with(botapi, KESEHATAN, ticket.number)
    botapi.push_message(chat_id=KESEHATAN, user_id=STRANGER, text="Sudah saya urus",
                        reply_to_message_id=notification.message_id)
    botapi.push_message(chat_id=KESEHATAN, user_id=STRANGER, text=f"/selesai@laporgub_bot {ticket.number}")
    botapi.push_message(chat_id=KESEHATAN, user_id=PIC_PU, text=f"/alihkan@laporgub_bot {ticket.number} energi")
    botapi.push_message(chat_id=KESEHATAN, user_id=PIC_PU, text="ini bukan urusan PU",
                        reply_to_message_id=notification.message_id)
    assert botapi.wait_for(lambda ms: sum("Maaf" in (m.plain_text or "") for m in ms) == 4, timeout=15)
    refusals = [t for t in texts_in(botapi, KESEHATAN) if "Maaf" in t]
    assert sum("belum terdaftar" in t for t in refusals) == 2
    assert sum("bukan wewenang" in t for t in refusals) == 2
    assert responses() == []
    assert db_count(lambda: db.OutboundSms.select().where(db.OutboundSms.purpose == "response").count()) == 0
    with db.database.connection_context():
        assert db.Ticket.get_by_id(ticket.id).status == "open"
        assert not db.TicketCategory.select().where(db.TicketCategory.group == "energi").exists()
    assert not any(ticket.number in t for t in texts_in(botapi, ENERGI))


def start_service(tmp_path: Path, modem: Any, server: BotApiServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A Service without the supervision loop, so a test can stop it and start another on the same database."""
    from laporgub.app import Service
    from laporgub.config import Secret
    from tests.conftest import TOKEN_ENV

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    data = make_config_data(tmp_path, [modem.port], server.base_url)
    add_pics(data)
    service = Service(parse_config(data), Secret(TOKEN), metrics_server=False)
    service.start()
    assert service.wait_ready(20)
    return service


def test_restart_neither_replays_nor_loses_updates(tmp_path: Path, modem: Any, botapi: BotApiServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first = start_service(tmp_path, modem, botapi, monkeypatch)
    try:
        ticket = complaint(modem, "+6281234560303", JEMBATAN, 1)
        command = f"/tanggapi@laporgub_bot {ticket.number} Pertama: tim survei dijadwalkan"
        update_id = botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text=command)
        assert wait_until(lambda: len(responses()) == 1 and all_sent(), timeout=15)
        with db.database.connection_context():
            assert load_offset(time.time()) == update_id + 1
    finally:
        first.stop()
    # Telegram hands out again an update whose confirmation was lost with the process (same update_id),
    # then a new one; the restarted service acts on the new one only.
    again = BotApiServer(token=TOKEN).start()
    try:
        assert again.push_message(chat_id=INFRA, user_id=PIC_PU, text=command) == update_id
        again.push_message(chat_id=INFRA, user_id=PIC_PU,
                           text=f"/tanggapi@laporgub_bot {ticket.number} Kedua: perbaikan mulai besok")
        second = start_service(tmp_path, modem, again, monkeypatch)
        try:
            assert wait_until(lambda: any(r.text.startswith("Kedua") for r in responses()) and all_sent(), timeout=15)
            assert [r.text.split(":")[0] for r in responses()] == ["Pertama", "Kedua"]
            assert wait_until(lambda: again.pending_updates == 0, timeout=15)  # confirmed to Telegram
            assert sum("tercatat" in t for t in texts_in(again, INFRA)) == 1
        finally:
            second.stop()
    finally:
        again.stop()


def test_poll_errors_back_off_and_recover(modem: Any, botapi: BotApiServer, make_service: Any) -> None:
    # The first polls fail (502 twice, then a dropped connection); the Responder backs off and polls again.
    botapi.fail_next("getUpdates", status=502, times=2)
    botapi.drop_connections(1, method="getUpdates")
    make_service([modem], botapi, tweak=add_pics)
    ticket = complaint(modem, "+6281234560304", JEMBATAN, 1)
    botapi.push_message(chat_id=INFRA, user_id=PIC_PU, text=f"/tanggapi@laporgub_bot {ticket.number} Sudah dicek")
    assert wait_until(lambda: len(responses()) == 1 and all_sent(), timeout=20)
    polls = [r.status for r in botapi.requests if r.method == "getUpdates"]
    assert sorted(polls[:3]) == [0, 502, 502] and 200 in polls
    assert sum("tercatat" in t for t in texts_in(botapi, INFRA)) == 1
