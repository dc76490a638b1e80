"""Plant and hunt: a citizen's number in twelve spellings through every input, then searched in every output;
erased, then searched in the raw database (SQLite: the file, its WAL and a new backup; PostgreSQL: every
page of every table and index), in every spelling and in its PDU semi-octet form.

Inputs: SMS text (from the number itself and from a neighbour, over the pty modem emulator), an
undecodable SMS from it, a web complaint (text, location, name, category hint, reporter phone), an Open311
request (description, address, names, phone), a PIC's reply to a notification, /tanggapi, /selesai, the
bot's own answer (/status quoting the text). Outputs: Open311, each API scope, webhooks, Telegram (the
Bot API stand-in's record, documents included), log lines, the monthly report's CSV, XLSX and PDF, the
audit listing.
"""

from __future__ import annotations

import io
import json
import logging
import pprint
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from laporgub import db, pdu, privacy
from laporgub.logsetup import OneLineFormatter
from laporgub.masking import number_runs
from tests.api_helpers import Receiver, run_cli, start_api_fixture  # noqa: F401 - fixture
from tests.conftest import outboxes_settled, wait_until, write_config

PLANT = "+6281277770001"
NSN = "81277770001"
SPELLINGS = (
    "081277770001", "+6281277770001", "6281277770001", "0812-7777-0001", "0812 7777 0001", "0812.7777.0001",
    "(0812) 7777-0001", "+62 (812) 7777 0001", "0812\u20137777\u20130001", "0812/7777/0001", "0812_7777_0001",
    "wa0812\u20147777\u20140001",
)
ALL = " atau ".join(SPELLINGS)
NEIGHBOUR = "+6285712345678"
KESEHATAN = -1001000000003
PIC_KES = 111111111
SECRET_ENV = "LAPORGUB_TEST_HUNT_SECRET"


def leaks(text: str) -> list[str]:
    """Every spelling of PLANT in ``text``, and any run of digits that holds its significant digits."""
    found = [s for s in SPELLINGS if s in text]
    found += [text[r.start:r.end] for r in number_runs(text) if NSN in r.digits]
    return found


def settled() -> bool:
    with db.database.connection_context():
        webhooks_due = db.WebhookDelivery.select().where(db.WebhookDelivery.status.in_(["pending", "sending"]))
        return outboxes_settled(chat_replies=True) and not webhooks_due.exists()


@pytest.mark.both_backends
def test_plant_and_hunt(start_api: Any, modem: Any, botapi: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        db_backend: str, db_url: str | None) -> None:
    receiver = Receiver().start()
    monkeypatch.setenv(SECRET_ENV, "hunt-secret")
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(OneLineFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    config_data: dict[str, Any] = {}

    def tweak(data: dict[str, Any]) -> None:
        data["api"]["webhooks"] = [{"name": "website", "url": receiver.url, "secret_env": SECRET_ENV,
                                    "initial_backoff_seconds": 0.2}]
        # Each complaint keeps its own message here, so every PIC reply lands on one ticket; what an
        # incident's message shows is hunted in test_incident_messages_show_no_number below.
        data["incidents"] = {"enabled": False}
        config_data.update(data)

    try:
        api = start_api(tweak)
        hunt(api, modem, botapi, receiver, log, tmp_path, config_data, db_backend, db_url)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        receiver.stop()


def hunt(api: Any, modem: Any, botapi: Any, receiver: Receiver, log: io.StringIO, tmp_path: Path,
         data: dict[str, Any], backend: str, db_url: str | None) -> None:
    submit = api.client(api.key("submit", name="website"))
    read = api.client(api.key("read", name="portal"))
    personal = api.client(api.key("read:personal", name="ppid"))
    outputs: dict[str, str] = {}

    # -- plant ---------------------------------------------------------------------------------
    modem.receive_sms(PLANT, f"Puskesmas menolak pasien BPJS, obat kosong. Hubungi saya: {ALL}")
    modem.receive_sms(NEIGHBOUR, f"Puskesmas Kalongan tutup, tetangga saya sakit keras, nomornya {ALL}")
    whole = pdu.encode_deliver(PLANT, "Rumah sakit menolak pasien")[0]
    modem.receive_pdu(whole[: len(whole) - 30])  # undecodable: kept raw, the number in its address
    web = submit.post("/api/v1/complaints", json={
        "text": f"Rumah sakit daerah menolak pasien BPJS. Kontak: {ALL}",
        "location": f"Jl. Diponegoro 12, Ungaran (rumah {ALL})",
        "category_hint": f"kesehatan hp {SPELLINGS[3]} / {SPELLINGS[8]}",
        "reporter": {"name": f"Budi wa{SPELLINGS[0]} {SPELLINGS[6]}", "phone": SPELLINGS[3]}})
    assert web.status_code == 201, web.text
    outputs["api submit answer"] = web.text
    o311 = submit.post("/open311/v2/requests.json", data={
        "api_key": api.key("submit"), "service_code": "kesehatan", "description": f"Puskesmas tutup. {ALL}",
        "address_string": f"Desa Kalongan, telp {ALL}"[:500], "first_name": f"Siti {SPELLINGS[1]}",
        "last_name": SPELLINGS[10], "phone": SPELLINGS[0]})
    assert o311.status_code == 201, o311.text
    outputs["open311 submit answer"] = o311.text
    assert wait_until(lambda: len(tickets()) == 4 and settled(), timeout=60), "the four tickets did not settle"
    by_sender: dict[str | None, list[db.Ticket]] = {}
    for t in tickets():
        by_sender.setdefault(t.sender, []).append(t)
    own, neighbour = by_sender[PLANT][0], by_sender[NEIGHBOUR][0]
    notification = [m for m in botapi.messages_for(KESEHATAN) if neighbour.number in (m.plain_text or "")][0]
    # A reply to the notification (which may carry several tickets: the ticket named first).
    botapi.push_message(chat_id=KESEHATAN, user_id=PIC_KES, text=f"{neighbour.number} Sudah kami telepon di {ALL}",
                        reply_to_message_id=notification.message_id)
    botapi.push_message(chat_id=KESEHATAN, user_id=PIC_KES, text=f"/tanggapi {own.number} Kami hubungi {ALL}")
    botapi.push_message(chat_id=KESEHATAN, user_id=PIC_KES,
                        text=f"/selesai {by_sender[PLANT][1].number} Selesai, dikonfirmasi ke {ALL}")
    botapi.push_message(chat_id=KESEHATAN, user_id=PIC_KES, text=f"/status {neighbour.number}")
    assert wait_until(lambda: responses() == 3 and bot_answers() >= 4 and settled(), timeout=60), \
        (responses(), bot_answers(), settled(), [(m.plain_text or "")[:300] for m in botapi.messages_for(KESEHATAN)][-5:])

    # -- hunt ----------------------------------------------------------------------------------
    outputs["open311 list"] = httpx.get(api.base_url + "/open311/v2/requests.json?page_size=1000", timeout=10).text
    assert json.loads(outputs["open311 list"]) and len(json.loads(outputs["open311 list"])) == 4
    for t in tickets():
        outputs[f"open311 {t.number}"] = httpx.get(f"{api.base_url}/open311/v2/requests/{t.number}.json").text
        outputs[f"api read {t.number}"] = read.get(f"/api/v1/tickets/{t.number}").text
    outputs["api read sync"] = sync_all(read)
    outputs["api stats"] = read.get("/api/v1/stats").text
    for key, body in [(f"webhook {i}", r.body.decode()) for i, r in enumerate(receiver.accepted)]:
        outputs[key] = body
    assert len(receiver.accepted) >= 11 and any(json.loads(b)["type"] == "ticket.responded" for b in
                                                (r.body for r in receiver.accepted))
    for i, m in enumerate(botapi.messages):
        outputs[f"telegram {i} {m.method}"] = " ".join(
            x for x in (m.text, m.plain_text, m.caption, m.document.decode("utf-8", "replace") if m.document else "")
            if x)
    assert any(f"Tiket {neighbour.number}" in (m.plain_text or "") and "Laporan:" in (m.plain_text or "")
               for m in botapi.messages_for(KESEHATAN))  # the bot's /status answer went out
    # The same configuration for the admin commands (their webhooks are the service's business, not theirs).
    config = write_config(tmp_path / "hunt.toml", {**data, "api": {k: v for k, v in data["api"].items()
                                                                   if k != "webhooks"}})
    month = datetime.fromtimestamp(own.received_at, api.service.config.tz).strftime("%Y-%m")
    report = run_cli("report", "--config", str(config), "--month", month, "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    outputs.update(report_files(tmp_path / "report"))
    audit = run_cli("audit", "--config", str(config))
    outputs["audit listing"] = audit.stdout + audit.stderr
    outputs["logs"] = log.getvalue()
    assert "event=ticket_registered" in outputs["logs"]

    found = {name: leaks(text) for name, text in outputs.items()}
    assert {k: v for k, v in found.items() if v} == {}
    # What is masked is still there for the reader: the masked form, the ticket numbers.
    assert "0812****0001" in outputs["open311 list"] and own.number in outputs["api read sync"]

    # read:personal shows the number in clear, as an explicit and audited choice.
    shown = personal.get(f"/api/v1/tickets/{own.number}").json()
    assert shown["reporter"]["phone"] == PLANT and SPELLINGS[0] in shown["text"]
    with db.database.connection_context():
        assert privacy.list_audit(action="read:personal")[-1].actor == "api:ppid"

    # -- erase, then the raw storage -----------------------------------------------------------
    forms = [s.encode("utf-8") for s in (*SPELLINGS, NSN)] + [f.encode() for f in privacy.pdu_forms(PLANT)]
    before = raw_storage(api, backend, db_url, tmp_path / "before")
    assert any(f in blob for f in forms for blob in before.values())  # the search sees what was planted
    erased = run_cli("privacy", "erase", "--config", str(config), "--phone", SPELLINGS[3], "--reason", "PPID 2026/016")
    assert erased.returncode == 0, erased.stderr
    assert ("database checkpointed" if backend == "sqlite" else "database vacuumed") in erased.stdout, erased.stdout
    assert not leaks(erased.stdout + erased.stderr)
    raw = raw_storage(api, backend, db_url, tmp_path / "after")
    remaining = {name: [f.decode() for f in forms if f in blob or f.lower() in blob] for name, blob in raw.items()}
    if any(remaining.values()):  # say what holds it: a row the erase missed, or an old version of one
        with db.database.connection_context():
            rows = [(r.id, r.state, r.kind, r.pdu[:12], bool(leaks(r.text or "")))
                    for r in db.InboundSms.select().order_by(db.InboundSms.id)]
        remaining["(inbound rows now: id, state, kind, pdu, text leaks)"] = rows  # type: ignore[assignment]
        remaining["(erase said)"] = [erased.stdout + erased.stderr]
        with db.database.connection_context():
            remaining["(tickets now: number, status, anonymised, updated, sender or text leaks)"] = [  # type: ignore[assignment]
                (t.number, t.status, t.anonymised_at, t.updated_at, bool(leaks(f"{t.sender} {t.text}")))
                for t in db.Ticket.select().order_by(db.Ticket.id)]
    found = {k: v for k, v in remaining.items() if v}
    assert not found, "after the erase, still found:\n" + pprint.pformat(found, width=110)
    # The record stays: the complaints and responses, masked.
    with db.database.connection_context():
        assert db.Ticket.get_by_id(neighbour.id).sender == NEIGHBOUR
        assert "0812****0001" in db.Ticket.get_by_id(neighbour.id).text
        assert db.Ticket.select().where(db.Ticket.anonymised_at.is_null(False)).count() == 3


def raw_storage(api: Any, backend: str, db_url: str | None, backups: Path) -> dict[str, bytes]:
    """SQLite: the database file, its WAL and a backup made now; PostgreSQL: every page of every relation."""
    if backend == "sqlite":
        path = Path(api.service.config.service.database.removeprefix("sqlite:///"))
        wal = Path(str(path) + "-wal")
        raw = {"database file": path.read_bytes(), "WAL": wal.read_bytes() if wal.exists() else b""}
        made = subprocess.run([sys.executable, "-m", "laporgub.backup", str(path), str(backups)],
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        raw["new backup"] = Path(made.stdout.strip()).read_bytes()
        assert raw["database file"] and raw["new backup"]
        return raw
    assert db_url is not None
    return postgres_pages(db_url)


def tickets() -> list[db.Ticket]:
    with db.database.connection_context():
        return list(db.Ticket.select().order_by(db.Ticket.id))


def responses() -> int:
    with db.database.connection_context():
        return db.PicResponse.select().count()


def bot_answers() -> int:
    with db.database.connection_context():
        return db.ChatReply.select().where(db.ChatReply.status == "sent").count()


def sync_all(client: httpx.Client) -> str:
    pages, cursor = [], None
    while True:
        page = client.get("/api/v1/tickets", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        pages.append(json.dumps(page, ensure_ascii=False))
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return "\n".join(pages)


def report_files(out: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(out.iterdir()):
        if path.suffix == ".csv":
            files["report csv"] = path.read_text(encoding="utf-8")
        elif path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path, read_only=True)
            files["report xlsx"] = "\n".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True)
                                             for v in row if v is not None)
        elif path.suffix == ".pdf" and shutil.which("pdftotext"):
            files["report pdf"] = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                                 check=True).stdout
    assert {"report csv", "report xlsx"} <= set(files), sorted(files)
    return files


def postgres_pages(url: str) -> dict[str, bytes]:
    """Every page of every table, index and TOAST table of the test database (and the planner's statistics),
    read raw with pageinspect (the test server's superuser)."""
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    pages: dict[str, bytes] = {}
    try:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        cur.execute("""
            SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'i', 't', 'm') AND c.relpersistence = 'p'
              AND (n.nspname = 'public' OR c.oid IN (SELECT reltoastrelid FROM pg_class
                                                     WHERE relnamespace = 'public'::regnamespace)
                   OR c.relname IN ('pg_statistic', 'pg_toast_2619'))""")
        for (name,) in cur.fetchall():
            cur.execute("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int", (name,))
            blocks = cur.fetchone()[0]
            chunks = []
            for block in range(blocks):
                cur.execute("SELECT get_raw_page(%s, %s)", (name, block))
                chunks.append(bytes(cur.fetchone()[0]))
            pages[name] = b"".join(chunks)
    finally:
        conn.close()
    assert "ticket" in pages and "inbound_sms" in pages
    return pages


def test_incident_messages_show_no_number(modem: Any, botapi: Any, make_service: Any) -> None:
    """Reports linked into one incident: the incident's message, its edits and its notices carry the
    newest texts; the numbers citizens typed in them are masked like everywhere else."""
    from laporgub.clock import ShiftedClock

    clock = ShiftedClock(datetime.now().timestamp())
    make_service([modem], botapi, clock=clock)
    senders = [f"+6281390000{i:03d}" for i in range(6)]  # six reports: past the first notice (5)
    for i, sender in enumerate(senders):
        modem.receive_sms(sender, f"Banjir setinggi lutut masuk rumah warga di Desa Tambakrejo Kec Gayamsari "
                                  f"Kota Semarang, RT {i + 1}, tolong hubungi {SPELLINGS[i]} atau {SPELLINGS[-1 - i]}")
        assert wait_until(lambda n=i + 1: len(tickets()) == n, timeout=30)
        clock.jump(40)  # past the incident's edit interval: each report may show in an edit
    assert wait_until(lambda: settled() and any(m.method == "editMessageText" for m in botapi.messages), timeout=60)
    with db.database.connection_context():
        linked = db.Ticket.select().where(db.Ticket.incident.is_null(False)).count()
    assert linked >= 5, "the reports did not form an incident: the test would hunt nothing"
    found = {f"{m.method} {m.chat_id}": leaks(" ".join(str(v) for v in m.params.values()))
             for m in botapi.messages}
    assert {k: v for k, v in found.items() if v} == {}
