"""The smaller findings of the outside attack (issue 16, finding 5), each with its test: a digit-named
alphanumeric sender, /status in a foreign chat, invisible and control characters, secrets in the wrong place."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from laporgub import db, pdu
from laporgub.config import parse_config
from laporgub.intake import Intake, build_classifier
from laporgub.outbox import route_ticket
from laporgub.render import Renderer
from laporgub.responses import IncomingMessage, ResponseDesk
from laporgub.tickets import classify_sender
from tests.api_helpers import start_api_fixture  # noqa: F401 - fixture
from tests.conftest import (
    ROOT,
    TOKEN,
    TOKEN_ENV,
    default_data,
    make_config_data,
    outboxes_settled,
    wait_until,
    write_config,
)

ADMIN_CHAT = -1001000000000
CHANNEL = -1001000000001
KESEHATAN = -1001000000003
ENERGI = -1001000000009
PIC_KES = 111111111
ADMIN_PIC = 222222222
BOT_TOKEN = "7123456789:AAHk3vR9x_SECRET-token-value-123456789"


def digit_named_pdu(name: str, text: str) -> str:
    """An SMS-DELIVER whose originator is *alphanumeric* (type of number 5) and spells ``name`` in digits."""
    assert len(name) == 11
    placeholder = "ABCDEFGHIJK"
    raw = pdu.encode_deliver(placeholder, text)[0]
    packed = pdu.pack_septets(placeholder.encode("ascii")).hex().upper()
    digits = pdu.pack_septets(name.encode("ascii")).hex().upper()  # GSM 7-bit digits are their ASCII codes
    assert raw.count(packed) == 1
    return raw.replace(packed, digits)


def test_a_digit_named_alphanumeric_sender_is_no_subscriber() -> None:
    decoded = pdu.decode_deliver(digit_named_pdu("08123450777", "Pulsa Anda hampir habis"))
    assert decoded.sender == "08123450777" and decoded.sender_is_alphanumeric
    sender = classify_sender(decoded.sender, alphanumeric=True)
    assert not sender.is_subscriber and sender.msisdn is None
    assert classify_sender("08123450777").is_subscriber  # the same digits as a number are a subscriber


def test_digit_named_sender_is_an_operator_message_not_that_subscribers_complaint(
        modem: Any, botapi: Any, make_service: Any) -> None:
    make_service([modem], botapi)
    modem.receive_pdu(digit_named_pdu("08123450777", "Jalan rusak parah di Ungaran, mohon diperbaiki segera"))
    assert botapi.wait_for(lambda ms: any(m.chat_id == ADMIN_CHAT for m in ms), timeout=20)
    with db.database.connection_context():
        row = db.InboundSms.get()
        assert row.kind == "operator" and row.sender is None and row.ticket_id is None
        assert db.Ticket.select().count() == 0 and db.OutboundSms.select().count() == 0
    admin = [m.plain_text or "" for m in botapi.messages_for(ADMIN_CHAT)]
    assert any("Pesan operator" in t and "0812****0777" in t for t in admin), admin
    assert not any("08123450777" in t for t in admin)
    assert modem.sent == []


@pytest.fixture()
def desk(tmp_path: Path) -> Any:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot")
    config = parse_config(data)
    db.open_database(config.service.database)
    db.database.connect(reuse_if_open=True)
    classifier = build_classifier(config)
    intake = Intake(config, classifier, Renderer(config))
    result = intake.store_sms("modem-1", pdu.encode_deliver(
        "+6281234560300", "Puskesmas menolak pasien BPJS, obat kosong, hubungi saya 0812-3456-0300")[0], time.time())
    route_ticket(config, classifier, result.ticket_id)
    yield ResponseDesk(config, "laporgub_bot"), db.Ticket.get_by_id(result.ticket_id)
    db.database.close()


def ask_status(desk: ResponseDesk, ticket: db.Ticket, chat: int, chat_type: str, user: int = PIC_KES) -> tuple[str, str]:
    message = IncomingMessage(update_id=1, chat_id=chat, chat_type=chat_type, message_id=77, user_id=user,
                              user_name="PIC", text=f"/status {ticket.number}")
    with db.database.atomic():
        outcome = desk.handle(message, time.time())
    return outcome.action, db.ChatReply.select().order_by(db.ChatReply.id.desc()).get().text


def test_status_answers_only_in_the_tickets_groups_or_privately(desk: Any) -> None:
    responder, ticket = desk
    action, text = ask_status(responder, ticket, KESEHATAN, "supergroup")
    assert action == "status" and ticket.number in text and "Puskesmas" in text
    assert "0812****0300" in text and "3456" not in text  # the number the citizen typed: masked in the quote
    action, text = ask_status(responder, ticket, PIC_KES, "private")
    assert action == "status" and "Puskesmas" in text
    # The energy group is not this ticket's: a PIC there (an admin may act anywhere) still gets no summary.
    action, text = ask_status(responder, ticket, ENERGI, "supergroup", user=ADMIN_PIC)
    assert action == "refused" and "Puskesmas" not in text and "hanya dijawab" in text
    action, text = ask_status(responder, ticket, -1009999999999, "group", user=ADMIN_PIC)  # a chat unknown to us
    assert action == "refused" and "Puskesmas" not in text


def test_web_text_with_nothing_visible_or_control_characters_is_refused(start_api: Any) -> None:
    api = start_api()
    client = api.client(api.key("submit"))
    for text in ("\u200b\u200b\u200b", "\u200b \ufeff \u2060", "Jalan rusak\x07\x1b[2J", "\u00a0\u3000"):
        r = client.post("/api/v1/complaints", json={"text": text})
        assert r.status_code == 422, (text, r.text)
        assert r.json()["error"]["details"][0]["field"] == "text"
    assert client.post("/api/v1/complaints", json={"text": "Jalan\u200brusak di Ungaran"}).status_code == 201


def test_control_characters_never_reach_telegram(modem: Any, botapi: Any, make_service: Any) -> None:
    make_service([modem], botapi)
    modem.receive_sms("+6281234560400", "Jalan rusak\x07 parah\x1b[31m di Ungaran\x00, lubang besar\x7f")
    assert wait_until(lambda: db_ticket_count() == 1 and outboxes_settled(sms=False), timeout=20)
    texts = [m.text or "" for m in botapi.messages_for(CHANNEL)]
    assert any("Jalan rusak parah[31m di Ungaran, lubang besar" in t for t in texts), texts
    assert not any(ch in t for t in texts for ch in "\x00\x07\x1b\x7f")
    with db.database.connection_context():
        assert "\x07" in db.Ticket.get().text  # stored as received: nothing is lost


def db_ticket_count() -> int:
    with db.database.connection_context():
        return db.Ticket.select().count()


# -- secrets in the wrong place -------------------------------------------------------------


def check(tmp_path: Path, data: dict[str, Any], env: dict[str, str] | None = None,
          command: str = "check-config") -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path / "config.toml", data)
    return subprocess.run([sys.executable, "-m", "laporgub", command, "--config", str(config)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, **(env or {})})


def base(tmp_path: Path) -> dict[str, Any]:
    data = default_data()
    data["service"]["database"] = f"sqlite:///{tmp_path / 'laporgub.db'}"
    return data


@pytest.mark.parametrize(("where", "value", "expected"), [
    (("telegram", "token_env"), BOT_TOKEN, "telegram.token_env: must be the name of an environment variable"),
    (("telegram", "token_file"), BOT_TOKEN, "telegram.token_file: holds a bot token, not a file name"),
    (("telegram", "base_url"), f"https://api.telegram.org/bot{BOT_TOKEN}/", "telegram.base_url: contains a bot token"),
    (("service", "database"), "postgresql://laporgub:S3cr3t-pw@db.example:5432/laporgub",
     "service.database: contains a password"),
    (("service", "database"), "postgresql://laporgub@db.example/laporgub?password=S3cr3t-pw",
     "service.database: contains a password"),
])
def test_secrets_in_the_wrong_key_are_refused_and_never_echoed(tmp_path: Path, where: tuple[str, str], value: str,
                                                              expected: str) -> None:
    data = base(tmp_path)
    data[where[0]][where[1]] = value
    proc = check(tmp_path, data)
    assert proc.returncode == 2
    assert expected in proc.stderr, proc.stderr
    assert "SECRET-token" not in proc.stdout + proc.stderr and "S3cr3t-pw" not in proc.stdout + proc.stderr


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "telegram_token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    data = base(tmp_path)
    data["telegram"].pop("token_env")
    data["telegram"]["token_file"] = str(token_file)
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = check(tmp_path, data, env)
    assert proc.returncode == 2 and "telegram.token_file:" in proc.stderr and "mode 0644" in proc.stderr
    run = subprocess.run([sys.executable, "-m", "laporgub", "run", "--config", str(tmp_path / "config.toml")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert run.returncode == 2 and "telegram.token_file:" in run.stderr and TOKEN not in run.stderr
    token_file.chmod(0o640)  # group access (root:laporgub) is the sound way without credentials
    assert check(tmp_path, data, env).returncode == 0
