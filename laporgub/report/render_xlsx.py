"""The XLSX for staff (XlsxWriter): one sheet per table, real numbers and dates.

Counts are integers, shares are fractions shown with a ``%`` format (0.875 ->
87.5%), durations are hours (or seconds for the SLA stages) as decimal
numbers, and dates are Excel dates in WIB (Excel has no time zones; the
"Keterangan" sheet says which zone).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]

from laporgub.render import wording, wordings
from laporgub.report.aggregate import ActionRow, MonthlyReport, OpenTicket, ResponseStats, StatsRow, Totals
from laporgub.report.periods import LocalClock
from laporgub.report.texts import AGENCY_RULE, STAGE_LABELS, no_duty_text

__all__ = ["SHEETS", "STATS_COLUMNS", "render_xlsx"]

#: Sheet names, in order.
SHEETS: tuple[str, ...] = wordings("report.xlsx_sheets")
(_SUMMARY, _STAGES, _PER_GROUP, _PER_AGENCY, _PER_PIC, _PER_REGENCY, _PER_DAY, _KEYWORDS, _OPEN, _NOTES) = SHEETS

#: The response-figure columns shared by the per-group/agency/PIC/regency sheets.
STATS_COLUMNS: tuple[str, ...] = wordings("report.xlsx_stats_columns")


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600.0


def _local(epoch: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(epoch, tz).replace(tzinfo=None)


class _Book:
    def __init__(self, path: Path) -> None:
        # Not constant_memory: it writes every string inline and is about three times slower; with
        # shared strings, a month's list of unanswered complaints costs a few tens of MB at most.
        self.wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                                   "strings_to_urls": False})
        self.head = self.wb.add_format({"bold": True, "bg_color": "#1F4E79", "font_color": "#FFFFFF",
                                        "text_wrap": True, "valign": "top"})
        self.int = self.wb.add_format({"num_format": "#,##0"})
        self.pct = self.wb.add_format({"num_format": "0.0%"})
        self.dec = self.wb.add_format({"num_format": "0.00"})
        self.sec = self.wb.add_format({"num_format": "0.000"})
        self.date = self.wb.add_format({"num_format": "dd-mm-yyyy"})
        self.stamp = self.wb.add_format({"num_format": "dd-mm-yyyy hh:mm:ss"})
        self.text = self.wb.add_format({})
        self.wrap = self.wb.add_format({"text_wrap": True, "valign": "top"})

    def sheet(self, name: str, header: Sequence[str], widths: Sequence[float]) -> Any:
        ws = self.wb.add_worksheet(name)
        for col, width in enumerate(widths):
            ws.set_column(col, col, width)
        ws.set_row(0, 30)
        for col, title in enumerate(header):
            ws.write_string(0, col, title, self.head)
        ws.freeze_panes(1, 0)
        return ws

    def put(self, ws: Any, row: int, values: Iterable[tuple[Any, Any]]) -> None:
        """Write ``(value, format)`` pairs; None stays an empty cell."""
        for col, (value, fmt) in enumerate(values):
            if value is None:
                continue
            if isinstance(value, datetime):
                ws.write_datetime(row, col, value, fmt)
            elif isinstance(value, bool):
                ws.write_boolean(row, col, value, fmt)
            elif isinstance(value, (int, float)):
                ws.write_number(row, col, value, fmt)
            else:
                ws.write_string(row, col, str(value), fmt)


def _stats_values(book: _Book, s: ResponseStats) -> list[tuple[Any, Any]]:
    return [
        (s.received, book.int), (s.responded, book.int), (s.share_responded, book.pct), (s.on_target, book.int),
        (s.share_on_target, book.pct), (_hours(s.median_seconds), book.dec), (_hours(s.p90_seconds), book.dec),
        (s.closed, book.int), (s.still_open, book.int), (s.rerouted, book.int),
    ]


def _action_values(book: _Book, a: ActionRow) -> list[tuple[Any, Any]]:
    """The stats columns of an agency/PIC without duty groups: only what it did (responded, closed, re-routed)."""
    return [
        (None, None), (a.responded, book.int), (None, None), (None, None), (None, None), (None, None),
        (None, None), (a.closed, book.int), (None, None), (a.rerouted, book.int),
    ]


def _summary_rows(t: Totals, target: str) -> list[tuple[str, str, Any, str]]:
    """(key, label, value, kind) for the summary sheet."""
    s = t.stats
    return [
        ("received", wording("report.received"), s.received, "int"),
        ("received_sms", wording("report.received_sms"), t.sms, "int"),
        ("received_web", wording("report.received_web"), t.web, "int"),
        ("responded", wording("report.responded"), s.responded, "int"),
        ("share_responded", wording("report.share_responded"), s.share_responded, "pct"),
        ("on_target", wording("report.on_target", target=target), s.on_target, "int"),
        ("share_on_target", wording("report.share_on_target", target=target), s.share_on_target, "pct"),
        ("median_response_hours", wording("report.xlsx_median"), _hours(s.median_seconds), "dec"),
        ("p90_response_hours", wording("report.xlsx_p90"), _hours(s.p90_seconds), "dec"),
        ("closed", wording("report.closed"), s.closed, "int"),
        ("still_open", wording("report.still_open"), s.still_open, "int"),
        ("rerouted", wording("report.rerouted"), s.rerouted, "int"),
        ("spam", wording("report.xlsx_spam"), t.spam, "int"),
        ("incidents", wording("report.incidents"), t.incidents.incidents, "int"),
        ("linked_reports", wording("report.linked_reports"), t.incidents.linked_reports, "int"),
        ("events", wording("report.events"), t.incidents.events, "int"),
        ("incident_median_response_hours", wording("report.xlsx_incident_median"),
         _hours(t.incidents.stats.median_seconds), "dec"),
        ("questions", wording("report.questions"), t.conversations.questions, "int"),
        ("citizen_answers", wording("report.citizen_answers"), t.conversations.answers, "int"),
        ("median_citizen_answer_hours", wording("report.xlsx_answer_median"),
         _hours(t.conversations.median_answer_seconds), "dec"),
        ("waiting_for_citizen", wording("report.waiting_for_citizen"), t.conversations.waiting, "int"),
    ]


def render_xlsx(report: MonthlyReport, tz: tzinfo, path: Path, *, generated_at: float,
                open_rows: Iterable[OpenTicket]) -> None:
    """Write the staff workbook for ``report`` to ``path``.

    Args:
        open_rows: every complaint without a response, oldest first (streamed; the PDF shows only the oldest).
    """
    book = _Book(path)
    target = wording("report.days", value=f"{report.target_seconds / 86400:g}")
    group_names = {g.key: g.label for g in report.groups}

    # Ringkasan
    ws = book.sheet(_SUMMARY, list(wordings("report.xlsx_summary_columns", month=report.month.label,
                                            previous=report.month.previous().label)), [42, 16, 16, 24])
    kinds = {"int": book.int, "pct": book.pct, "dec": book.dec}
    for row, (this, before) in enumerate(zip(_summary_rows(report.totals, target),
                                             _summary_rows(report.previous, target)), 1):
        key, label, value, kind = this
        book.put(ws, row, [(label, book.text), (value, kinds[kind]), (before[2], kinds[kind]), (key, book.text)])

    # SLA Tahap
    ws = book.sheet(_STAGES, list(wordings("report.xlsx_stage_columns")), [10, 44, 10, 10, 10, 11, 11, 11, 12])
    for row, s in enumerate(report.stages, 1):
        book.put(ws, row, [
            (s.stage, book.text), (STAGE_LABELS[s.stage], book.text), (s.limit_seconds, book.dec),
            (s.total, book.int), (s.completed, book.int), (s.within, book.int), (s.share_within, book.pct),
            (s.total - s.completed, book.int), (s.max_seconds, book.sec),
        ])

    stats_widths = [10, 10, 11, 12, 11, 13, 13, 9, 10, 10]

    def stats_sheet(name: str, lead: Sequence[str], lead_widths: Sequence[float],
                    rows: Sequence[StatsRow], lead_values: Any, without: Sequence[ActionRow] | None = None) -> None:
        """One row per group/agency/PIC/regency; agencies and PICs end with their duty groups and the rows
        of those without any (only what they did: the figures that would be a rate stay empty)."""
        tail = [] if without is None else [wording("report.xlsx_duty")]
        ws = book.sheet(name, [*lead, *STATS_COLUMNS, *tail], [*lead_widths, *stats_widths, *([26] * len(tail))])
        for row, r in enumerate(rows, 1):
            duty = [] if without is None else [(", ".join(r.groups), book.text)]
            book.put(ws, row, [*lead_values(r), *_stats_values(book, r.stats), *duty])
        for row, a in enumerate(without or (), len(rows) + 1):
            book.put(ws, row, [*lead_values(a), *_action_values(book, a), (no_duty_text(a.groups), book.text)])
        last = len(rows) + len(without or ())
        ws.autofilter(0, 0, max(1, last), len(lead) + len(STATS_COLUMNS) + len(tail) - 1)

    stats_sheet(_PER_GROUP, list(wordings("report.xlsx_group_columns")), [18, 30], report.groups,
                lambda r: [(r.key, book.text), (r.label, book.text)])
    stats_sheet(_PER_AGENCY, list(wordings("report.xlsx_agency_columns")), [36], report.agencies,
                lambda r: [(r.label, book.text)],
                without=report.agencies_without_duty)
    stats_sheet(_PER_PIC, list(wordings("report.xlsx_pic_columns")), [13, 26, 30], report.pics,
                lambda r: [(int(r.key), book.text), (r.label, book.text), (r.agency, book.text)],
                without=report.pics_without_duty)
    stats_sheet(_PER_REGENCY, list(wordings("report.xlsx_regency_columns")), [28], report.regencies,
                lambda r: [(r.label, book.text)])

    # Per Hari
    ws = book.sheet(_PER_DAY, list(wordings("report.xlsx_day_columns")), [12, 11, 11, 9])
    for row, d in enumerate(report.days, 1):
        book.put(ws, row, [(datetime(d.date.year, d.date.month, d.date.day), book.date), (d.complaints, book.int),
                           (d.responded, book.int), (d.spam, book.int)])

    # Kata Kunci
    ws = book.sheet(_KEYWORDS, list(wordings("report.xlsx_keyword_columns")), [9, 26, 18, 30, 11])
    for row, k in enumerate(report.keywords, 1):
        book.put(ws, row, [(row, book.int), (k.keyword, book.text), (k.group, book.text),
                           (group_names.get(k.group, k.group), book.text), (k.complaints, book.int)])

    # Belum Ditanggapi: the one long sheet, written with direct calls (no per-cell type dispatch)
    ws = book.sheet(_OPEN, list(wordings("report.xlsx_open_columns")), [16, 40, 18, 10, 14, 24])
    row = 0
    clock = LocalClock(tz)
    write_string, write_number, write_datetime = ws.write_string, ws.write_number, ws.write_datetime
    for row, t in enumerate(open_rows, 1):
        write_string(row, 0, t.number)
        write_string(row, 1, ", ".join(group_names.get(g, g) for g in t.groups))
        write_datetime(row, 2, clock.naive(t.received_at), book.stamp)
        write_number(row, 3, t.age_seconds / 86400.0, book.dec)
        write_string(row, 4, t.sender)
        if t.regency:
            write_string(row, 5, t.regency)
    ws.autofilter(0, 0, max(1, row), 5)

    # Keterangan
    ws = book.sheet(_NOTES, list(wordings("report.xlsx_notes_columns")), [34, 90])
    meta: list[tuple[str, Any, Any]] = [
        (wording("report.xlsx_month"), str(report.month), book.text),
        (wording("report.xlsx_period"), report.month.label, book.text),
        (wording("report.xlsx_timezone"), wording("report.xlsx_timezone_value", timezone=report.timezone), book.text),
        (wording("report.xlsx_start"), _local(report.start, tz), book.stamp),
        (wording("report.xlsx_end"), _local(report.end, tz), book.stamp),
        (wording("report.xlsx_as_of"), _local(report.as_of, tz), book.stamp),
        (wording("report.xlsx_generated"), _local(generated_at, tz), book.stamp),
        (wording("report.xlsx_target"), report.target_seconds / 86400.0, book.dec),
        *[(wording("report.xlsx_stage_limit", stage=s.stage), s.limit_seconds, book.dec) for s in report.stages],
        (wording("report.xlsx_definition"), wording("report.xlsx_definition_text"), book.wrap),
        (wording("report.xlsx_per_group"), wording("report.xlsx_per_group_text"), book.wrap),
        (wording("report.xlsx_per_agency"), AGENCY_RULE, book.wrap),
        (wording("report.xlsx_still_open"), wording("report.xlsx_still_open_text"), book.wrap),
        (wording("report.xlsx_durations"), wording("report.xlsx_durations_text"), book.wrap),
    ]
    for row, (label, value, fmt) in enumerate(meta, 1):
        book.put(ws, row, [(label, book.text), (value, fmt)])
    book.wb.close()
