"""An erase that holds: the number in any spelling, in any column, in PDUs and hashes, gone from the file,
its WAL and later backups; request hashes keyed; backups private."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from laporgub import backup, db, pdu, privacy
from laporgub.api.complaints import IdempotencyConflict, WebComplaintData, submit
from laporgub.config import ConfigError, PrivacyConfig, parse_config
from laporgub.intake import Intake, build_classifier
from laporgub.render import Renderer
from tests.conftest import ROOT, default_data

PHONE = "+6281277770001"
NATIONAL = "081277770001"
KEY = b"test request-hash key"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc).timestamp()
SPELLED = ["0812-7777-0001", "(0812) 7777 0001", "+62 812\u20137777\u20130001", "wa0812/7777/0001", "62_812_7777_0001"]


@pytest.fixture()
def intake(tmp_path: Path) -> Any:
    data = default_data()
    data["service"]["database"] = f"sqlite:///{tmp_path / 'laporgub.db'}"
    config = parse_config(data)
    handle = db.open_database(config.service.database)
    handle.connect(reuse_if_open=True)
    yield Intake(config, build_classifier(config), Renderer(config))
    if not handle.is_closed():
        handle.close()


def raw_bytes(path: Path) -> bytes:
    """The database file and its WAL as they are on disk."""
    data = path.read_bytes()
    wal = Path(str(path) + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def traces(blob: bytes) -> list[str]:
    """Which forms of PHONE a file's bytes still hold (spellings as text, PDU semi-octets as hex)."""
    forms = [NATIONAL, PHONE, PHONE[1:], "81277770001", *SPELLED, *privacy.pdu_forms(PHONE)]
    found = [f for f in forms if f.encode("utf-8") in blob or f.encode("utf-8").lower() in blob]
    return found


def plant(intake: Intake, tmp_path: Path) -> dict[str, Any]:
    """The number in every place the attack found it left behind."""
    info_id = db.ApiKey.create(name="website", key_hash="x" * 64, prefix="lg_x", scopes="submit",
                               created_at=NOW).id
    web = submit(intake, WebComplaintData(text=f"Jalan rusak, telp {SPELLED[0]}", phone=PHONE, name="Budi",
                                          category_hint=f"jalan hp {SPELLED[1]}", location=f"depan rumah {SPELLED[2]}"),
                 info_id, "idem-1", NOW, hash_key=KEY)
    other = submit(intake, WebComplaintData(text=f"Tetangga saya {SPELLED[3]} tidak dapat bantuan", phone="+6285711112222"),
                   info_id, "idem-2", NOW, hash_key=KEY)
    ticket = db.Ticket.get_by_id(web.ticket_id)
    db.ChatReply.create(chat_id=-100, text=f"Status: pelapor minta ditelepon di {SPELLED[4]}", ticket=ticket,
                        created_at=NOW)
    db.Notification.create(ticket=ticket, destination="channel", chat_id=-100, kind="followup",
                           text=f"Tambahan: {SPELLED[1]}", queued_at=NOW)
    db.WebhookDelivery.create(event_id="e1", endpoint="website", event="ticket.responded",
                              ticket_number=ticket.number, created_at=NOW, queued_at=NOW,
                              payload=json.dumps({"data": {"text": f"menelepon bapak di {SPELLED[2]}"}},
                                                 ensure_ascii=False))
    db.PicResponse.create(ticket=ticket, pic_telegram_id=1, pic_name="Sri", agency="DPU",
                          text=f"kami hubungi {SPELLED[0]}", created_at=NOW)
    # An SMS from the number itself (a PDU with it in the address), and an undecodable one from it.
    raw = pdu.encode_deliver(PHONE, "jalan rusak parah")[0]
    intake.store_sms("modem-1", raw, NOW)
    broken = raw[: len(raw) - 40]
    intake.store_sms("modem-1", broken, NOW)
    # Someone else's SMS naming the number: its text and PDU both hold it.
    mention = pdu.encode_deliver("+6285733334444", f"tolong hubungi {NATIONAL} ya pak")[0]
    intake.store_sms("modem-1", mention, NOW)
    return {"web": web, "other": other, "raw": raw, "broken": broken, "mention": mention}


def test_erase_leaves_no_trace_in_rows_file_wal_or_a_new_backup(intake: Intake, tmp_path: Path) -> None:
    path = tmp_path / "laporgub.db"
    planted = plant(intake, tmp_path)
    assert db.InboundSms.select().where(db.InboundSms.state == "undecodable").count() == 1
    assert traces(raw_bytes(path))  # planted, on disk

    result = privacy.erase(PHONE, actor="test", reason="PPID 2026/042 (hubungi 081277770001)", now=NOW)
    # Its two tickets (web, SMS) with their SMS; the undecodable PDU and the mention's found by the sweep;
    # the other reporter's request hash (its text named the number) dropped besides the number's own.
    assert (result.tickets, result.inbound, result.pdus, result.hashes) == (2, 1, 2, 1), result
    assert result.purged == "checkpointed"
    assert {k.request_hash for k in db.IdempotencyKey.select()} == {privacy.ERASED_HASH}

    # Every row: no spelling, no PDU, no hash of it.
    db.database.close()
    assert traces(raw_bytes(path)) == []
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0
    copy = backup.backup(path, tmp_path / "backups", keep=3)
    assert traces(copy.read_bytes()) == []
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700

    db.database.connect()
    # What stays: the texts, masked; someone else's complaint and SMS, with the mention masked.
    other = db.Ticket.get_by_id(planted["other"].ticket_id)
    assert other.sender == "+6285711112222" and "0812****0001" in other.text
    mention = db.InboundSms.get(db.InboundSms.sender == "+6285733334444")
    assert mention.text == "tolong hubungi 0812****0001 ya pak" and mention.pdu == privacy.ERASED
    assert mention.dedupe_key == f"erased-{mention.id}"
    web = db.WebComplaint.get(db.WebComplaint.ticket == planted["web"].ticket_id)
    assert web.reporter_name is None and "0812****0001" in web.category_hint and "0812****0001" in web.location
    payload = json.loads(db.WebhookDelivery.get(db.WebhookDelivery.event_id == "e1").payload)
    assert payload["data"]["text"] == "menelepon bapak di 0812****0001"
    audit = privacy.list_audit(action="erase")[-1]
    assert audit.subject == "0812****0001" and "081277770001" not in audit.detail
    # A second run finds nothing.
    again = privacy.erase(PHONE, actor="test", now=NOW)
    assert (again.tickets, again.texts, again.pdus, again.hashes) == (0, 0, 0, 0)


def test_erased_request_hash_still_answers_its_key(intake: Intake) -> None:
    key_id = db.ApiKey.create(name="w", key_hash="y" * 64, prefix="lg_y", scopes="submit", created_at=NOW).id
    data = WebComplaintData(text="Lampu jalan mati", phone=PHONE, name="Budi")
    first = submit(intake, data, key_id, "k", NOW, hash_key=KEY)
    with pytest.raises(IdempotencyConflict):
        submit(intake, WebComplaintData(text="lain"), key_id, "k", NOW, hash_key=KEY)
    privacy.erase(PHONE, actor="test", now=NOW, purge=False)
    assert db.IdempotencyKey.get().request_hash == privacy.ERASED_HASH
    again = submit(intake, data, key_id, "k", NOW, hash_key=KEY)
    assert (again.created, again.ticket_number) == (False, first.ticket_number)


def test_request_hashes_are_keyed() -> None:
    data = WebComplaintData(text="Jalan rusak", phone=PHONE)
    assert data.request_hash(b"one") == data.request_hash(b"one")
    assert data.request_hash(b"one") != data.request_hash(b"two")
    import hashlib

    plain = hashlib.sha256(json.dumps({"text": "Jalan rusak", "phone": PHONE, "name": None, "category_hint": None,
                                       "location": None}, sort_keys=True).encode()).hexdigest()
    assert plain not in (data.request_hash(b"one"), data.request_hash(b"two"))
    with pytest.raises(ValueError):
        data.request_hash(b"")


def test_hash_key_sources(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "request_hash_key").write_text("from-systemd\n")
    assert privacy.read_hash_key(PrivacyConfig(), "123:tok", {"CREDENTIALS_DIRECTORY": str(creds)}) == \
        (b"from-systemd", "credential")
    assert privacy.read_hash_key(PrivacyConfig(hash_key_env="K"), "123:tok", {"K": "from-env"}) == \
        (b"from-env", "hash_key_env")
    key_file = tmp_path / "hash_key"
    key_file.write_text("from-file")
    key_file.chmod(0o600)
    assert privacy.read_hash_key(PrivacyConfig(hash_key_file=str(key_file)), "123:tok", {}) == \
        (b"from-file", "hash_key_file")
    derived, source = privacy.read_hash_key(PrivacyConfig(), "123:tok", {})
    assert source == "derived" and derived != b"123:tok" and len(derived) == 32
    assert derived != privacy.read_hash_key(PrivacyConfig(), "456:other", {})[0]
    key_file.chmod(0o644)
    with pytest.raises(ConfigError) as err:
        privacy.read_hash_key(PrivacyConfig(hash_key_file=str(key_file)), "123:tok", {})
    assert err.value.problems[0].startswith("privacy.hash_key_file:") and "every user" in err.value.problems[0]
    with pytest.raises(ConfigError):
        privacy.read_hash_key(PrivacyConfig(hash_key_env="MISSING"), "123:tok", {})


def test_sweep_covers_every_text_column_of_every_table() -> None:
    swept = {(m._meta.table_name, f.column_name) for m, f in privacy.swept_columns()}
    # The columns the attack found the number in, by name: a new column is swept without being listed.
    for column in [("chat_reply", "text"), ("webhook_delivery", "payload"), ("notification", "text"),
                   ("web_complaint", "category_hint"), ("web_complaint", "location"), ("pic_response", "text"),
                   ("outbound_sms", "text"), ("inbound_sms", "text"), ("audit_log", "detail")]:
        assert column in swept
    assert ("inbound_sms", "pdu") not in swept  # read by its semi-octets instead


def test_pdu_forms_find_the_address_in_semi_octets() -> None:
    raw = pdu.encode_deliver(PHONE, "halo")[0]
    national = pdu.encode_deliver(NATIONAL, "halo")[0]
    ucs2 = pdu.encode_deliver("+6285700000000", f"nomor {NATIONAL} 🙂")[0]
    forms = privacy.pdu_forms(PHONE)
    assert privacy.pdu_holds(raw, forms) and privacy.pdu_holds(national, forms) and privacy.pdu_holds(ucs2, forms)
    assert not privacy.pdu_holds(pdu.encode_deliver("+6285700000000", "halo")[0], forms)
    assert not privacy.pdu_holds(privacy.ERASED, forms)
    assert "2618" in forms[0]  # +62 81... as swapped BCD


def test_backup_cli_writes_private_files(tmp_path: Path) -> None:
    path = tmp_path / "laporgub.db"
    handle = db.open_database(f"sqlite:///{path}")
    handle.close()
    out = tmp_path / "b"
    proc = subprocess.run([sys.executable, "-m", "laporgub.backup", str(path), str(out)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    made = Path(proc.stdout.strip())
    assert stat.S_IMODE(made.stat().st_mode) == 0o600 and stat.S_IMODE(out.stat().st_mode) == 0o700


def test_backup_unit_sets_a_private_umask() -> None:
    unit = (ROOT / "systemd" / "laporgub-backup.service").read_text()
    assert "\nUMask=0077\n" in unit
    assert "\nLimitNOFILE=" in (ROOT / "systemd" / "laporgub.service").read_text()


def test_a_webhook_body_queued_unmasked_is_masked_when_sent() -> None:
    from laporgub.webhooks import outgoing_body

    masked = json.dumps({"data": {"text": "hubungi 0812****0001"}, "id": "e"}, separators=(",", ":"))
    assert outgoing_body(masked) == masked  # byte for byte: receivers may have stored it
    old = json.dumps({"data": {"text": "hubungi 0812-7777-0001"}, "id": "e"})
    assert json.loads(outgoing_body(old))["data"]["text"] == "hubungi 0812****0001"


def test_migration_4_drops_the_unkeyed_request_hashes(tmp_path: Path) -> None:
    import hashlib

    import peewee

    path = tmp_path / "old.db"
    handle = db.open_database(f"sqlite:///{path}")
    with handle.connection_context():
        key = db.ApiKey.create(name="w", key_hash="z" * 64, prefix="lg_z", scopes="submit", created_at=NOW)
        ticket = db.Ticket.create(number="261128-0001-1", day="261128", four="0001", seq=1, sender=PHONE, text="x",
                                  received_at=NOW, registered_at=NOW, updated_at=NOW)
        plain = hashlib.sha256(b'{"phone": "+6281277770001"}').hexdigest()  # what release 3 stored
        db.IdempotencyKey.create(api_key=key, key="k", request_hash=plain, ticket=ticket, created_at=NOW)
        db.SchemaVersion.delete().where(db.SchemaVersion.version >= 4).execute()  # 4 and every later one
    handle.close()
    handle = db.open_database(f"sqlite:///{path}")  # migrates from 3 again
    with handle.connection_context():
        assert db.SchemaVersion.select(peewee.fn.MAX(db.SchemaVersion.version)).scalar() == db.SCHEMA_VERSION
        assert db.IdempotencyKey.get().request_hash == privacy.ERASED_HASH
    handle.close()
