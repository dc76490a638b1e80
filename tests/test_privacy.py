"""Personal data (UU 27/2022): retention, erasure, access requests and the audit log, on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from laporgub import cli, db, pdu, privacy
from laporgub.config import parse_config
from laporgub.intake import dedupe_key
from tests.conftest import default_data, write_config

PHONE = "+6281327654321"
NSN = "81327654321"  # the digits every spelling of PHONE contains
OTHER = "+6285711112222"
DAY = 86400.0
NOW = datetime(2026, 11, 28, 10, 0).timestamp()


@pytest.fixture()
def database(tmp_path: Path) -> Any:
    path = tmp_path / "laporgub.db"
    database = db.open_database("sqlite:///" + str(path))
    database.connect(reuse_if_open=True)
    yield path
    if not database.is_closed():
        database.close()


def make_ticket(n: int, sender: str, *, status: str, updated_at: float, text: str = "jalan rusak di Ungaran",
                response: str | None = None) -> db.Ticket:
    four = sender[-4:]
    ticket = db.Ticket.create(
        number=f"241001-{four}-{n}", day="241001", four=four, seq=n, sender=sender, text=text, status=status,
        received_at=updated_at - DAY, registered_at=updated_at - DAY, filtered_at=updated_at - DAY,
        updated_at=updated_at, regency="Kabupaten Semarang",
    )
    db.TicketCategory.create(ticket=ticket, group="infrastruktur", keywords="jalan rusak", created_at=updated_at)
    raw = pdu.encode_deliver(sender, text, timestamp=datetime.fromtimestamp(updated_at - DAY + n, timezone.utc))[0]
    db.InboundSms.create(
        modem="modem-1", dedupe_key=dedupe_key(raw), pdu=raw, sender_raw=sender, sender=sender, text=text,
        encoding="gsm7", reported_at=updated_at - DAY, stored_at=updated_at - DAY, kind="complaint", ticket=ticket,
    )
    db.OutboundSms.create(destination=sender, text=f"Laporan diterima, tiket {ticket.number}", purpose="ack",
                          ticket=ticket, status="sent", created_at=updated_at - DAY)
    if response:
        db.PicResponse.create(ticket=ticket, pic_telegram_id=111, pic_name="Budi", agency="DPU Bina Marga",
                              text=response, created_at=updated_at)
        db.OutboundSms.create(destination=sender, text=response, purpose="response", ticket=ticket, status="sent",
                              created_at=updated_at)
    return ticket


def dump_database(path: Path) -> str:
    """Every value of every table of the database file, as one string."""
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        values = []
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                values.extend(str(v) for v in row)
        return "\n".join(values)
    finally:
        con.close()


def config_file(tmp_path: Path, database: Path, privacy_table: dict[str, Any] | None = None) -> Path:
    data = default_data()
    data["service"]["database"] = "sqlite:///" + str(database)
    if privacy_table is not None:
        data["privacy"] = privacy_table
    return write_config(tmp_path / "config.toml", data)


# -- config -----------------------------------------------------------------------


def test_privacy_defaults_and_validation() -> None:
    data = default_data()
    assert parse_config(data).privacy.retention_months == 24
    data["privacy"] = {"retention_months": 6, "audit_retention_months": 36}
    assert parse_config(data).privacy.retention_months == 6
    from laporgub.exceptions import ConfigError

    data["privacy"] = {"retention_month": 6}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert any(line.startswith("privacy.retention_month: unknown config key") for line in exc.value.problems)
    data["privacy"] = {"retention_months": 0}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert any(line.startswith("privacy.retention_months: must be at least 1") for line in exc.value.problems)


# -- retention --------------------------------------------------------------------


def test_retention_anonymises_only_old_closed_tickets_and_keeps_counts(database: Path) -> None:
    config = parse_config(default_data())
    old_closed = make_ticket(1, PHONE, status="closed", updated_at=NOW - 800 * DAY, response="Sudah diperbaiki")
    old_open = make_ticket(2, PHONE, status="open", updated_at=NOW - 800 * DAY)
    new_closed = make_ticket(3, PHONE, status="closed", updated_at=NOW - 300 * DAY)
    counts = (db.Ticket.select().count(), db.InboundSms.select().count(), db.OutboundSms.select().count(),
              db.PicResponse.select().count(), db.TicketCategory.select().count())

    assert privacy.daily_retention(config, NOW) == 1
    assert privacy.daily_retention(config, NOW + 60) is None  # once a day
    assert db.RetentionRun.select().count() == 1

    t = db.Ticket.get_by_id(old_closed.id)
    assert t.sender is None and t.anonymised_at == NOW
    assert t.text == old_closed.text and t.status == "closed" and t.regency == "Kabupaten Semarang"
    for row in db.InboundSms.select().where(db.InboundSms.ticket == t.id):
        assert row.sender is None and row.sender_raw is None and row.pdu == privacy.ERASED
        assert row.text == old_closed.text
    assert {r.destination for r in db.OutboundSms.select().where(db.OutboundSms.ticket == t.id)} == {privacy.ERASED}
    for kept in (old_open, new_closed):
        again = db.Ticket.get_by_id(kept.id)
        assert again.sender == PHONE and again.anonymised_at is None
        assert db.InboundSms.get(db.InboundSms.ticket == kept.id).pdu != privacy.ERASED
    # Figures for reports: nothing deleted.
    assert counts == (db.Ticket.select().count(), db.InboundSms.select().count(), db.OutboundSms.select().count(),
                      db.PicResponse.select().count(), db.TicketCategory.select().count())
    assert [e.action for e in privacy.list_audit()] == ["retention"]
    assert privacy.list_audit()[0].actor == "service"


def test_retention_months_are_calendar_months() -> None:
    tz = parse_config(default_data()).tz
    now = datetime(2026, 3, 31, 12, 0, tzinfo=tz).timestamp()
    assert datetime.fromtimestamp(privacy.months_before(now, 1, tz), tz) == datetime(2026, 2, 28, 12, 0, tzinfo=tz)
    assert datetime.fromtimestamp(privacy.months_before(now, 24, tz), tz) == datetime(2024, 3, 31, 12, 0, tzinfo=tz)


def test_monitor_check_runs_retention(database: Path) -> None:
    from laporgub.followup import Followup

    config = parse_config(default_data())
    make_ticket(1, PHONE, status="closed", updated_at=NOW - 800 * DAY)
    Followup(config).run(NOW)  # the Monitor's step before it; the retention hook follows
    from laporgub.actors.monitor import Monitor

    monitor = Monitor.__new__(Monitor)
    monitor.followup = Followup(config)
    monitor._retention(NOW)
    assert db.Ticket.get().anonymised_at == NOW


# -- erasure ----------------------------------------------------------------------


def test_erase_removes_every_trace_and_is_idempotent(database: Path) -> None:
    make_ticket(1, PHONE, status="closed", updated_at=NOW - 10 * DAY, response="Sudah diperbaiki, hub 081327654321")
    make_ticket(2, PHONE, status="open", updated_at=NOW - DAY, text="lampu mati. sy bs dihub di 0813-2765-4321")
    make_ticket(3, OTHER, status="open", updated_at=NOW - DAY)
    db.InboundSms.create(modem="modem-1", dedupe_key="x" * 64, pdu=pdu.encode_deliver(PHONE, "status tiket sy?")[0],
                         sender_raw="081327654321", sender=PHONE, text="status tiket sy?", reported_at=NOW,
                         stored_at=NOW, kind="status_query")
    db.OutboundSms.create(destination=PHONE, text="Tiket Anda sedang diproses", purpose="status", status="pending",
                          created_at=NOW)
    assert NSN in dump_database(database)

    result = privacy.erase(PHONE, actor="admin1", reason="REQ-7", now=NOW)
    assert result.tickets == 2 and result.inbound == 3 and result.outbound == 4
    dump = dump_database(database)
    assert NSN not in dump and "27654321" not in dump
    assert "0813****4321" in dump  # texts kept, the number masked inside them
    assert "lampu mati" in dump and "Sudah diperbaiki" in dump
    assert db.Ticket.select().where(db.Ticket.anonymised_at.is_null(False)).count() == 2
    other = db.Ticket.get(db.Ticket.sender == OTHER)
    assert other.anonymised_at is None and db.InboundSms.get(db.InboundSms.ticket == other.id).pdu != privacy.ERASED
    assert db.OutboundSms.get(db.OutboundSms.purpose == "status").status == "failed"  # never sent to "ERASED"

    again = privacy.erase(PHONE, actor="admin1", now=NOW + 1)
    assert (again.tickets, again.inbound, again.outbound, again.texts) == (0, 0, 0, 0)
    entries = privacy.list_audit()
    assert [e.action for e in entries] == ["erase", "erase"]
    assert entries[0].actor == "admin1" and entries[0].subject == "0813****4321" and "REQ-7" in entries[0].detail
    assert NSN not in dump_database(database)


# -- access -----------------------------------------------------------------------


def test_export_contains_tickets_responses_sms_and_is_audited(database: Path) -> None:
    make_ticket(1, PHONE, status="closed", updated_at=NOW - 10 * DAY, response="Sudah diperbaiki")
    make_ticket(2, OTHER, status="open", updated_at=NOW - DAY, text="bukan saya")
    data = privacy.export(PHONE, actor="admin1", now=NOW)
    json.dumps(data)  # JSON-ready
    assert data["phone"] == PHONE
    assert [t["number"] for t in data["tickets"]] == ["241001-4321-1"]
    assert data["tickets"][0]["responses"][0]["text"] == "Sudah diperbaiki"
    assert data["tickets"][0]["groups"] == ["infrastruktur"]
    assert {s["purpose"] for s in data["outbound_sms"]} == {"ack", "response"}
    assert data["inbound_sms"][0]["text"] == "jalan rusak di Ungaran"
    assert "bukan saya" not in json.dumps(data)
    [entry] = privacy.list_audit()
    assert (entry.action, entry.actor, entry.subject) == ("export", "admin1", "0813****4321")
    assert PHONE not in entry.detail


# -- the commands -------------------------------------------------------------------


def test_cli_export_erase_audit(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_ticket(1, PHONE, status="closed", updated_at=NOW - 10 * DAY, response="Sudah diperbaiki")
    db.database.close()
    cfg = str(config_file(tmp_path, database))

    assert cli.main(["privacy", "export", "--config", cfg, "--phone", "0813-2765-4321"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["tickets"][0]["number"] == "241001-4321-1"

    target = tmp_path / "export.json"
    assert cli.main(["privacy", "export", "--config", cfg, "--phone", PHONE, "--out", str(target)]) == 0
    assert json.loads(target.read_text())["phone"] == PHONE
    assert target.stat().st_mode & 0o777 == 0o600
    assert NSN not in capsys.readouterr().err

    assert cli.main(["privacy", "erase", "--config", cfg, "--phone", PHONE, "--reason", "REQ-9"]) == 0
    out = capsys.readouterr().out
    assert "0813****4321" in out and NSN not in out and "1 ticket(s)" in out
    assert NSN not in dump_database(database)

    assert cli.main(["audit", "--config", cfg]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == ["export", "export", "erase"]
    assert all("0813****4321" in line and NSN not in line for line in lines)
    assert cli.main(["audit", "--config", cfg, "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["audit", "--config", cfg, "--since", "7d"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


# The API's parser (tickets.parse_phone), any valid number: a foreign sender's SMS complaint is registered too.
@pytest.mark.parametrize("phone", ["abc", "123", "+62 812 abc", "", "+62 812", "+1 415 555 01234567"])
def test_cli_bad_phone_exits_2(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], phone: str) -> None:
    cfg = str(config_file(tmp_path, database))
    for action in ("erase", "export"):
        assert cli.main(["privacy", action, "--config", cfg, "--phone", phone]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("--phone: not a subscriber phone number")
    assert db.AuditLog.select().count() == 0


@pytest.mark.parametrize("phone", ["024-3515371", "+1 415 555 0123"])
def test_cli_takes_a_landline_or_foreign_number(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               phone: str) -> None:
    cfg = str(config_file(tmp_path, database))
    assert cli.main(["privacy", "export", "--config", cfg, "--phone", phone]) == 0
    assert "not a subscriber" not in capsys.readouterr().err


def test_cli_bad_since_and_bad_config_exit_2(database: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(config_file(tmp_path, database))
    assert cli.main(["audit", "--config", cfg, "--since", "yesterday"]) == 2
    assert capsys.readouterr().err.startswith("--since:")
    bad = str(config_file(tmp_path, database, {"retention_months": "two years"}))
    assert cli.main(["privacy", "erase", "--config", bad, "--phone", PHONE]) == 2
    assert "privacy.retention_months: must be an integer" in capsys.readouterr().err
