"""The report's figures, computed in SQL, checked against a month seeded by hand.

Every ticket below is there for a reason (its comment says which); the
expected figures are worked out by hand in the comments next to them. The
same seed feeds the file and delivery tests (``seed_known_month``).
"""

from __future__ import annotations

import os
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import peewee
import pytest

from laporgub import db
from laporgub.report.aggregate import NO_REGENCY, ActionRow, MonthlyReport, MonthSnapshot, aggregate
from laporgub.report.periods import Month

WIB = zoneinfo.ZoneInfo("Asia/Jakarta")
JAN = Month(2026, 1)
H = 3600.0
DAY = 86400.0
TARGET = 3 * DAY
SLA = {"register": 9.0, "filter": 27.0, "notify": 9.0, "deliver": 3.0}
GROUP_NAMES = {
    "channel": "SMSLaporGubChannel", "sosial_hukum": "Group Sosial Hukum", "kesehatan": "Group Kesehatan",
    "ekonomi_industri": "Group Ekonomi Industri", "darurat": "Group Darurat",
    "esdm_lh": "Group ESDM & Lingkungan Hidup", "pertanian": "Group Pertanian",
    "infrastruktur": "Group Infrastruktur", "energi": "Group Energi", "kabkota": "Group Kab/Kota",
    "pelayanan_publik": "Group Pelayanan Publik",
}


def wib(*args: int) -> float:
    return datetime(*args, tzinfo=WIB).timestamp()


#: The cut-off: the scheduled report time, the 1st of February at 08:00 WIB.
AS_OF = wib(2026, 2, 1, 8, 0)


@dataclass(frozen=True)
class Seeded:
    """Ticket numbers of the hand-made month, by role."""

    numbers: dict[str, str]


def _ticket(key: str, received: float, *, kind: str = "complaint", channel: str = "sms",
            regency: str | None = None, register: float = 1.0, filter_: float | None = 2.0,
            sender: str | None = None, status: str = "open") -> db.Ticket:
    local = datetime.fromtimestamp(received, WIB)
    four = f"{abs(hash(key)) % 10000:04d}"
    return db.Ticket.create(
        number=f"{local:%y%m%d}-{four}-1", day=f"{local:%y%m%d}", four=four, seq=1,
        sender=sender or f"+62811292{four}0", channel=channel, kind=kind, text=f"tiket {key}", regency=regency,
        status=status, received_at=received, registered_at=received + register,
        filtered_at=None if filter_ is None else received + register + filter_, updated_at=received,
    )


def _cat(t: db.Ticket, group: str, *, at: float | None = None, keywords: str = "", source: str = "filter",
         removed: float | None = None) -> None:
    db.TicketCategory.create(ticket=t, group=group, keywords=keywords, source=source, active=removed is None,
                             created_at=at if at is not None else (t.filtered_at or t.registered_at),
                             removed_at=removed)


def _resp(t: db.Ticket, pic: int, name: str, agency: str | None, at: float, action: str = "response") -> None:
    db.PicResponse.create(ticket=t, pic_telegram_id=pic, pic_name=name, agency=agency, text=f"{action} {t.number}",
                          action=action, created_at=at)


def _note(t: db.Ticket, dest: str, *, kind: str = "ticket", notify: float | None = None,
          deliver: float | None = None) -> None:
    queued = t.filtered_at or t.registered_at
    sent = None if notify is None else queued + notify
    acked = None if sent is None or deliver is None else sent + deliver
    db.Notification.create(ticket=t, destination=dest, chat_id=-1001000000001, kind=kind,
                           status="sent" if acked else "pending", queued_at=queued, sent_at=sent, acked_at=acked)


def seed_known_month() -> Seeded:
    """Seed January 2026 (and its neighbours) with the tickets the figures below are worked out from."""
    n: dict[str, str] = {}
    for pid, name, agency, groups, admin in (
        (111, "dr. Ani", "Dinas Kesehatan", "kesehatan", False),
        (222, "Admin Kominfo", "Diskominfo", "channel", True),
        (333, "Ir. Budi", "Dinas PU Bina Marga", "infrastruktur", False),
        (444, "Citra", "Dinas ESDM", "energi", False),
    ):
        db.Pic.create(telegram_id=pid, name=name, agency=agency, surat_tugas="800/1/2026", groups=groups,
                      admin=admin, updated_at=0)
    with db.database.atomic():
        # T1: answered in 2 h, closed after 30 h; one late notification (notify 12 s, deliver 4 s).
        t1 = _ticket("T1", wib(2026, 1, 5, 10, 0), regency="Kota Semarang", status="closed")
        _cat(t1, "channel")
        _cat(t1, "kesehatan", keywords="puskesmas")
        _resp(t1, 111, "dr. Ani", "Dinas Kesehatan", t1.received_at + 2 * H)
        _resp(t1, 111, "dr. Ani", "Dinas Kesehatan", t1.received_at + 30 * H, "close")
        _note(t1, "channel", notify=1.0, deliver=0.5)
        _note(t1, "kesehatan", notify=12.0, deliver=4.0)
        _note(t1, "admin", kind="alert", notify=50.0, deliver=50.0)  # not a ticket/spam notification
        n["T1"] = t1.number
        # T2: 23:59:59 WIB on the 5th (still the 5th), answered after 4 days (over target); register 12 s.
        t2 = _ticket("T2", wib(2026, 1, 5, 23, 59, 59), regency="Kabupaten Semarang", register=12.0,
                     status="responded")
        _cat(t2, "channel")
        _cat(t2, "infrastruktur", keywords="jalan rusak")
        _resp(t2, 333, "Ir. Budi", "Dinas PU Bina Marga", t2.received_at + 4 * DAY)
        _note(t2, "channel")  # never sent: counts against notify and deliver
        n["T2"] = t2.number
        # T3: the very first second of January (00:00:00 WIB); never answered; filter took 30 s.
        t3 = _ticket("T3", wib(2026, 1, 1, 0, 0, 0), regency="Kabupaten Demak", filter_=30.0)
        _cat(t3, "channel")
        _cat(t3, "kabkota")
        _cat(t3, "pelayanan_publik", keywords="ktp")
        n["T3"] = t3.number
        # T4: 23:30 on the 31st, answered at 02:00 on 1 February (next month, before the report).
        t4 = _ticket("T4", wib(2026, 1, 31, 23, 30), status="responded")
        _cat(t4, "channel")
        _cat(t4, "kesehatan", keywords="puskesmas,dokter")
        _resp(t4, 111, "dr. Ani", "Dinas Kesehatan", wib(2026, 2, 1, 2, 0))
        n["T4"] = t4.number
        # T5: routed to energi, re-routed after 1 h to infrastruktur, answered there 2 h later.
        t5 = _ticket("T5", wib(2026, 1, 10, 9, 0), status="responded")
        reroute = t5.received_at + 1 * H
        _cat(t5, "channel")
        _cat(t5, "energi", keywords="pln", removed=reroute)
        _cat(t5, "infrastruktur", at=reroute, source="reroute")
        _resp(t5, 444, "Citra", "Dinas ESDM", reroute, "reroute")
        _resp(t5, 333, "Ir. Budi", "Dinas PU Bina Marga", t5.received_at + 3 * H)
        n["T5"] = t5.number
        # T6: spam, left alone: counted only as spam.
        t6 = _ticket("T6", wib(2026, 1, 12, 8, 0), kind="spam")
        _cat(t6, "channel")
        _note(t6, "channel", kind="spam", notify=2.0, deliver=1.0)
        n["T6"] = t6.number
        # T7: suspected spam that the admin re-routed to sosial_hukum after 30 min and answered at 1 h.
        t7 = _ticket("T7", wib(2026, 1, 12, 9, 0), kind="spam", status="responded")
        _cat(t7, "channel")
        _cat(t7, "sosial_hukum", at=t7.received_at + 0.5 * H, source="reroute")
        _resp(t7, 222, "Admin Kominfo", "Diskominfo", t7.received_at + 0.5 * H, "reroute")
        _resp(t7, 222, "Admin Kominfo", "Diskominfo", t7.received_at + 1 * H)
        n["T7"] = t7.number
        # T8: from the website, answered in 10 h by a PIC no longer in the pic table.
        t8 = _ticket("T8", wib(2026, 1, 15, 14, 0), channel="web", status="responded")
        _cat(t8, "channel")
        _cat(t8, "pelayanan_publik", keywords="ktp")
        _resp(t8, 555, "Dedi", "Biro Organisasi", t8.received_at + 10 * H)
        n["T8"] = t8.number
        # T11: answered only on 2 February, after the cut-off: still open in this report.
        t11 = _ticket("T11", wib(2026, 1, 20, 10, 0), status="responded")
        _cat(t11, "channel")
        _cat(t11, "darurat", keywords="banjir")
        _resp(t11, 333, "Ir. Budi", "Dinas PU Bina Marga", wib(2026, 2, 2, 9, 0))
        n["T11"] = t11.number
        # T9: 23:59:59 WIB on 31 December: the month before. Answered in 1 h.
        t9 = _ticket("T9", wib(2026, 1, 1, 0, 0, 0) - 1, status="responded")
        _cat(t9, "channel")
        _resp(t9, 111, "dr. Ani", "Dinas Kesehatan", t9.received_at + 1 * H)
        _note(t9, "channel", notify=100.0, deliver=100.0)
        n["T9"] = t9.number
        # T10: 00:00:00 WIB on 1 February: not January.
        t10 = _ticket("T10", wib(2026, 2, 1, 0, 0, 0))
        _cat(t10, "channel")
        _cat(t10, "energi", keywords="pln")
        n["T10"] = t10.number
    return Seeded(n)


@pytest.fixture()
def database(tmp_path: Path) -> Iterator[peewee.Database]:
    handle = db.open_database(f"sqlite:///{tmp_path / 'report.db'}")
    handle.connect(reuse_if_open=True)
    yield handle
    if not handle.is_closed():
        handle.close()


def build(database: peewee.Database, month: Month = JAN, as_of: float = AS_OF) -> MonthlyReport:
    return aggregate(database, month, tz=WIB, timezone_name="Asia/Jakarta", as_of=as_of, target_seconds=TARGET,
                     sla_limits=SLA, group_names=GROUP_NAMES)


def row(rows: tuple, key: str):  # type: ignore[no-untyped-def]
    found = [r for r in rows if r.key == key]
    assert len(found) == 1, f"{key}: {[r.key for r in rows]}"
    return found[0].stats


def approx(value: float | None, expected: float) -> bool:
    return value is not None and abs(value - expected) < 1e-6


def check_known_month(report: MonthlyReport, numbers: dict[str, str]) -> None:
    """Every figure of the hand-made January."""
    t = report.totals.stats
    # complaints: T1 T2 T3 T4 T5 T7 (re-routed spam) T8 T11; spam: T6
    assert (t.received, report.totals.spam, report.totals.sms, report.totals.web) == (8, 1, 7, 1)
    # answered by the cut-off: T1 2h, T2 96h, T4 2.5h, T5 3h, T7 1h, T8 10h
    assert (t.responded, t.on_target, t.closed, t.still_open, t.rerouted) == (6, 5, 1, 2, 2)
    assert t.share_responded == 0.75 and t.share_on_target == 0.625
    assert approx(t.median_seconds, 2.75 * H)  # (2.5 + 3) / 2
    assert approx(t.p90_seconds, 53 * H)  # rank 4.5 of [1, 2, 2.5, 3, 10, 96]: 10 + 0.5 * 86
    p = report.previous.stats
    assert (p.received, p.responded, p.on_target, p.still_open) == (1, 1, 1, 0)
    assert approx(p.median_seconds, 1 * H)

    g = {r.key: r.stats for r in report.groups}
    assert list(g) == list(GROUP_NAMES)  # every configured group, in docs/sop.md's order
    assert (g["channel"].received, g["channel"].responded, g["channel"].still_open, g["channel"].rerouted) == (8, 6, 2, 0)
    assert approx(g["channel"].median_seconds, 2.75 * H)
    kes = g["kesehatan"]  # T1 2h (closed), T4 2.5h
    assert (kes.received, kes.responded, kes.on_target, kes.closed, kes.still_open) == (2, 2, 2, 1, 0)
    assert approx(kes.median_seconds, 2.25 * H) and approx(kes.p90_seconds, 2.45 * H)
    inf = g["infrastruktur"]  # T2 96h; T5 re-routed in: 2h counted from the re-routing
    assert (inf.received, inf.responded, inf.on_target, inf.closed, inf.still_open, inf.rerouted) == (2, 2, 1, 0, 0, 1)
    assert approx(inf.median_seconds, 49 * H) and approx(inf.p90_seconds, 86.6 * H)
    en = g["energi"]  # T5 left energi before the answer
    assert (en.received, en.responded, en.still_open, en.rerouted) == (1, 0, 0, 1)
    assert en.median_seconds is None
    sos = g["sosial_hukum"]  # T7 re-routed in at 0.5h, answered at 1h
    assert (sos.received, sos.responded, sos.rerouted) == (1, 1, 1) and approx(sos.median_seconds, 0.5 * H)
    pp = g["pelayanan_publik"]  # T3 open, T8 10h
    assert (pp.received, pp.responded, pp.still_open) == (2, 1, 1) and approx(pp.median_seconds, 10 * H)
    assert (g["kabkota"].received, g["kabkota"].still_open) == (1, 1)
    assert (g["darurat"].received, g["darurat"].responded, g["darurat"].still_open) == (1, 0, 1)
    assert g["pertanian"].received == 0 and g["pertanian"].share_responded is None

    a = {r.key: r.stats for r in report.agencies}
    # Answering for complaints comes from duty groups (a PIC's groups but the channel, which gets every complaint).
    assert set(a) == {"Dinas Kesehatan", "Dinas PU Bina Marga", "Dinas ESDM"}
    assert {r.key: r.groups for r in report.agencies} == {
        "Dinas Kesehatan": ("kesehatan",), "Dinas PU Bina Marga": ("infrastruktur",), "Dinas ESDM": ("energi",)}
    assert (a["Dinas Kesehatan"].received, a["Dinas Kesehatan"].responded, a["Dinas Kesehatan"].closed) == (2, 2, 1)
    assert approx(a["Dinas Kesehatan"].median_seconds, 2.25 * H)
    pu = a["Dinas PU Bina Marga"]  # T2 96h, T5 2h from the re-routing; T11's answer is after the cut-off
    assert (pu.received, pu.responded, pu.on_target) == (2, 2, 1) and approx(pu.p90_seconds, 86.6 * H)
    esdm = a["Dinas ESDM"]
    assert (esdm.received, esdm.responded, esdm.rerouted, esdm.still_open) == (1, 0, 1, 0)
    # The admin's agency is only in the channel: not responsible for the 8 complaints, listed with what it did
    # (re-routed T7 and answered it). Biro Organisasi's PIC is no longer registered: what it did (answered T8).
    assert report.agencies_without_duty == (
        ActionRow(key="Biro Organisasi", label="Biro Organisasi", responded=1, closed=0, rerouted=0, groups=()),
        ActionRow(key="Diskominfo", label="Diskominfo", responded=1, closed=0, rerouted=1, groups=("channel",)),
    )

    pics = {r.key: r for r in report.pics}
    assert set(pics) == {"111", "333", "444"}
    assert pics["111"].stats == a["Dinas Kesehatan"] and pics["333"].stats == pu
    assert report.pics_without_duty == (
        ActionRow(key="555", label="Dedi", agency="Biro Organisasi", responded=1, closed=0, rerouted=0, groups=()),
        ActionRow(key="222", label="Admin Kominfo", agency="Diskominfo", responded=1, closed=0, rerouted=1,
                  groups=("channel",)),
    )

    r = {x.key: x.stats for x in report.regencies}
    assert (r[NO_REGENCY].received, r[NO_REGENCY].responded) == (5, 4)  # T4 T5 T7 T8 T11
    assert (r["Kota Semarang"].received, r["Kota Semarang"].closed) == (1, 1)
    assert (r["Kabupaten Demak"].received, r["Kabupaten Demak"].still_open) == (1, 1)
    assert report.regencies[0].key == NO_REGENCY  # most complaints first

    days = {d.date.day: (d.complaints, d.responded, d.spam) for d in report.days}
    assert len(report.days) == 31 and report.days[0].date == date(2026, 1, 1)
    assert days[1] == (1, 0, 0) and days[5] == (2, 2, 0) and days[10] == (1, 1, 0)
    assert days[12] == (1, 1, 1) and days[15] == (1, 1, 0) and days[20] == (1, 0, 0) and days[31] == (1, 1, 0)
    assert sum(d.complaints for d in report.days) == 8

    kw = [(k.keyword, k.group, k.complaints) for k in report.keywords]
    assert kw == [("ktp", "pelayanan_publik", 2), ("puskesmas", "kesehatan", 2), ("banjir", "darurat", 1),
                  ("dokter", "kesehatan", 1), ("jalan rusak", "infrastruktur", 1), ("pln", "energi", 1)]

    s = {x.stage: x for x in report.stages}
    assert (s["register"].total, s["register"].within, s["register"].completed) == (9, 8, 9)
    assert (s["filter"].total, s["filter"].within) == (9, 8)
    assert (s["notify"].total, s["notify"].completed, s["notify"].within) == (4, 3, 2)  # T1 x2, T2 unsent, T6
    assert (s["deliver"].total, s["deliver"].completed, s["deliver"].within) == (4, 3, 2)
    assert s["notify"].share_within == 0.5 and approx(s["register"].max_seconds, 12.0)

    assert report.open_count == 2
    assert [o.number for o in report.open_first] == [numbers["T3"], numbers["T11"]]
    first = report.open_first[0]
    assert first.groups == ("kabkota", "pelayanan_publik") and first.regency == "Kabupaten Demak"
    assert approx(first.age_seconds, AS_OF - wib(2026, 1, 1))
    assert "****" in first.sender and "+62" not in first.sender


def test_known_month_every_figure(database: peewee.Database) -> None:
    numbers = seed_known_month().numbers
    check_known_month(build(database), numbers)


def test_channel_membership_adds_no_duty(database: peewee.Database) -> None:
    """A PIC in the channel and in a topic group answers for the topic group's complaints only."""
    seed_known_month()
    db.Pic.create(telegram_id=666, name="Eka", agency="Diskominfo", surat_tugas="800/2/2026",
                  groups="channel,darurat", admin=False, updated_at=0)
    report = build(database)
    a = {r.key: r for r in report.agencies}
    dk = a["Diskominfo"]  # T11 reached darurat (still open); T7 its admin re-routed and answered
    assert dk.groups == ("darurat",)
    assert (dk.stats.received, dk.stats.responded, dk.stats.still_open, dk.stats.rerouted) == (2, 1, 1, 1)
    assert "Diskominfo" not in {r.key for r in report.agencies_without_duty}
    eka = next(r for r in report.pics if r.key == "666")
    assert (eka.stats.received, eka.stats.responded, eka.stats.still_open) == (1, 0, 1)  # not 8 from the channel
    assert [r.key for r in report.pics_without_duty] == ["555", "222"]  # the admin PIC itself still has no duty
    inactive = db.Pic.update(active=False).where(db.Pic.telegram_id == 444).execute()
    assert inactive == 1
    report = build(database)
    assert "444" not in {r.key for r in report.pics}
    citra = next(r for r in report.pics_without_duty if r.key == "444")  # acted on T5, no longer on duty
    assert (citra.responded, citra.rerouted, citra.groups) == (0, 1, ())


def test_empty_month(database: peewee.Database) -> None:
    seed_known_month()
    report = build(database, Month(2026, 3), as_of=wib(2026, 4, 1, 8, 0))
    t = report.totals.stats
    assert (t.received, t.responded, t.still_open, report.totals.spam) == (0, 0, 0, 0)
    assert t.median_seconds is None and t.share_responded is None
    assert report.previous.stats.received == 1  # the month before, February: T10
    assert all(g.stats.received == 0 for g in report.groups)
    assert len(report.days) == 31 and all(d.complaints == 0 for d in report.days)
    assert report.open_count == 0 and report.open_first == () and report.keywords == ()
    assert all(s.total == 0 and s.share_within is None for s in report.stages)
    feb = build(database, Month(2026, 2), as_of=wib(2026, 3, 1, 8, 0))
    assert feb.totals.stats.received == 1 and feb.previous.stats.received == 8
    # T10 is February's; its re-routing history is empty
    assert {g.key: g.stats.received for g in feb.groups if g.stats.received} == {"channel": 1, "energi": 1}


def test_cut_off_hides_later_actions(database: peewee.Database) -> None:
    seed_known_month()
    # At 01:00 on 1 February, T4's answer (02:00) has not happened yet.
    early = build(database, as_of=wib(2026, 2, 1, 1, 0)).totals.stats
    assert (early.responded, early.still_open) == (5, 3)
    # On 3 February, T11's answer (2 February 09:00) counts too: 12 days 23 h after receipt.
    later = build(database, as_of=wib(2026, 2, 3)).totals.stats
    assert (later.responded, later.on_target, later.still_open) == (7, 5, 1)


def test_snapshot_listings(database: peewee.Database) -> None:
    numbers = seed_known_month().numbers
    with MonthSnapshot(database, JAN, WIB, AS_OF, TARGET) as snapshot:
        records = {r.number: r for r in snapshot.ticket_records()}
        open_all = [o.number for o in snapshot.open_tickets()]
    assert open_all == [numbers["T3"], numbers["T11"]]
    assert len(records) == 9  # eight complaints and one spam
    t5 = records[numbers["T5"]]
    assert t5.passed_groups == ("channel", "energi", "infrastruktur") and t5.groups == ("channel", "infrastruktur")
    assert t5.rerouted and t5.status == "ditanggapi" and t5.first_agency == "Dinas PU Bina Marga"
    assert approx(t5.response_seconds, 3 * H) and t5.on_target
    t1 = records[numbers["T1"]]
    assert t1.status == "ditutup" and t1.first_pic == "dr. Ani" and approx(t1.register_seconds, 1.0)
    assert records[numbers["T6"]].kind == "spam" and records[numbers["T7"]].kind == "pengaduan"
    assert records[numbers["T11"]].status == "terbuka"  # its answer is after the cut-off
    assert list(records)[0] == numbers["T3"]  # in order of receipt


def test_snapshot_leaves_no_tables(database: peewee.Database) -> None:
    seed_known_month()
    before = set(database.get_tables())
    build(database)
    temp = database.execute_sql("SELECT name FROM sqlite_temp_master WHERE type = 'table'").fetchall()
    assert set(database.get_tables()) == before and temp == []


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_url() -> str | None:
    url = os.environ.get("LAPORGUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return None
    try:
        conn = peewee.PostgresqlDatabase(None)
        conn.init(url.rsplit("/", 1)[1], **_pg_args(url))
        conn.connect()
        conn.close()
    except Exception:
        return None
    return url


def _pg_args(url: str) -> dict[str, object]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return {"host": parts.hostname, "port": parts.port or 5432, "user": parts.username}


def test_same_figures_on_postgresql() -> None:
    url = _postgres_url()
    if url is None:
        pytest.skip("PostgreSQL with psycopg2 not reachable (set LAPORGUB_TEST_POSTGRES to a server URL)")
    name = f"laporgub_report_{uuid.uuid4().hex[:10]}"
    admin = peewee.PostgresqlDatabase(url.rsplit("/", 1)[1], **_pg_args(url))
    admin.connect()
    admin.execute_sql(f"CREATE DATABASE {name}")
    try:
        handle = db.open_database(url.rsplit("/", 1)[0] + "/" + name)
        handle.connect(reuse_if_open=True)
        # db.py's FloatField is REAL (4 bytes) on PostgreSQL: epoch seconds would lose ~2 minutes of
        # precision. Widen the time columns here so this test checks the report's SQL, not that.
        for model in db.MODELS:
            for field in model._meta.sorted_fields:
                if isinstance(field, peewee.FloatField):
                    handle.execute_sql(f'ALTER TABLE "{model._meta.table_name}" ALTER COLUMN '
                                       f'"{field.column_name}" TYPE DOUBLE PRECISION')
        numbers = seed_known_month().numbers
        check_known_month(build(handle), numbers)
        handle.close()
    finally:
        admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_the_models_reasons_are_no_keywords(database: peewee.Database) -> None:
    seed_known_month()
    # A group the learned model chose carries its reason where keywords stand (laporgub/routing_model.py).
    db.TicketCategory.update(keywords="jalan rusak,model: jalan + lubang").where(
        db.TicketCategory.keywords == "jalan rusak").execute()
    kw = [(k.keyword, k.group) for k in build(database).keywords]
    assert ("jalan rusak", "infrastruktur") in kw and not [k for k, _ in kw if k.startswith("model:")]
