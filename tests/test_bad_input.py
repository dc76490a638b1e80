"""Bad input that had no test of its own (docs/bad-input.md lists every kind and the test that proves it)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laporgub import db, pdu
from laporgub.config import parse_config
from laporgub.sim.botapi import parse_html, utf16_len
from laporgub.sim.modem import ModemEmulator
from tests.conftest import TOKEN, TOKEN_ENV, make_config_data, memory_intake, wait_until, write_config

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = -1001000000001


@pytest.fixture()
def intake() -> Iterator[Any]:
    with memory_intake() as intake:
        yield intake


def test_empty_sms_gets_the_help_text_and_no_ticket(intake: Any) -> None:
    result = intake.store_sms("modem-1", pdu.encode_deliver("+6281234500001", "")[0], time.time())
    assert result.kind == "too_short" and result.ticket_id is None
    assert db.Ticket.select().count() == 0
    [sms] = list(db.OutboundSms.select())
    assert sms.purpose == "help" and sms.destination == "+6281234500001"


@pytest.mark.parametrize("dcs", [0x0C, 0x80, 0xC0, 0xD3, 0x24])  # reserved alphabet, reserved groups, compressed
def test_unknown_or_reserved_data_coding_is_stored_never_dropped(intake: Any, dcs: int) -> None:
    hexpdu = pdu.encode_deliver("+6281234500002", "Jalan rusak parah mohon diperbaiki")[0]
    raw = bytearray.fromhex(hexpdu)
    sca = raw[0] + 1
    oa_digits = raw[sca + 1]
    dcs_at = sca + 1 + 2 + (oa_digits + 1) // 2 + 1  # first octet, OA length + TOA + digits, PID
    raw[dcs_at] = dcs
    result = intake.store_sms("modem-1", raw.hex().upper(), time.time())
    row = db.InboundSms.get_by_id(result.inbound_id)
    assert row.pdu == raw.hex().upper()  # kept raw whatever it decodes to
    assert row.state in ("done", "undecodable")
    if row.state == "done":
        assert row.text is not None and row.text.encode("utf-8")


def test_fifty_part_sms_and_markup_reach_telegram_whole_and_escaped(botapi: Any, make_service: Any) -> None:
    """A 50-part SMS is one ticket with the whole text, split into Telegram messages of at most 4096
    characters; HTML and Markdown typed by a citizen arrive as the same characters, never as markup."""
    words = ("Jalan desa rusak parah berlubang besar sepanjang dua kilometer sehingga kendaraan sering jatuh dan "
             "anak sekolah kesulitan lewat setiap pagi maupun sore hari ").split()
    text = ""
    i = 0
    while len(text) < 50 * 153 - 10:
        text += words[i % len(words)] + " "
        i += 1
    text = text[: 50 * 153].strip()
    assert len(pdu.encode_deliver("+6281234500003", text, concat_reference=9)) == 50
    markup = ('<b>Jalan</b> rusak & <script>alert(1)</script> <a href="http://x">klik</a> *tebal* _miring_ '
              '`kode` [tautan](http://x) &lt;bukan tag&gt; di Kabupaten Semarang')
    modem = ModemEmulator(name="big", storage_size=80).start()
    try:
        service = make_service([modem], botapi)
        modem.receive_sms("+6281234500003", text)
        modem.receive_sms("+6281234500004", markup)

        def done() -> bool:
            with db.database.connection_context():
                return (db.Ticket.select().where(db.Ticket.filtered_at.is_null(False)).count() == 2
                        and db.Notification.select().where(db.Notification.kind == "ticket").count() > 0
                        and db.Notification.select().where(db.Notification.status != "sent").count() == 0)

        assert wait_until(done, timeout=120), (len(modem.stored), modem.rejected)
        with db.database.connection_context():
            stored = {t.sender: t.text for t in db.Ticket.select()}
        assert stored == {"+6281234500003": text, "+6281234500004": markup}
        channel = botapi.messages_for(CHANNEL)
        assert all(m.text is not None and utf16_len(parse_html(m.text)[0]) <= 4096 for m in channel)
        plain = "".join(m.plain_text or "" for m in channel)
        assert markup in plain  # escaped on the way, shown as typed
        assert len(channel) >= 3  # 7,650 characters do not fit one message
        joined = " ".join("".join(m.plain_text or "" for m in channel).split())
        assert " ".join(text.split()[:40]) in joined and " ".join(text.split()[-40:]) in joined
        assert service.metrics.value("laporgub_telegram_errors_total", group="channel", error="bad_request") in (
            None, 0.0)
    finally:
        modem.stop()


def run_service(tmp_path: Path, database: str, **env: str) -> subprocess.CompletedProcess[str]:
    data = make_config_data(tmp_path, ["/nonexistent/modem"], "http://127.0.0.1:9/bot", database=database)
    config = write_config(tmp_path / "config.toml", data)
    return subprocess.run([sys.executable, "-m", "laporgub", "run", "--config", str(config)],
                          env={**os.environ, TOKEN_ENV: TOKEN, **env}, capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


@pytest.mark.parametrize("database", ["sqlite:////proc/laporgub-none/laporgub.db",
                                      "postgresql://laporgub@127.0.0.1:9/laporgub"])
def test_unreachable_database_is_one_line_and_exit_1(tmp_path: Path, database: str) -> None:
    if database.startswith("postgresql"):
        pytest.importorskip("psycopg2")
    proc = run_service(tmp_path, database)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "event=startup_failed reason=database" in proc.stderr and "not usable" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    data = make_config_data(tmp_path, ["/nonexistent/modem"], "http://127.0.0.1:9/bot")
    config = write_config(tmp_path / "config.toml", data)
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = subprocess.run([sys.executable, "-m", "laporgub", "run", "--config", str(config)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"telegram.token_env: environment variable {TOKEN_ENV} is not set or empty"


def test_wrong_sim_pin_is_entered_once_and_never_again(botapi: Any, tmp_path: Path, token_env: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Three wrong PINs lock a SIM until someone types its PUK on site: a refused PIN is not retried."""
    from laporgub.actors import modem as modem_actor
    from laporgub.app import Service
    from laporgub.config import Secret

    locked = ModemEmulator(name="wrong-pin", pin="4321").start()
    monkeypatch.setenv("LAPORGUB_TEST_WRONG_PIN", "0000")
    data = make_config_data(tmp_path, [locked.port], botapi.base_url)
    data["modems"][0]["pin_env"] = "LAPORGUB_TEST_WRONG_PIN"
    service = Service(parse_config(data), Secret(token_env), metrics_server=False)
    stop = threading.Event()
    try:
        service.start()
        threading.Thread(target=service.run, args=(stop,), daemon=True).start()
        assert locked.wait_for(lambda m: "AT+CPIN=0000" in m.commands, timeout=20)
        # Reconnects go on (backoff 1, 2, 4 s...): the PIN state is asked again, the PIN never sent again.
        assert locked.wait_for(lambda m: m.commands.count("AT+CPIN?") >= 3, timeout=30)
        assert locked.commands.count("AT+CPIN=0000") == 1
        assert locked.pin_state == "SIM PIN"  # not PUK-locked
        assert service.metrics.value("laporgub_modem_up", modem="modem-1") == 0
    finally:
        stop.set()
        service.stop()
        locked.stop()
        modem_actor._REFUSED_PINS.discard(("modem-1", "0000"))


def test_markup_telegram_refuses_is_sent_again_as_plain_text(modem: Any, botapi: Any, make_service: Any) -> None:
    """A notification Telegram refuses with "can't parse entities" (our bug, never the citizen's text) still
    arrives, as plain text, once in each chat."""
    make_service([modem], botapi)
    botapi.fail_next("sendMessage", status=400, times=1,
                     description="Bad Request: can't parse entities: unsupported start tag \"x\" at byte offset 0")
    modem.receive_sms("+6281234500009", "Lampu jalan mati di <gang> 5 & 6 sejak minggu lalu, gelap sekali")

    def settled() -> bool:
        with db.database.connection_context():
            rows = list(db.Notification.select().where(db.Notification.kind == "ticket"))
        return bool(rows) and all(r.status == "sent" for r in rows)

    assert wait_until(settled, timeout=30)
    delivered = [m for m in botapi.messages if "<gang> 5 & 6" in (m.plain_text or "")]
    with db.database.connection_context():
        chats = {r.chat_id for r in db.Notification.select().where(db.Notification.kind == "ticket")}
    assert sorted(m.chat_id for m in delivered) == sorted(chats)  # every chat once, none twice
    assert [m.parse_mode for m in delivered].count(None) == 1  # the refused one, again as plain text


def test_the_catalogue_names_only_tests_and_targets_that_exist() -> None:
    """docs/bad-input.md points at tests by file::function: each must exist (renames break the catalogue)."""
    import re

    doc = (ROOT / "docs" / "bad-input.md").read_text(encoding="utf-8")
    refs = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", doc)
    assert len(refs) > 40
    missing = [f"{path}::{name}" for path, name in refs
               if not re.search(rf"^\s*(async )?def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)]
    assert not missing, missing
    for target in re.findall(r"`(fuzz/\w+\.py)`", doc):
        assert (ROOT / target).is_file(), target


def test_flood_from_one_number_waits_as_one_batch_per_group_with_default_settings(
    intake: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/sop.md's flood control with the defaults (5 SMS in 10 minutes): later SMS are follow-ups of the
    latest ticket, with no acknowledgement, held for one message per group at most every few minutes."""
    start = time.time()
    for i in range(9):
        text = f"Jalan desa rusak parah di RT {i}, mohon segera diperbaiki dinas terkait"
        intake.store_sms("modem-1", pdu.encode_deliver("+6281234500077", text)[0], start + i)
    tickets = list(db.Ticket.select().order_by(db.Ticket.id))
    assert len(tickets) == 5 and intake.config.intake.flood_count == 5
    followups = list(db.InboundSms.select().where(db.InboundSms.kind == "followup"))
    assert len(followups) == 4 and {f.ticket_id for f in followups} == {tickets[-1].id}
    assert db.OutboundSms.select().where(db.OutboundSms.purpose == "ack").count() == 5  # none for follow-ups
    rows = list(db.Notification.select().where(db.Notification.kind == "followup"))
    interval = intake.config.intake.followup_interval_minutes * 60
    assert interval >= 60
    by_dest: dict[str, set[float]] = {}
    for row in rows:
        by_dest.setdefault(row.destination, set()).add(row.next_attempt_at)
    assert "channel" in by_dest
    for due in by_dest.values():  # one batch per group, held back by the follow-up interval
        assert len(due) == 1 and min(due) >= start + interval
    assert "event=sms_flood" in caplog.text  # reported
