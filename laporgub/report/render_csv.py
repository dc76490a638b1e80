"""The per-ticket CSV: one row per ticket of the month (complaints and spam), streamed.

UTF-8 without a byte-order mark, comma-separated, a header row, decimal points,
times as ``YYYY-MM-DD HH:MM:SS`` in WIB. Senders are masked; SMS texts are not
included (the report travels through chat groups). ``instansi_bertugas`` names
the agencies that answer for a group the complaint passed through (their PICs'
groups other than ``channel``), the same rule as the per-agency tables.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import tzinfo
from pathlib import Path

from laporgub.report.aggregate import TicketRecord
from laporgub.report.periods import LocalClock

__all__ = ["CSV_COLUMNS", "render_csv"]

CSV_COLUMNS: tuple[str, ...] = (
    "nomor_tiket", "jenis", "kanal", "diterima_wib", "kabupaten_kota", "grup", "grup_dilalui", "dialihkan",
    "status", "tanggapan_pertama_wib", "waktu_tanggapan_jam", "dalam_target", "ditutup_wib",
    "instansi_tanggapan_pertama", "pic_tanggapan_pertama", "pengirim", "registrasi_detik", "penyaringan_detik",
    "instansi_bertugas",
    "kejadian",
)


def _num(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


def render_csv(records: Iterable[TicketRecord], tz: tzinfo, path: Path) -> int:
    """Write the records to ``path``; return how many were written."""
    count = 0
    clock = LocalClock(tz)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for r in records:
            writer.writerow((
                r.number, r.kind, r.channel, clock.text(r.received_at), r.regency or "", ";".join(r.groups),
                ";".join(r.passed_groups), int(r.rerouted), r.status, clock.text(r.first_response_at),
                _num(None if r.response_seconds is None else r.response_seconds / 3600.0, 4), int(r.on_target),
                clock.text(r.closed_at), r.first_agency or "", r.first_pic or "", r.sender,
                _num(r.register_seconds, 3), _num(r.filter_seconds, 3), ";".join(r.duty_agencies), r.incident or "",
            ))
            count += 1
    return count
