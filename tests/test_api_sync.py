"""Incremental sync (``GET /api/v1/tickets``): cursor paging stays exact while tickets are written."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import pytest

from laporgub import db
from laporgub.api import sync
from tests.api_helpers import start_api_fixture, tickets_in_db  # noqa: F401
from tests.conftest import wait_until


def _pages(client: Any, cursor: str | None, limit: int, **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Page until has_more is false; every ticket version served, in order, and the last cursor."""
    served: list[dict[str, Any]] = []
    while True:
        query = {"limit": limit, **params}
        if cursor is not None:
            query = {"limit": limit, "cursor": cursor}
        page = client.get("/api/v1/tickets", params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        served += body["tickets"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return served, cursor


def test_paging_under_concurrent_inserts_skips_and_repeats_nothing(start_api: Any, modem: Any) -> None:
    api = start_api()
    writer = api.client(api.key("submit"))
    reader = api.client(api.key("read"))
    made: list[str] = []
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set() and i < 40:
            answer = writer.post("/api/v1/complaints", json={
                "text": f"Jalan rusak dan lampu jalan mati di Desa Nomor {i}",
                "reporter": {"phone": f"+62812345{i:05d}"}})
            assert answer.status_code == 201
            made.append(answer.json()["ticket"])
            if i % 8 == 0:
                modem.receive_sms(f"+6285700{i:05d}", f"Banjir di RT {i} Kaligawe, mohon bantuan")
            i += 1

    thread = threading.Thread(target=write)
    thread.start()
    seen: list[dict[str, Any]] = []
    cursor = None
    # Sync with small pages all the while the writer inserts and the pipeline routes and notifies.
    while thread.is_alive():
        served, cursor = _pages(reader, cursor, 3)
        seen += served
        time.sleep(0.01)
    thread.join()
    stop.set()

    sms_sent = len(range(0, len(made), 8))

    def settled() -> bool:
        with db.database.connection_context():
            return (db.Ticket.select().count() == len(made) + sms_sent
                    and db.Ticket.select().where(db.Ticket.notified_at.is_null()).count() == 0)

    assert wait_until(settled, timeout=30)
    served, cursor = _pages(reader, cursor, 3)
    seen += served

    # Versions strictly increase across all pages: nothing served twice, nothing out of order.
    versions = [t["version"] for t in seen]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    # Every ticket reached us, and the last version we hold of each is its current state.
    final = {t.number: t for t in tickets_in_db()}
    assert set(made) <= set(final)
    last = {t["ticket"]: t for t in seen}
    assert set(last) == set(final)
    current, _ = _pages(reader, None, 500)
    assert {t["ticket"]: t["version"] for t in current} == {n: t["version"] for n, t in last.items()}
    assert all(t["status"] == "open" and t["groups"] for t in last.values())
    # Nothing new: the cursor stays, an empty page.
    empty = reader.get("/api/v1/tickets", params={"cursor": cursor}).json()
    assert empty == {"tickets": [], "next_cursor": cursor, "has_more": False}


def test_updated_since_starts_the_sync_and_the_cursor_keeps_it(start_api: Any) -> None:
    api = start_api()
    writer = api.client(api.key("submit"))
    reader = api.client(api.key("read"))
    old = writer.post("/api/v1/complaints", json={"text": "Jalan berlubang di Salatiga sudah lama"}).json()["ticket"]
    assert wait_until(lambda: all(t.notified_at for t in tickets_in_db()))  # routing sets updated_at: let it pass
    with db.database.connection_context():
        db.Ticket.update(updated_at=db.Ticket.updated_at - 3600).where(db.Ticket.number == old).execute()
    time.sleep(0.05)
    since = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60))
    new = writer.post("/api/v1/complaints", json={"text": "Lampu jalan mati di Boyolali"}).json()["ticket"]
    first = reader.get("/api/v1/tickets", params={"updated_since": since, "limit": 1}).json()
    served, _ = _pages(reader, first["next_cursor"], 1)
    numbers = {t["ticket"] for t in first["tickets"] + served}
    assert new in numbers and old not in numbers


def test_cursor_is_opaque_and_checked() -> None:
    cursor = sync.Cursor(after=41, since=1764300000.5)
    assert sync.Cursor.decode(cursor.encode()) == cursor
    assert cursor.encode().isascii() and "{" not in cursor.encode()  # opaque, URL-safe
    for bad in ("", "!!!", "eyJ2IjoyLCJhIjoxLCJzIjpudWxsfQ", "eyJ2IjoxLCJhIjotMSwicyI6bnVsbH0"):
        with pytest.raises(sync.CursorError):
            sync.Cursor.decode(bad)


def _postgres_url() -> str | None:
    url = os.environ.get("LAPORGUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg2

        psycopg2.connect(url, connect_timeout=2).close()
    except Exception:
        return None
    return url


def test_change_seq_follows_commit_order_on_postgresql() -> None:
    """A transaction that wrote first but commits last still gets the higher change number."""
    url = _postgres_url()
    if url is None:
        pytest.skip("PostgreSQL with psycopg2 not reachable (set LAPORGUB_TEST_POSTGRES to a server URL)")
    import psycopg2

    name = f"laporgub_sync_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    target = url.rsplit("/", 1)[0] + "/" + name
    try:
        handle = db.open_database(target)
        with handle.connection_context():
            now = time.time()
            for seq in (1, 2):
                db.Ticket.create(number=f"261128-0000-{seq}", day="261128", four="0000", seq=seq, text="x",
                                 received_at=now, registered_at=now, updated_at=now)
            start = sync.latest_change()
        slow, fast = psycopg2.connect(target), psycopg2.connect(target)
        slow.cursor().execute("UPDATE ticket SET status = 'responded' WHERE number = '261128-0000-1'")
        fast.cursor().execute("UPDATE ticket SET status = 'closed' WHERE number = '261128-0000-2'")
        fast.commit()
        with handle.connection_context():
            page = sync.changed_tickets(sync.Cursor(after=start), 10)
            assert len(page.ticket_ids) == 1
            slow.commit()
            later = sync.changed_tickets(page.cursor, 10)
            assert len(later.ticket_ids) == 1 and later.ticket_ids != page.ticket_ids  # not skipped
        slow.close()
        fast.close()
        handle.close()
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_change_seq_on_sqlite_survives_stale_saves(tmp_path: Any) -> None:
    handle = db.open_database(f"sqlite:///{tmp_path / 's.db'}")
    with handle.connection_context():
        now = time.time()
        a = db.Ticket.create(number="261128-0000-1", day="261128", four="0000", seq=1, text="x", received_at=now,
                             registered_at=now, updated_at=now)
        b = db.Ticket.create(number="261128-0000-2", day="261128", four="0000", seq=2, text="x", received_at=now,
                             registered_at=now, updated_at=now)
        stale = db.Ticket.get_by_id(a.id)
        b.status = "closed"
        b.save()
        stale.status = "responded"
        stale.save()  # a row loaded before b changed: still gets a number above b's
        seqs = dict(db.Ticket.select(db.Ticket.id, sync.CHANGE_SEQ).tuples())
        assert seqs[a.id] > seqs[b.id] > 2
        assert sync.changed_tickets(sync.Cursor(after=seqs[b.id]), 10).ticket_ids == (a.id,)
    handle.close()
