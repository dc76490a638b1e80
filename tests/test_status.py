"""`laporgub status`: the last hour from the database and the metrics endpoint, exit 1 when something needs attention."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import pytest

from laporgub import db
from laporgub.cli.status import duration, main, status_main
from laporgub.config import Config, parse_config
from laporgub.status import default_metrics_url
from tests.conftest import TOKEN, TOKEN_ENV, make_config_data, wait_until, write_config
from tests.test_process import Proc, free_port, ready

CLOSED = "http://127.0.0.1:9/metrics"  # discard port: nothing listens


def _config(tmp_path: Path, modem_port: str = "loop://", base_url: str = "http://127.0.0.1:9/bot",
            **kwargs: Any) -> tuple[Config, dict[str, Any]]:
    data = make_config_data(tmp_path, [modem_port], base_url, **kwargs)
    return parse_config(data), data


@pytest.fixture(autouse=True)
def _close_db() -> Any:
    yield
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()


def _seed(url: str, now: float) -> None:
    db.open_database(url)
    with db.database.connection_context():
        for n, (age, register_s, filter_s) in enumerate(((600, 0.2, 0.5), (1200, 12.0, 1.0), (7200, 0.1, 0.1)), 1):
            t = db.Ticket.create(number=f"261128-0200-{n}", day="261128", four="0200", seq=n, text="jalan rusak",
                                 received_at=now - age, registered_at=now - age + register_s,
                                 filtered_at=now - age + register_s + filter_s, updated_at=now)
            for group in ("channel", "infrastruktur"):
                db.TicketCategory.create(ticket=t, group=group, created_at=now - age)
            db.Notification.create(ticket=t, destination="channel", chat_id=-1, kind="ticket", status="sent",
                                   queued_at=now - age + 2, sent_at=now - age + 3, acked_at=now - age + 3.2)
        # Telegram down for this one: waiting 300 s, far past notify's 9 s.
        db.Notification.create(ticket=t, destination="infrastruktur", chat_id=-1, kind="ticket",
                               queued_at=now - 300)
        db.InboundSms.create(modem="modem-1", dedupe_key="a", pdu="00", kind="complaint", reported_at=now - 600,
                             stored_at=now - 600)
        db.InboundSms.create(modem="modem-1", dedupe_key="b", pdu="00", kind="too_short", reported_at=now - 60,
                             stored_at=now - 60)


def test_status_from_the_database_when_the_service_is_down(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    now = time.time()
    _seed(config.service.database, now)
    out = io.StringIO()
    code = status_main(config, out, CLOSED, now=now)
    text = out.getvalue()
    assert code == 1, text
    assert "Service: not reachable at http://127.0.0.1:9/metrics" in text
    # Two tickets in the hour, one registered in 12 s: 1 of 2 within 9 s.
    assert re.search(r"register\s+9 s\s+2\s+1\s+50\.0%", text), text
    assert re.search(r"filter\s+27 s\s+2\s+2\s+100\.0%", text), text
    # Two sent within the limit, one still waiting past it: a breach already.
    assert re.search(r"notify\s+9 s\s+3\s+2\s+66\.7%.*\s5 min$", text, re.M), text
    assert re.search(r"deliver\s+3 s\s+2\s+2\s+100\.0%", text), text
    assert "SMS received, last hour: 2 (complaint 1, too_short 1)" in text
    assert re.search(r"notification\s+1 waiting\s+oldest 5 min", text), text
    assert re.search(r"infrastruktur\s+Group Infrastruktur\s+3\s+2 h 0 min", text), text
    assert "- register: 1 of 2 over the 9 s limit in the last hour" in text
    assert "- notify: 1 of 3 over the 9 s limit in the last hour" in text
    assert "- the service's metrics endpoint is not reachable" in text
    assert "Modems (from the metrics endpoint)\n  unknown" in text


def test_status_without_a_database(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    out = io.StringIO()
    assert status_main(config, out, CLOSED) == 1
    assert "Database: cannot read" in out.getvalue() and "no database file at" in out.getvalue()
    assert str(tmp_path / "laporgub.db") in out.getvalue()
    assert not (tmp_path / "laporgub.db").exists()  # the status never creates one


def test_status_of_a_running_service(tmp_path: Path, modem: Any, botapi: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    config, data = _config(tmp_path, modem.port, botapi.base_url, group_interval=0.2, sweep=1.0)
    data["metrics"]["listen"] = f"127.0.0.1:{port}"
    path = write_config(tmp_path / "config.toml", data)
    proc = Proc(path, tmp_path / "service.log")
    try:
        assert wait_until(lambda: ready(port), timeout=30), proc.log.read_text()[-3000:]
        for i in range(3):
            modem.receive_sms(f"+62812300000{i}", f"Jalan rusak berlubang di desa kami nomor {i}, mohon diperbaiki")
        assert wait_until(lambda: len(modem.sent_messages) >= 3, timeout=30)  # acknowledged
        config = parse_config(data)
        assert default_metrics_url(config) == f"http://127.0.0.1:{port}/metrics"

        def settled() -> bool:
            out = io.StringIO()
            status_main(config, out)
            return "Nothing needs attention." in out.getvalue() and " 0 waiting" in out.getvalue()

        assert wait_until(settled, timeout=30)
        out = io.StringIO()
        code = status_main(config, out)
        text = out.getvalue()
        assert code == 0, text
        assert re.search(r"Service: ready · version \S+ · http://127\.0\.0\.1:\d+/metrics", text)
        assert re.search(r"register\s+9 s\s+3\s+3\s+100\.0%", text), text
        assert re.search(r"modem-1\s+up\s+home\s+-?\d+ dBm", text), text
        assert re.search(r"infrastruktur\s+Group Infrastruktur\s+3\s", text), text
        assert "SMS received, last hour: 3 (complaint 3)" in text

        # The same through the command line entry point.
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        assert main(["--config", str(path)]) == 0
    finally:
        proc.close()


def test_duration_formatting() -> None:
    assert [duration(s) for s in (0.0134, 35, 250, 3900, 3 * 86400 + 7200)] == [
        "0.0134 s", "35 s", "4 min", "1 h 5 min", "3 d 2 h"]
    assert duration(None) == "-" and duration(float("nan")) == "-"
