"""Build the report files for one month: aggregate once, render each format.

Files are written under a temporary name and renamed when complete, so a
crash never leaves a half-written report that looks finished.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee

from laporgub import db
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
        return f"Tabel lengkap laporan {report.month.label} (XLSX, satu lembar per tabel)."
    if fmt == "csv":
        return f"Data per tiket {report.month.label} (CSV, pengirim disamarkan)."
    s = report.totals.stats
    target = f"{report.target_seconds / 86400:g}".replace(".", ",")
    return (
        f"Laporan Bulanan SMS Center LAPOR GUB! {report.month.label}\n"
        f"Pengaduan: {fmt_int(s.received)} (bulan lalu {fmt_int(report.previous.stats.received)})\n"
        f"Ditanggapi: {fmt_pct(s.share_responded)}, dalam {target} hari: {fmt_pct(s.share_on_target)}\n"
        f"Median waktu tanggapan: {fmt_duration(s.median_seconds)}\n"
        f"Belum ditanggapi: {fmt_int(report.open_count)}"
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
        generated_at: shown as "Dibuat" (default: now).
        formats: subset of ``pdf``, ``xlsx``, ``csv``.
        database: default: the models' database.
    """
    from laporgub.report.render_csv import render_csv
    from laporgub.report.render_pdf import render_pdf
    from laporgub.report.render_xlsx import render_xlsx

    started = time.monotonic()
    database = database if database is not None else db.database
    generated_at = time.time() if generated_at is None else generated_at
    settings = report_config(config)
    tz = config.tz
    target = settings.response_target_seconds
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}")

    timings: list[tuple[str, float]] = []
    files = []
    with connected(database), MonthSnapshot(database, month, tz, as_of, target) as snapshot:
        report = snapshot.report(timezone_name=config.service.timezone, sla_limits=config.sla.as_dict(),
                                 group_names={k: g.name for k, g in config.groups.items()})
        timings.append(("aggregate", time.monotonic() - started))
        for fmt in FORMATS:
            if fmt not in formats:
                continue
            step = time.monotonic()
            final = out / file_name(month, fmt)
            partial = final.with_name(f".{final.name}.partial")
            try:
                if fmt == "pdf":
                    render_pdf(report, tz, partial, generated_at=generated_at)
                elif fmt == "xlsx":
                    render_xlsx(report, tz, partial, generated_at=generated_at, open_rows=snapshot.open_tickets())
                else:
                    render_csv(snapshot.ticket_records(), tz, partial)
                os.replace(partial, final)
            finally:
                partial.unlink(missing_ok=True)
            files.append(ReportFile(fmt, final))
            timings.append((fmt, time.monotonic() - step))
    seconds = time.monotonic() - started
    logger.info("event=report_built month=%s complaints=%s files=%s seconds=%.2f",
                month, report.totals.stats.received, ",".join(f.name for f in files), seconds)
    return BuiltReport(month=month, files=tuple(files), report=report, seconds=seconds, timings=tuple(timings))
