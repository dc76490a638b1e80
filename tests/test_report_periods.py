"""Months, local days and the report schedule: pure functions, WIB boundaries."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

import pytest

from laporgub.report.periods import LocalClock, Month, due_month, month_to_send, next_send_time, send_time
from laporgub.report.settings import ReportConfig, report_chats

WIB = zoneinfo.ZoneInfo("Asia/Jakarta")


def wib(*args: int) -> float:
    return datetime(*args, tzinfo=WIB).timestamp()


def test_month_parse_and_navigation() -> None:
    assert Month.parse("2026-01") == Month(2026, 1)
    assert str(Month(2026, 1)) == "2026-01"
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert Month(2025, 12).next() == Month(2026, 1)
    assert Month(2026, 2).label == "Februari 2026"
    for bad in ("2026-13", "2026-1", "26-01", "januari", "2026-00", ""):
        with pytest.raises(ValueError):
            Month.parse(bad)


def test_month_window_is_local_midnight() -> None:
    start, end = Month(2026, 1).window(WIB)
    assert start == wib(2026, 1, 1) == datetime(2025, 12, 31, 17, 0, tzinfo=zoneinfo.ZoneInfo("UTC")).timestamp()
    assert end == wib(2026, 2, 1)
    assert Month.of(start, WIB) == Month(2026, 1)
    assert Month.of(start - 1, WIB) == Month(2025, 12)  # 23:59:59 WIB on the 31st
    assert Month.of(end - 0.001, WIB) == Month(2026, 1)


def test_days_of_month() -> None:
    days = Month(2024, 2).days(WIB)
    assert len(days) == 29 and days[0].date == date(2024, 2, 1) and days[-1].date == date(2024, 2, 29)
    assert all(d.end - d.start == 86400 for d in days)
    assert days[0].start == wib(2024, 2, 1) and days[-1].end == wib(2024, 3, 1)
    # a zone with daylight saving time: the bucket follows the local calendar day
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    march = Month(2026, 3).days(berlin)
    assert sorted({d.end - d.start for d in march}) == [82800, 86400]


def test_schedule_default_first_at_eight() -> None:
    cfg = ReportConfig()
    assert send_time(Month(2026, 1), cfg.day, cfg.hour, cfg.minute, WIB) == wib(2026, 2, 1, 8, 0)
    assert due_month(wib(2026, 2, 1, 7, 59, 59), 1, 8, 0, WIB) == Month(2025, 12)
    assert due_month(wib(2026, 2, 1, 8, 0), 1, 8, 0, WIB) == Month(2026, 1)
    assert due_month(wib(2026, 2, 20, 12, 0), 1, 8, 0, WIB) == Month(2026, 1)
    assert due_month(wib(2026, 1, 1, 8, 0), 1, 8, 0, WIB) == Month(2025, 12)  # across the year
    assert next_send_time(wib(2026, 2, 1, 7, 0), 1, 8, 0, WIB) == wib(2026, 2, 1, 8, 0)
    assert next_send_time(wib(2026, 2, 1, 8, 0), 1, 8, 0, WIB) == wib(2026, 3, 1, 8, 0)
    assert next_send_time(wib(2026, 12, 5), 3, 9, 30, WIB) == wib(2027, 1, 3, 9, 30)


def test_catch_up_window() -> None:
    # down at 08:00 on the 1st, up again on the 3rd: the report still goes
    assert month_to_send(wib(2026, 2, 3, 10, 0), 1, 8, 0, 7, WIB) == Month(2026, 1)
    # installed on the 20th: last month's report is not sent
    assert month_to_send(wib(2026, 2, 20, 10, 0), 1, 8, 0, 7, WIB) is None
    # an hour before the schedule, last month's report is long past its window
    assert month_to_send(wib(2026, 2, 1, 7, 0), 1, 8, 0, 7, WIB) is None
    assert month_to_send(wib(2026, 2, 1, 8, 0), 1, 8, 0, 7, WIB) == Month(2026, 1)


def test_local_clock_matches_zoneinfo() -> None:
    clock = LocalClock(WIB)
    for epoch in (wib(2026, 1, 1), wib(2026, 1, 31, 23, 59, 59), wib(2026, 1, 15, 12, 34, 56) + 0.9):
        assert clock.text(epoch) == datetime.fromtimestamp(epoch, WIB).strftime("%Y-%m-%d %H:%M:%S")
        assert clock.naive(epoch) == datetime.fromtimestamp(epoch, WIB).replace(tzinfo=None)
    berlin = LocalClock(zoneinfo.ZoneInfo("Europe/Berlin"))
    before = datetime(2026, 3, 29, 1, 59, 59, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")).timestamp()
    assert berlin.text(before) == "2026-03-29 01:59:59"
    assert berlin.text(before + 1) == "2026-03-29 03:00:00"
    assert clock.text(None) == ""


def test_report_chats() -> None:
    class Leader:
        def __init__(self, chat_id: int) -> None:
            self.chat_id = chat_id

    class Cfg:
        leaders = (Leader(-100), Leader(-101), Leader(-100))

    assert report_chats(Cfg(), ReportConfig()) == (-100, -101)
    assert report_chats(Cfg(), ReportConfig(extra_chat_ids=(-5, -101))) == (-100, -101, -5)
    assert report_chats(Cfg(), ReportConfig(send_to_leaders=False, extra_chat_ids=(-5,))) == (-5,)
