"""Two `laporgub run` processes on one PostgreSQL database, each with its own modem, one Bot API.

One of them is SIGKILLed in the middle of a burst and restarted: nothing is lost,
ticket numbers stay unique, no notification or acknowledgement goes out more than
twice (the documented at-most-one repeat of what was in flight at the kill), and
the survivor takes over the killed instance's roles (sending to chats, getUpdates)
when their leases expire.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from laporgub import db
from laporgub.sim.modem import ModemEmulator
from laporgub.tickets import hashtag
from tests.conftest import make_config_data, wait_until, write_config
from tests.test_process import Proc, free_port, ready

CHANNEL = -1001000000001
ADMIN_PIC = 222222222
LEASE = 2.0  # seconds: a killed instance's roles move within about this
CLAIM = 6.0  # seconds: its in-flight rows are sent again after this


def _query(fn: Any) -> Any:
    with db.database.connection_context():
        return fn()


def _open(url: str) -> None:
    db.database.initialize(db.make_database(url))


def _pending() -> int:
    return (
        db.Notification.select().where(db.Notification.status != "sent").count()
        + db.OutboundSms.select().where(db.OutboundSms.status != "sent").count()
        + db.Ticket.select().where(db.Ticket.filtered_at.is_null()).count()
    )


@pytest.fixture()
def two_sites(tmp_path: Path, botapi: Any, pg_url: str) -> Any:
    modems = [ModemEmulator(name=f"site-{s}", storage_size=60).start() for s in "ab"]
    configs, ports = [], []
    for site, modem in zip("ab", modems):
        port = free_port()
        data = make_config_data(tmp_path, [modem.port], botapi.base_url, group_interval=0.2, sweep=1.0,
                                database=pg_url)
        data["metrics"]["listen"] = f"127.0.0.1:{port}"
        data["service"].update(lease_seconds=LEASE, claim_seconds=CLAIM)  # instance: the default host:pid
        data["leaders"] = []  # fewer chats, fewer connections: the test shares the server
        data["report"]["enabled"] = False
        configs.append(write_config(tmp_path / f"config-{site}.toml", data))
        ports.append(port)
    procs: list[Proc] = []

    def start(i: int) -> Proc:
        proc = Proc(configs[i], tmp_path / f"service-{'ab'[i]}.log")
        procs.append(proc)
        return proc

    yield start, ports, modems, pg_url
    for proc in procs:
        proc.close()
    for modem in modems:
        modem.stop()
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()


def test_two_instances_one_database_survive_a_kill(two_sites: Any, botapi: Any) -> None:
    start, ports, (modem_a, modem_b), url = two_sites
    a = start(0)
    assert wait_until(lambda: ready(ports[0]), timeout=40), a.log.read_text()[-3000:]
    b = start(1)  # A holds every role; B stands by
    assert wait_until(lambda: ready(ports[1]), timeout=40), b.log.read_text()[-3000:]
    _open(url)

    # Half the senders share their last four digits: both instances allocate numbers for (day, 0200) at once.
    senders = [f"+62812{i:03d}{'0200' if i % 4 in (1, 2) else f'{7000 + i:04d}'}" for i in range(40)]
    assert len(set(senders)) == 40
    topics = ["Jalan rusak berlubang", "Lampu jalan mati", "Puskesmas tutup", "Sampah menumpuk",
              "Listrik padam", "Banjir setinggi lutut"]
    killed_at = None
    for i, sender in enumerate(senders):
        modem = modem_a if i % 2 == 0 else modem_b
        modem.receive_sms(sender, f"{topics[i % len(topics)]} di desa kami nomor {i}, mohon segera ditangani")
        time.sleep(0.03)
        if i == 16:
            assert wait_until(lambda: _query(lambda: db.Ticket.select().count()) >= 4, timeout=20)
            holder_a = _query(lambda: db.Lease.get(db.Lease.name == "dispatch:channel").holder)
            assert holder_a.endswith(f":{a.proc.pid}")  # A started first and took every role
            a.proc.kill()  # mid-burst, whatever A is doing
            a.proc.wait(10)
            killed_at = time.monotonic()

            def moved(old: str = holder_a) -> bool:
                return _query(lambda: {r.name: r.holder for r in db.Lease.select()}.get("dispatch:channel")) \
                    not in (None, old)

            assert wait_until(moved, timeout=LEASE * 4, interval=0.02)
            took = time.monotonic() - killed_at
            # Not before A's lease expired (renewed at most a third of it before the kill), soon after it.
            assert LEASE * 2 / 3 - 0.3 <= took <= LEASE * 4 / 3 + 1.5, took
        if i == 28:
            # While A is down: B takes getUpdates over and answers a PIC.
            first = _query(lambda: db.Ticket.select().order_by(db.Ticket.id).first().number)
            botapi.push_message(chat_id=ADMIN_PIC, user_id=ADMIN_PIC, chat_type="private", text=f"/status {first}")
            assert wait_until(lambda first=first: any(first in m.plain_text for m in botapi.messages_for(ADMIN_PIC)),
                              timeout=LEASE * 3 + 15), b.log.read_text()[-3000:]
            assert "event=getupdates_leader" in b.log.read_text()
    assert killed_at is not None
    # B took A's chats over after the lease expired, and sent them.
    assert wait_until(lambda: "event=lease_acquired lease=dispatch:channel" in b.log.read_text(), timeout=15)
    a2 = start(0)  # A again: it drains what its modem kept while it was down
    assert wait_until(lambda: ready(ports[0]), timeout=40), a2.log.read_text()[-3000:]
    assert wait_until(lambda: _query(lambda: db.Ticket.select().count() == 40 and _pending() == 0), timeout=90), \
        b.log.read_text()[-3000:]
    assert modem_a.wait_for(lambda m: not m.stored, timeout=20)
    assert modem_b.wait_for(lambda m: not m.stored, timeout=20)

    tickets = _query(lambda: list(db.Ticket.select()))
    assert Counter(t.sender for t in tickets) == Counter(senders)  # one ticket per SMS
    numbers = [t.number for t in tickets]
    assert len(set(numbers)) == 40
    shared = sorted(t.seq for t in tickets if t.four == "0200")
    assert shared == list(range(1, len(shared) + 1)) and len(shared) == 20  # no gaps, no repeats across instances

    channel = "\n".join(m.text for m in botapi.messages_for(CHANNEL))
    seen = {n: len(re.findall(re.escape(hashtag(n)) + r"(?!\d)", channel)) for n in numbers}
    assert all(1 <= c <= 2 for c in seen.values()), seen  # delivered; at most one repeat after the kill

    acks = Counter(dest for m in (modem_a, modem_b) for dest, _text in m.sent_messages)
    assert set(acks) == set(senders) and max(acks.values()) <= 2
    assert sum(acks.values()) <= 40 + 3  # a modem sends at most 3 claimed SMS at a time: the kill repeats few

    # The answer to the PIC went out once, although two instances were polling getUpdates over the test.
    answers = [m.plain_text for m in botapi.messages_for(ADMIN_PIC)]
    assert len(answers) == 1, answers
    # B sent the chats it took over from A.
    log_b = b.log.read_text()
    assert "event=notification_sent destination=channel" in log_b
    assert "Traceback" not in log_b, log_b[-3000:]
    holders = _query(lambda: {r.holder for r in db.Lease.select()})
    assert holders and all(re.fullmatch(r".+:\d+", h) for h in holders)
