"""`laporgub run` as a real process: metrics from start-up, SIGKILL mid-burst loses nothing, SIGTERM exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from laporgub import db
from laporgub.tickets import hashtag
from tests.conftest import TOKEN, TOKEN_ENV, make_config_data, wait_until, write_config

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = -1001000000001


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """One `laporgub run` process with its log file."""

    def __init__(self, config: Path, log: Path) -> None:
        env = {**os.environ, TOKEN_ENV: TOKEN, "PYTHONUNBUFFERED": "1"}
        self.log = log
        self.handle = open(log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "laporgub", "run", "--config", str(config)],
            stdout=self.handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.handle.close()


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return response.read().decode()


def ready(port: int) -> bool:
    try:
        return "laporgub_ready 1.0" in metrics_text(port)
    except OSError:
        return False


@pytest.fixture()
def setup(tmp_path: Path, modem: Any, botapi: Any) -> Any:
    port = free_port()
    data = make_config_data(tmp_path, [modem.port], botapi.base_url, group_interval=0.2, sweep=1.0)
    data["metrics"]["listen"] = f"127.0.0.1:{port}"
    config = write_config(tmp_path / "config.toml", data)
    procs: list[Proc] = []

    def start() -> Proc:
        proc = Proc(config, tmp_path / "service.log")
        procs.append(proc)
        return proc

    yield start, port, data["service"]["database"]
    for proc in procs:
        proc.close()
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()


def counts(url: str) -> dict[str, int]:
    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        return {
            "tickets": db.Ticket.select().count(),
            "pending": db.Notification.select().where(db.Notification.status != "sent").count()
            + db.OutboundSms.select().where(db.OutboundSms.status != "sent").count()
            + db.Ticket.select().where(db.Ticket.filtered_at.is_null()).count(),
        }


def test_metrics_from_startup_and_clean_sigterm(setup: Any, modem: Any) -> None:
    start, port, _url = setup
    proc = start()
    assert wait_until(lambda: ready(port), timeout=30), proc.log.read_text()
    text = metrics_text(port)
    # Every known series exists from start-up, at zero.
    for line in (
        'laporgub_stage_duration_seconds_bucket{le="9.0",stage="register"} 0.0',
        'laporgub_stage_duration_seconds_bucket{le="27.0",stage="filter"} 0.0',
        'laporgub_stage_duration_seconds_bucket{le="3.0",stage="deliver"} 0.0',
        'laporgub_sla_seconds{stage="notify"} 9.0',
        'laporgub_sms_received_total{kind="complaint",modem="modem-1"} 0.0',
        'laporgub_actor_restarts_total{actor="dispatcher:kesehatan"} 0.0',
        'laporgub_modem_up{modem="modem-1"} 1.0',
    ):
        assert line in text, line
    assert "_created" not in text
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(15) == 0
    assert time.monotonic() - started < 10
    log = proc.log.read_text()
    assert "event=service_stopped" in log and "Traceback" not in log


def test_sigkill_mid_burst_loses_nothing(setup: Any, modem: Any, botapi: Any) -> None:
    start, port, url = setup
    first = start()
    assert wait_until(lambda: ready(port), timeout=30), first.log.read_text()
    senders = [f"+62812555{i:05d}" for i in range(30)]
    topics = ["Jalan rusak berlubang", "Lampu jalan mati", "Puskesmas tutup", "Sampah menumpuk",
              "Listrik padam", "Harga beras naik"]
    for i, sender in enumerate(senders):
        modem.receive_sms(sender, f"{topics[i % len(topics)]} di desa kami nomor {i}, mohon segera ditangani")
        time.sleep(0.02)
        if i == 12:
            # Kill in the middle of the burst, whatever the service is doing.
            assert wait_until(lambda: counts(url)["tickets"] >= 3, timeout=20)
            first.proc.kill()
            first.proc.wait(10)
    # SMS that arrive while the service is down stay in modem storage.
    assert len(modem.stored) >= 1
    second = start()
    assert wait_until(lambda: counts(url)["tickets"] == 30 and counts(url)["pending"] == 0, timeout=60), \
        second.log.read_text()[-3000:]
    assert modem.wait_for(lambda m: not m.stored, timeout=20)

    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        per_sender = Counter(t.sender for t in db.Ticket.select())
        numbers = [t.number for t in db.Ticket.select()]
    assert set(per_sender) == set(senders) and set(per_sender.values()) == {1}  # one ticket per SMS
    channel = "\n".join(m.text for m in botapi.messages_for(CHANNEL))
    for number in numbers:
        seen = channel.count(hashtag(number))
        assert 1 <= seen <= 2, (number, seen)  # delivered; at most one repeat after the crash
    acks = Counter(dest for dest, _text in modem.sent_messages)
    assert set(acks) == set(senders) and max(acks.values()) <= 2
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(15) == 0


def test_sighup_reload_applies_new_keywords_and_keeps_old_config_when_broken(
    setup: Any, modem: Any, botapi: Any, tmp_path: Path
) -> None:
    import tomllib

    from tests.conftest import write_config

    start, port, url = setup
    proc = start()
    assert wait_until(lambda: ready(port), timeout=30), proc.log.read_text()
    config_path = tmp_path / "config.toml"
    data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    darurat = data["groups"]["darurat"]["chat_id"]

    # A broken file: the service says why and keeps running on the old config.
    config_path.write_text(config_path.read_text(encoding="utf-8").replace(
        f"chat_id = {darurat}", 'chat_id = "oops"', 1), encoding="utf-8")
    proc.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "event=config_reload_rejected" in proc.log.read_text(), timeout=15)
    assert "groups.darurat.chat_id: must be an integer" in proc.log.read_text()
    assert proc.proc.poll() is None and ready(port)
    assert 'laporgub_config_reload_failures_total 1.0' in metrics_text(port)
    admin = data["telegram"]["admin_chat_id"]
    assert wait_until(lambda: any("DITOLAK" in m.plain_text for m in botapi.messages_for(admin)), timeout=15)

    # A valid file with a new emergency keyword changes the routing of the next SMS.
    data["groups"]["darurat"]["keywords"].append("buaya muara")
    write_config(config_path, data)
    proc.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "event=config_reloaded" in proc.log.read_text(), timeout=15)
    modem.receive_sms("+6281277700001", "Ada buaya muara berkeliaran di kali dekat sekolah anak anak")
    assert wait_until(lambda: any("buaya muara" in m.plain_text for m in botapi.messages_for(darurat)), timeout=30)
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(15) == 0
