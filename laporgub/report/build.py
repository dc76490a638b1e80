"""Build the report files for one month: aggregate once, render each format.

Files are written under a temporary name and renamed when complete, so a
crash never leaves a half-written report that looks finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

import peewee

from laporgub import db
from laporgub.render import wording
from laporgub.report.aggregate import MonthlyReport, MonthSnapshot, connected
from laporgub.report.periods import Month
from laporgub.report.settings import FORMATS, report_config
from laporgub.report.texts import fmt_duration, fmt_int, fmt_pct

__all__ = ["BuiltReport", "ReportFile", "build_report", "caption", "file_name"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReportFile:
    """One written file of a report."""

    format: str  # pdf | xlsx | csv
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class BuiltReport:
    """The files of one month's report and the figures they show."""

    month: Month
    files: tuple[ReportFile, ...]
    report: MonthlyReport
    seconds: float  # time taken to build
    timings: tuple[tuple[str, float], ...] = ()  # (step, seconds): aggregate, pdf, xlsx, csv


def file_name(month: Month, fmt: str) -> str:
    """``laporan-laporgub-2026-01.pdf``, ``...xlsx``, ``tiket-laporgub-2026-01.csv``."""
    return f"tiket-laporgub-{month}.csv" if fmt == "csv" else f"laporan-laporgub-{month}.{fmt}"


def caption(report: MonthlyReport, fmt: str) -> str:
    """The Telegram caption of each file (Indonesian, plain text, well under 1024 characters)."""
    if fmt == "xlsx":
        return wording("report.caption_xlsx", month=report.month.label)
    if fmt == "csv":
        return wording("report.caption_csv", month=report.month.label)
    s = report.totals.stats
    target = f"{report.target_seconds / 86400:g}".replace(".", ",")
    return wording(
        "report.caption_pdf", month=report.month.label, received=fmt_int(s.received),
        previous=fmt_int(report.previous.stats.received), share_responded=fmt_pct(s.share_responded), target=target,
        share_on_target=fmt_pct(s.share_on_target), median=fmt_duration(s.median_seconds),
        open=fmt_int(report.open_count),
    )


def build_report(
    config: Any,
    month: Month,
    out_dir: str | os.PathLike[str],
    *,
    as_of: float,
    generated_at: float | None = None,
    formats: Sequence[str] = FORMATS,
    database: peewee.Database | None = None,
) -> BuiltReport:
    """Aggregate ``month`` as of ``as_of`` and write the requested formats into ``out_dir``.

    Runs in the calling thread with that thread's database connection (one is
    opened and closed here when the thread has none).

    Args:
        config: the validated ``Config`` (time zone, SLA limits, group names, ``[report]``).
        month: the month reported on.
        out_dir: created if missing.
        as_of: cut-off for responses (epoch seconds).
        generated_at: shown as "Dibuat" (default: ``as_of``).
        formats: subset of ``pdf``, ``xlsx``, ``csv``.
        database: default: the models' database.
    """
    from laporgub.report.render_csv import render_csv
    from laporgub.report.render_pdf import render_pdf
    from laporgub.report.render_xlsx import render_xlsx

    started = time.monotonic()
    handle: peewee.Database = database if database is not None else db.database  # type: ignore[assignment]
    generated_at = as_of if generated_at is None else generated_at
    settings = report_config(config)
    tz = config.tz
    target = settings.response_target_seconds
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}")

    timings: list[tuple[str, float]] = []
    files: dict[str, ReportFile] = {}
    csv_job = None
    if "csv" in formats and _can_share(handle):
        # The per-ticket CSV needs none of the aggregates: it is written by a second thread with
        # its own connection while this one aggregates. Both spend most of their time in the
        # database driver, which releases the GIL, so the two overlap on two cores.
        csv_job = _CsvJob(handle, month, tz, as_of, target, out / file_name(month, "csv"))
        csv_job.start()
    try:
        with connected(handle), MonthSnapshot(handle, month, tz, as_of, target) as snapshot:
            report = snapshot.report(timezone_name=config.service.timezone, sla_limits=config.sla.as_dict(),
                                     group_names={k: g.name for k, g in config.groups.items()})
            timings.append(("aggregate", time.monotonic() - started))
            for fmt in FORMATS:
                if fmt not in formats or (fmt == "csv" and csv_job is not None):
                    continue
                step = time.monotonic()
                final = out / file_name(month, fmt)
                with _atomic_file(final) as partial:
                    if fmt == "pdf":
                        render_pdf(report, tz, partial, generated_at=generated_at)
                    elif fmt == "xlsx":
                        render_xlsx(report, tz, partial, generated_at=generated_at,
                                    open_rows=snapshot.open_tickets())
                    else:
                        render_csv(snapshot.ticket_records(), tz, partial)
                files[fmt] = ReportFile(fmt, final)
                timings.append((fmt, time.monotonic() - step))
    finally:
        if csv_job is not None:
            csv_job.join()
    if csv_job is not None:
        if csv_job.error is not None:
            raise csv_job.error
        files["csv"] = ReportFile("csv", csv_job.path)
        timings.append(("csv (parallel)", csv_job.seconds))
    seconds = time.monotonic() - started
    ordered = tuple(files[f] for f in FORMATS if f in files)
    logger.info("event=report_built month=%s complaints=%s files=%s seconds=%.2f",
                month, report.totals.stats.received, ",".join(f.name for f in ordered), seconds)
    return BuiltReport(month=month, files=ordered, report=report, seconds=seconds, timings=tuple(timings))


@contextlib.contextmanager
def _atomic_file(final: Path) -> Iterator[Path]:
    """Write to a hidden partial file and rename it into place only when complete."""
    partial = final.with_name(f".{final.name}.partial")
    try:
        yield partial
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)


def _can_share(database: peewee.Database) -> bool:
    """Whether a second connection sees the same data (not for an in-memory SQLite database)."""
    target = getattr(database, "obj", database)
    name = getattr(target, "database", "")
    return not (isinstance(target, peewee.SqliteDatabase) and name in (":memory:", "", None))


class _CsvJob(threading.Thread):
    """Writes the per-ticket CSV with its own connection and its own (ticket-only) snapshot."""

    def __init__(self, database: peewee.Database, month: Month, tz: tzinfo, as_of: float, target: float,
                 path: Path) -> None:
        super().__init__(name=f"report-csv-{month}", daemon=True)
        self.database, self.month, self.tz, self.as_of, self.target = database, month, tz, as_of, target
        self.path = path
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        from laporgub.report.render_csv import render_csv

        started = time.monotonic()
        try:
            with connected(self.database), MonthSnapshot(self.database, self.month, self.tz, self.as_of,
                                                         self.target, tickets_only=True) as snapshot:
                with _atomic_file(self.path) as partial:
                    render_csv(snapshot.ticket_records(), self.tz, partial)
        except BaseException as exc:  # handed to the building thread
            self.error = exc
        self.seconds = time.monotonic() - started
