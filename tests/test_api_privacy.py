"""Web complaints in the domain layer: privacy rules (erasure removes the reporter) and spam, without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from laporgub import db, privacy
from laporgub.api import auth
from laporgub.api.complaints import WebComplaintData, submit
from laporgub.config import parse_config
from laporgub.intake import Intake, build_classifier
from laporgub.render import Renderer
from tests.conftest import default_data

KEY = b"test request-hash key"


@pytest.fixture()
def intake(tmp_path: Path) -> Any:
    data = default_data()
    data["service"]["database"] = f"sqlite:///{tmp_path / 'p.db'}"
    config = parse_config(data)
    handle = db.open_database(config.service.database)
    handle.connect()
    yield Intake(config, build_classifier(config), Renderer(config))
    handle.close()


def test_erasure_removes_the_web_reporter(intake: Any) -> None:
    info, _key = auth.create_key("website", ["submit"])
    kept = submit(intake, WebComplaintData(text="Lampu jalan mati di Demak", name="Ani", phone="+6285700001111"),
                  info.id, "k-1", hash_key=KEY)
    result = submit(intake, WebComplaintData(
        text="Jalan rusak, telepon saya 0812-3456-0200", name="Budi Santoso", phone="+6281234560200",
        location="depan rumah Budi, 081234560200"), info.id, "k-2", hash_key=KEY)
    assert result.created and result.outbound_queued and result.ticket_number.split("-")[1] == "0200"
    privacy.erase("+6281234560200", actor="test")
    web = db.WebComplaint.get(db.WebComplaint.ticket == result.ticket_id)
    assert web.reporter_name is None
    assert "0812****0200" in web.text and "3456-0200" not in web.text
    assert "081234560200" not in web.location
    assert db.Ticket.get_by_id(result.ticket_id).sender is None
    other = db.WebComplaint.get(db.WebComplaint.ticket == kept.ticket_id)
    assert other.reporter_name == "Ani"  # someone else's complaint is untouched
    # The idempotency key still answers the same (now anonymised) ticket.
    again = submit(intake, WebComplaintData(
        text="Jalan rusak, telepon saya 0812-3456-0200", name="Budi Santoso", phone="+6281234560200",
        location="depan rumah Budi, 081234560200"), info.id, "k-2", hash_key=KEY)
    assert (again.created, again.ticket_number) == (False, result.ticket_number)


def test_spam_from_the_web_is_marked_and_gets_no_sms(intake: Any) -> None:
    info, _key = auth.create_key("website", ["submit"])
    spam = "Selamat! Anda memenangkan hadiah 100 juta dari undian, klik http://bit.ly/xx untuk klaim"
    for phone in (None, "+6281234560200"):
        result = submit(intake, WebComplaintData(text=spam, phone=phone), info.id, None, hash_key=KEY)
        assert result.kind == "spam" and not result.outbound_queued
    assert db.OutboundSms.select().count() == 0
    assert {t.kind for t in db.Ticket.select()} == {"spam"}
