"""Months, days and the schedule, in the service's time zone: pure functions, no database.

Every boundary is computed here, once, as epoch seconds: the start of a month
or a day is local midnight (00:00 WIB), converted with :mod:`zoneinfo`, so a
ticket received at 00:30 WIB on the 1st (17:30 UTC, still the last day of the
month before in UTC) belongs to the new month, and one received at 23:59:59 WIB
on the 31st to the old one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from laporgub.render import wording

__all__ = [
    "MONTH_NAMES",
    "Day",
    "LocalClock",
    "Month",
    "due_month",
    "format_local",
    "month_to_send",
    "next_send_time",
    "send_time",
    "service_existed",
]

#: Indonesian month names, January first.
MONTH_NAMES: tuple[str, ...] = tuple(wording(f"report.month_{m}") for m in range(1, 13))

_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Day:
    """One local calendar day of a month and its ``[start, end)`` in epoch seconds."""

    date: date
    start: float
    end: float


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A calendar month, ``YYYY-MM``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``.

        Raises:
            ValueError: not of that form, or not a real month.
        """
        match = _MONTH_RE.fullmatch(text.strip())
        if not match:
            raise ValueError(f"month must be YYYY-MM, not {text!r}")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12 or year < 2000:
            raise ValueError(f"month must be YYYY-MM with a month 01-12 and a year from 2000, not {text!r}")
        return cls(year, month)

    @classmethod
    def of(cls, epoch: float, tz: tzinfo) -> Month:
        """The month an instant falls in, in ``tz``."""
        local = datetime.fromtimestamp(epoch, tz)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        """``Januari 2026``."""
        return f"{MONTH_NAMES[self.month - 1]} {self.year}"

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def window(self, tz: tzinfo) -> tuple[float, float]:
        """``[start, end)`` of the month in epoch seconds: local midnight of the 1st to that of the next 1st."""
        return _local_midnight(self.first_day(), tz), _local_midnight(self.next().first_day(), tz)

    def days(self, tz: tzinfo) -> list[Day]:
        """The month's local days with their boundaries (23 or 25 hours long where DST changes)."""
        result = []
        day = self.first_day()
        end_day = self.next().first_day()
        while day < end_day:
            following = day + timedelta(days=1)
            result.append(Day(day, _local_midnight(day, tz), _local_midnight(following, tz)))
            day = following
        return result


def _local_midnight(day: date, tz: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def format_local(epoch: float | None, tz: tzinfo, fmt: str = "%d-%m-%Y %H:%M") -> str:
    """An instant as local text (``-`` for none)."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz).strftime(fmt)


class LocalClock:
    """Fast epoch -> local time conversion for long listings (the per-ticket CSV, the XLSX lists).

    The UTC offset is looked up once per quarter hour of UTC time (every time
    zone changes its offset only on quarter-hour boundaries) and cached; the
    rest is plain arithmetic, several times faster than ``datetime.fromtimestamp(x, ZoneInfo)``.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._offsets: dict[int, float] = {}

    def offset(self, epoch: float) -> float:
        key = int(epoch // 900)
        found = self._offsets.get(key)
        if found is None:
            delta = datetime.fromtimestamp(key * 900, self.tz).utcoffset()
            found = self._offsets[key] = delta.total_seconds() if delta is not None else 0.0
        return found

    def text(self, epoch: float | None) -> str:
        """``2026-01-31 23:59:59`` in local time (empty for None)."""
        if epoch is None:
            return ""
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch + self.offset(epoch)))

    def naive(self, epoch: float) -> datetime:
        """Local wall-clock time without tzinfo (what a spreadsheet cell holds)."""
        return datetime.fromtimestamp(epoch + self.offset(epoch), timezone.utc).replace(tzinfo=None)


# -- the schedule ---------------------------------------------------------------


def send_time(month: Month, day: int, hour: int, minute: int, tz: tzinfo) -> float:
    """When the report on ``month`` is due: ``day`` of the next month at ``hour:minute`` local time."""
    following = month.next()
    return datetime(following.year, following.month, day, hour, minute, tzinfo=tz).timestamp()


def due_month(now: float, day: int, hour: int, minute: int, tz: tzinfo) -> Month:
    """The latest month whose report is due at ``now`` (its send time has passed).

    On the 1st at 07:59 with the default 08:00 schedule that is the month before
    last; from 08:00 on it is the month just ended.
    """
    last = Month.of(now, tz).previous()
    if send_time(last, day, hour, minute, tz) <= now:
        return last
    return last.previous()


def month_to_send(now: float, day: int, hour: int, minute: int, catch_up_days: float, tz: tzinfo) -> Month | None:
    """The month whose report should go out at ``now``, or None.

    That is the latest month whose send time has passed, as long as ``now`` is
    within ``catch_up_days`` of that time: a service that was down at 08:00 on
    the 1st sends the report when it starts again that week, but a service
    installed in the middle of a month does not send last month's report.
    """
    month = due_month(now, day, hour, minute, tz)
    if now - send_time(month, day, hour, minute, tz) > catch_up_days * 86400.0:
        return None
    return month


def service_existed(month: Month, installed_at: float | None, tz: tzinfo) -> bool:
    """Whether the service was running during ``month`` (it ended after the database was created).

    A new installation sends no report on a month that ended before its first start:
    the Governor would read an empty month in which the service did not exist.
    """
    return installed_at is None or month.window(tz)[1] > installed_at


def next_send_time(now: float, day: int, hour: int, minute: int, tz: tzinfo) -> float:
    """The first scheduled send time after ``now``."""
    return send_time(due_month(now, day, hour, minute, tz).next(), day, hour, minute, tz)
