"""Incidents survive a crash: `laporgub run` killed (SIGKILL) in the middle of a burst about two events.

Linking is decided in the routing transaction, so a report is linked once or not at all;
after the restart the filter routes (and links) what was left, and nothing is lost.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laporgub import db
from laporgub.sim.modem import ModemEmulator
from laporgub.tickets import hashtag
from tests.conftest import ROOT, wait_until
from tests.test_process import CHANNEL, counts, ready, setup  # noqa: F401 - setup is the fixture

BURSTS = ROOT / "tests" / "data" / "incident_bursts_holdout.jsonl"


@pytest.fixture()
def modem() -> Iterator[ModemEmulator]:
    """Room for every SMS of the burst while the service is down (a full storage refuses the rest)."""
    emulator = ModemEmulator(name="test-modem", storage_size=60).start()
    yield emulator
    emulator.stop()
EVENTS = ("klaten-kebakaran-gedaren", "wonosobo-longsor-tieng")


def test_sigkill_mid_burst_loses_no_report_and_links_none_twice(setup: Any, modem: Any, botapi: Any,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    start, port, url = setup
    lines = [json.loads(line) for line in BURSTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    burst = sorted((line for line in lines if line["event"] in EVENTS), key=lambda line: line["minute"])
    assert len(burst) == 40
    first = start()
    assert wait_until(lambda: ready(port), timeout=30), first.log.read_text()
    for i, line in enumerate(burst):
        modem.receive_sms(line["sender"], line["text"])
        time.sleep(0.02)
        if i == 18:
            # Kill in the middle of the burst, once some reports are linked: whatever the service is doing.
            assert wait_until(lambda: linked(url) >= 3, timeout=20), first.log.read_text()[-3000:]
            first.proc.kill()
            first.proc.wait(10)
    second = start()
    assert wait_until(lambda: counts(url)["tickets"] == 40 and counts(url)["pending"] == 0, timeout=90), \
        (counts(url), unsettled(url), [line for line in second.log.read_text().splitlines()
                                       if "level=INFO" not in line][-20:])
    assert modem.wait_for(lambda m: not m.stored, timeout=20)

    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        tickets = list(db.Ticket.select())
        events = list(db.IncidentEvent.select().where(db.IncidentEvent.action.in_(["open", "link"])))
        profiles = Counter(p.ticket_id for p in db.LinkProfile.select())
    assert modem.rejected == 0
    # No report lost: one ticket per SMS, each in the channel (a repeat at most once, from the crash).
    assert Counter(t.sender for t in tickets) == Counter(line["sender"] for line in burst)
    channel = "\n".join(m.text for m in botapi.messages_for(CHANNEL) if m.method == "sendMessage")
    for t in tickets:
        assert 1 <= channel.count(hashtag(t.number)) <= 2, t.number
    # None linked twice: one link (or opening) and one profile per report.
    assert max(Counter(e.ticket_id for e in events).values()) == 1
    assert set(profiles.values()) == {1}
    event_of = {line["sender"]: line["event"] for line in burst}
    for event in EVENTS:
        held = Counter(t.incident_id for t in tickets if event_of[t.sender] == event and t.incident_id)
        assert held and held.most_common(1)[0][1] >= 18, (event, dict(held))
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(15) == 0


def unsettled(url: str) -> list[tuple[Any, ...]]:
    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        n, o = db.Notification, db.OutboundSms
        return ([(r.kind, r.destination, r.status, r.incident_id, r.next_attempt_at, r.claimed_by, r.last_error)
                 for r in n.select().where(n.status != "sent")]
                + [("sms", r.destination[-4:], r.status, r.claimed_by, r.last_error)
                   for r in o.select().where(o.status != "sent")])


def linked(url: str) -> int:
    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        return int(db.Ticket.select().where(db.Ticket.incident.is_null(False)).count())
