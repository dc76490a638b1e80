"""`laporgub db copy`: every table, ids kept, sequences moved on, counts verified, safe to re-run, refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laporgub import db, dbcopy
from laporgub.cli import main
from laporgub.config import parse_config
from laporgub.intake import Intake, build_classifier
from laporgub.outbox import route_ticket
from laporgub.pdu import encode_deliver
from laporgub.render import Renderer
from tests.conftest import make_config_data


@pytest.fixture()
def urls(tmp_path: Path, db_url: str | None) -> Iterator[tuple[str, str]]:
    """A SQLite source and the target of the test's backend (SQLite file or a fresh PostgreSQL database)."""
    yield f"sqlite:///{tmp_path / 'source.db'}", db_url or f"sqlite:///{tmp_path / 'target.db'}"
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()


def _fill(url: str, tmp_path: Path, senders: range) -> None:
    """A service's worth of rows: SMS, tickets, categories, notifications (some sent), acknowledgements."""
    config = parse_config(make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot", database=url))
    db.open_database(url)
    intake = Intake(config, build_classifier(config), Renderer(config))
    classifier = build_classifier(config)
    with db.database.connection_context():
        for i in senders:
            result = intake.store_sms("modem-1", encode_deliver(f"+62812{i:07d}", f"Jalan rusak dan banjir di desa {i}")[0],
                                      time.time())
            if result.ticket_id is not None:
                route_ticket(config, classifier, result.ticket_id)
        intake.store_sms("modem-1", encode_deliver("TELKOMSEL", "Promo kuota")[0], time.time())
        db.Notification.update(status="sent", sent_at=time.time()).where(db.Notification.id % 2 == 0).execute()
        if not senders.start:
            db.Pic.create(telegram_id=111, name="PIC", agency="Dinkes", surat_tugas="1/2", admin=True, updated_at=1.0)
            db.TelegramState.create(key="get_updates_offset", value="42", updated_at=1.0)
            db.Lease.create(name="getupdates", holder="old:1", acquired_at=1, renewed_at=1, expires_at=2)


def _snapshot(url: str) -> dict[str, dict[Any, dict[str, Any]]]:
    database = db.make_database(url)
    out: dict[str, dict[Any, dict[str, Any]]] = {}
    with database.connection_context(), database.bind_ctx(list(db.MODELS)):
        for model in dbcopy.models_in_order():
            pk = model._meta.primary_key.name
            out[model._meta.table_name] = {row[pk]: row for row in model.select().dicts()}
    return out


@pytest.mark.both_backends
def test_copy_keeps_every_row_and_id_and_is_safe_to_rerun(urls: tuple[str, str], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    source, target = urls
    _fill(source, tmp_path, range(12))
    assert main(["db", "copy", "--from", source, "--to", target, "--batch", "7"]) == 0
    out = capsys.readouterr().out
    assert "counts verified" in out and "MISMATCH" not in out
    before = _snapshot(source)
    assert before["ticket"] and before["notification"] and before["outbound_sms"] and before["inbound_sms"]
    assert _snapshot(target) == before  # every row, same ids, same values (booleans, floats, nulls)

    # The source goes on (the service ran a little longer); a second run copies the rest.
    _fill(source, tmp_path, range(12, 20))
    assert main(["db", "copy", "--from", source, "--to", target]) == 0
    after = _snapshot(source)
    assert _snapshot(target) == after and len(after["ticket"]) == 20
    assert "lease" not in after  # runtime state of the old installation stays behind

    # The target takes new rows after the copied ids (PostgreSQL sequences were moved on).
    db.open_database(target)
    with db.database.connection_context():
        top = max(after["ticket"])
        ticket = db.Ticket.create(number="261128-9999-1", day="261128", four="9999", seq=1, text="baru",
                                  received_at=1.0, registered_at=1.0, updated_at=1.0)
        assert ticket.id > top
        assert db.Lease.select().count() == 0


@pytest.mark.both_backends
def test_copy_refuses_a_newer_target_and_conflicting_rows(urls: tuple[str, str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    source, target = urls
    _fill(source, tmp_path, range(3))
    db.open_database(target)
    with db.database.connection_context():
        db.SchemaVersion.create(version=db.SCHEMA_VERSION + 1, applied_at=1.0)
    db.database.close()
    assert main(["db", "copy", "--from", source, "--to", target]) == 1
    assert "newer than this release" in capsys.readouterr().err

    target_db = db.make_database(target)
    with target_db.connection_context(), target_db.bind_ctx(list(db.MODELS)):
        db.SchemaVersion.delete().where(db.SchemaVersion.version > db.SCHEMA_VERSION).execute()
        # The service already ran on the target: another ticket holds the number under another id.
        db.Ticket.create(id=500, number=_snapshot(source)["ticket"][1]["number"], day="261128", four="0000", seq=9,
                         text="lain", received_at=1.0, registered_at=1.0, updated_at=1.0)
    assert main(["db", "copy", "--from", source, "--to", target]) == 1
    assert "other rows under the same keys" in capsys.readouterr().err


def test_copy_refuses_the_source_as_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    assert main(["db", "copy", "--from", url, "--to", url]) == 1
    assert "same database" in capsys.readouterr().err

