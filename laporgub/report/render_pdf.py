"""The PDF for leaders (fpdf2): title page, summary, charts and tables, in Indonesian.

Text uses the DejaVu Sans font that matplotlib ships (any PIC or agency name
prints, not only Latin-1), embedded as a subset with a ToUnicode map, so
``pdftotext`` and screen readers get the words back.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import tzinfo
from pathlib import Path
from typing import cast

import matplotlib
from fpdf import FPDF

from laporgub.report import charts
from laporgub.report.aggregate import ActionRow, MonthlyReport, ResponseStats
from laporgub.report.periods import format_local
from laporgub.report.texts import (
    AGENCY_RULE,
    STAGE_LABELS,
    fmt_duration,
    fmt_int,
    fmt_pct,
    fmt_seconds,
    no_duty_text,
)

__all__ = ["render_pdf"]

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONT = "DejaVu"
_NAVY = (31, 78, 121)
_PALE = (234, 241, 248)
_GREY = (110, 110, 110)
_KEEP_WHOLE = 130.0  # mm (half a page): a table up to this tall starts on the next page rather than split


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.add_font(_FONT, "", str(_FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(_FONT, "B", str(_FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(15, 15, 15)
        self.alias_nb_pages()

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-12)
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_GREY)
        self.cell(0, 5, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Halaman {self.page_no()} dari {{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    # -- helpers -------------------------------------------------------------

    def heading(self, text: str, keep: float = 25.0) -> None:
        """A section title, on a new page unless ``keep`` mm of what follows fit below it.

        What follows is kept whole up to :data:`_KEEP_WHOLE`; of a longer table only its first rows.
        """
        self._title(text, 13, 9, keep if keep <= _KEEP_WHOLE else 25.0)

    def subheading(self, text: str, keep: float = 15.0) -> None:
        """A title within a section, kept with ``keep`` mm below it (as :meth:`heading`)."""
        self._title(text, 9.5, 6, keep if keep <= _KEEP_WHOLE else 15.0)

    def _title(self, text: str, size: float, height: float, keep: float) -> None:
        if self.get_y() + height + keep > self.page_break_trigger and self.get_y() > self.t_margin + 1:
            self.add_page()
        self.set_font(_FONT, "B", size)
        self.set_text_color(*_NAVY)
        self.cell(0, height, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.set_font(_FONT, "", 8.5)

    def note_height(self, text: str, size: float = 7.5) -> float:
        """How many mm :meth:`note` takes for ``text``."""
        self.set_font(_FONT, "", size)
        return cast(float, self.multi_cell(0, 3.8, text, dry_run=True, output="HEIGHT"))

    def note(self, text: str, size: float = 7.5) -> None:
        self.set_font(_FONT, "", size)
        self.set_text_color(*_GREY)
        self.multi_cell(0, 3.8, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.set_font(_FONT, "", 8.5)

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
             align: Sequence[str], size: float = 8.0, bold_last: bool = False) -> None:
        """A table drawn cell by cell (fpdf2's ``table()`` is ten times slower on the long lists).

        Text wraps at spaces onto further lines within its cell (``\\n`` forces a break; a word
        wider than its column is broken between letters), nothing is cut; a row grows to its
        tallest cell and never splits across pages. The header repeats after a page break.
        """
        line = size * 0.42
        x0 = self.l_margin
        total = sum(widths)

        def lay_out(values: Sequence[str], bold: bool) -> list[list[str]]:
            return self._cells(values, widths, size, bold)

        def draw(cells: list[list[str]], fill: tuple[int, int, int] | None, bold: bool,
                 color: tuple[int, int, int] = (0, 0, 0)) -> None:
            y = self.get_y()
            height = height_of(cells)
            if fill is not None:
                self.set_fill_color(*fill)
                self.rect(x0, y, total, height, style="F")
            self.set_font(_FONT, "B" if bold else "", size)
            self.set_text_color(*color)
            x = x0
            for lines, width, how in zip(cells, widths, align):
                for k, part in enumerate(lines):
                    self.set_xy(x + 0.8, y + 0.7 + k * line)
                    self.cell(width - 1.6, line, part, align=how)
                x += width
            self.set_text_color(0, 0, 0)
            self.set_xy(x0, y + height)

        def height_of(cells: list[list[str]]) -> float:
            return max(len(lines) for lines in cells) * line + 1.4

        head_cells = lay_out(header, True)

        def head() -> None:
            draw(head_cells, _NAVY, True, (255, 255, 255))

        laid = [lay_out(values, bold_last and i == len(rows) - 1) for i, values in enumerate(rows)]
        if self.get_y() + height_of(head_cells) + height_of(laid[0] if laid else head_cells) > self.page_break_trigger:
            self.add_page()
        head()
        for i, cells in enumerate(laid):
            if self.get_y() + height_of(cells) > self.page_break_trigger:
                self.add_page()
                head()
            draw(cells, _PALE if i % 2 else None, bold_last and i == len(rows) - 1)
        self.set_draw_color(*_NAVY)
        self.line(x0, self.get_y(), x0 + total, self.get_y())
        self.set_font(_FONT, "", 8.5)
        self.ln(3)

    def table_height(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
                     size: float = 8.0) -> float:
        """The height :meth:`grid` takes for this table on one page."""
        line = size * 0.42
        return sum(max(len(lines) for lines in self._cells(values, widths, size, i == 0)) * line + 1.4
                   for i, values in enumerate([header, *rows]))

    def _cells(self, values: Sequence[str], widths: Sequence[float], size: float, bold: bool) -> list[list[str]]:
        """Each cell's text as the lines it wraps into."""
        self.set_font(_FONT, "B" if bold else "", size)
        return [self._wrap(text, width - 1.6) for text, width in zip(values, widths)]

    def _wrap(self, text: str, width: float) -> list[str]:
        """``text`` as the lines that fit ``width`` in the current font (greedy, at spaces)."""
        lines: list[str] = []
        for part in text.split("\n"):
            if self.get_string_width(part) <= width:  # nearly every cell: one measurement
                lines.append(part)
                continue
            current = ""
            for word in part.split(" "):
                candidate = f"{current} {word}" if current else word
                if self.get_string_width(candidate) <= width:
                    current = candidate
                    continue
                if current:
                    lines.append(current)
                while self.get_string_width(word) > width and len(word) > 1:
                    cut = len(word) - 1
                    while cut > 1 and self.get_string_width(word[:cut]) > width:
                        cut -= 1
                    lines.append(word[:cut])
                    word = word[cut:]
                current = word
            lines.append(current)
        return lines

    def chart(self, png: bytes, width: float = 180) -> None:
        self.image(io.BytesIO(png), x=self.l_margin + (180 - width) / 2, w=width)
        self.ln(2)


def _stats_cells(s: ResponseStats) -> list[str]:
    return [
        fmt_int(s.received), fmt_int(s.responded), fmt_pct(s.share_responded), fmt_pct(s.share_on_target),
        fmt_duration(s.median_seconds), fmt_duration(s.p90_seconds), fmt_int(s.closed), fmt_int(s.still_open),
        fmt_int(s.rerouted),
    ]


def _stats_header(target_days: str) -> list[str]:
    return ["Diterima", "Ditang-\ngapi", "%\nDitang-\ngapi", "%\ndalam\n" + target_days, "Median\nwaktu",
            "P90\nwaktu", "Ditutup", "Masih\nterbuka", "Dialih-\nkan"]


_STATS_WIDTHS = [15, 14, 14, 15, 15, 15, 14, 14, 14]
_STATS_ALIGN = ["R"] * 9


def _target_days(report: MonthlyReport) -> str:
    return f"{report.target_seconds / 86400:g} hari".replace(".", ",")


def render_pdf(report: MonthlyReport, tz: tzinfo, path: Path, *, generated_at: float) -> None:
    """Write the leaders' PDF for ``report`` to ``path``: one function below per section, in page order."""
    pdf = _Pdf(f"Laporan Bulanan SMS Center LAPOR GUB! - {report.month.label}")
    _cover(pdf, report, tz, generated_at)
    _summary(pdf, report)
    _stages(pdf, report)
    _per_group(pdf, report)
    _response_times(pdf, report)
    _per_agency(pdf, report)
    _per_pic(pdf, report)
    _per_regency(pdf, report)
    _keywords(pdf, report)
    _open_tickets(pdf, report, tz)
    _definitions(pdf, report)
    pdf.output(str(path))


def _cover(pdf: _Pdf, report: MonthlyReport, tz: tzinfo, generated_at: float) -> None:
    """Page 1: title, period, the figures at a glance as tiles, complaints per day."""
    t, p = report.totals.stats, report.previous.stats
    target = _target_days(report)
    pdf.add_page()
    pdf.set_fill_color(*_NAVY)
    pdf.rect(0, 0, 210, 62, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_xy(15, 16)
    pdf.set_font(_FONT, "B", 22)
    pdf.cell(0, 11, "LAPORAN BULANAN", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "B", 15)
    pdf.cell(0, 8, "SMS Center LAPOR GUB! Provinsi Jawa Tengah", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "", 11)
    pdf.cell(0, 7, "Tanggapan PIC atas pengaduan masyarakat dan kepatuhan SLA", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(15, 72)
    pdf.set_font(_FONT, "B", 18)
    pdf.cell(0, 10, f"Periode: {report.month.label}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "", 9)
    pdf.set_text_color(*_GREY)
    pdf.cell(0, 5, f"Kepada Yth. Gubernur Jawa Tengah  |  Waktu: WIB ({report.timezone})",
             new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, f"Data per {format_local(report.as_of, tz)} WIB  |  Dibuat {format_local(generated_at, tz)} WIB",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)

    notify = next(s for s in report.stages if s.stage == "notify")
    tiles = [
        ("Pengaduan diterima", fmt_int(t.received), f"bulan lalu {fmt_int(p.received)}"),
        ("Sudah ditanggapi", fmt_pct(t.share_responded), f"{fmt_int(t.responded)} pengaduan"),
        (f"Ditanggapi dalam {target}", fmt_pct(t.share_on_target), f"{fmt_int(t.on_target)} pengaduan"),
        ("Median waktu tanggapan", fmt_duration(t.median_seconds), f"P90 {fmt_duration(t.p90_seconds)}"),
        ("Belum ditanggapi", fmt_int(t.still_open), "lihat daftar di akhir laporan"),
        ("Notifikasi dalam SLA", fmt_pct(notify.share_within), f"batas {notify.limit_seconds:g} detik"),
    ]
    x0, y0, w, h = 15, 98, 58, 30
    for i, (label, value, sub) in enumerate(tiles):
        x, y = x0 + (i % 3) * (w + 3), y0 + (i // 3) * (h + 4)
        pdf.set_fill_color(*_PALE)
        pdf.rect(x, y, w, h, style="F")
        pdf.set_xy(x + 3, y + 3)
        pdf.set_font(_FONT, "", 8.5)
        pdf.set_text_color(*_GREY)
        pdf.cell(w - 6, 5, label)
        pdf.set_xy(x + 3, y + 10)
        pdf.set_font(_FONT, "B", 17)
        pdf.set_text_color(*_NAVY)
        pdf.cell(w - 6, 9, value)
        pdf.set_xy(x + 3, y + 21)
        pdf.set_font(_FONT, "", 7.5)
        pdf.set_text_color(*_GREY)
        pdf.cell(w - 6, 5, sub)
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(15, 166)
    pdf.set_font(_FONT, "B", 11)
    pdf.set_text_color(*_NAVY)
    pdf.cell(0, 7, "Pengaduan per hari", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    if t.received == 0:
        pdf.set_font(_FONT, "B", 11)
        pdf.cell(0, 8, "Tidak ada pengaduan bulan ini.", new_x="LMARGIN", new_y="NEXT")
    pdf.chart(charts.per_day(report.days), width=180)
    pdf.set_y(250)
    pdf.note(
        "Sesuai SOP 487.12/089.III/2017 (Diskominfo Jawa Tengah): tanggapan PIC dicatat dan dilaporkan kepada "
        "Gubernur setiap bulan. Pengaduan dihitung pada bulan diterimanya; tanggapan dihitung sampai waktu "
        "\"data per\" di atas. Spam tidak termasuk pengaduan. Definisi lengkap di halaman terakhir.", size=7.5)


def _summary(pdf: _Pdf, report: MonthlyReport) -> None:
    """This month beside the month before."""
    month = report.month.label
    t, p = report.totals.stats, report.previous.stats
    target = _target_days(report)
    pdf.add_page()
    pdf.heading(f"Ringkasan {month}")
    prev_label = report.month.previous().label
    rows = [
        ("Pengaduan diterima", fmt_int(t.received), fmt_int(p.received)),
        ("   melalui SMS", fmt_int(report.totals.sms), fmt_int(report.previous.sms)),
        ("   melalui situs web", fmt_int(report.totals.web), fmt_int(report.previous.web)),
        ("Sudah ditanggapi", fmt_int(t.responded), fmt_int(p.responded)),
        ("Persentase ditanggapi", fmt_pct(t.share_responded), fmt_pct(p.share_responded)),
        (f"Ditanggapi dalam {target}", fmt_int(t.on_target), fmt_int(p.on_target)),
        (f"Persentase ditanggapi dalam {target}", fmt_pct(t.share_on_target), fmt_pct(p.share_on_target)),
        ("Median waktu tanggapan pertama", fmt_duration(t.median_seconds), fmt_duration(p.median_seconds)),
        ("Persentil ke-90 waktu tanggapan", fmt_duration(t.p90_seconds), fmt_duration(p.p90_seconds)),
        ("Ditutup (selesai)", fmt_int(t.closed), fmt_int(p.closed)),
        ("Masih terbuka (belum ada tanggapan)", fmt_int(t.still_open), fmt_int(p.still_open)),
        ("Dialihkan ke grup lain", fmt_int(t.rerouted), fmt_int(p.rerouted)),
        ("SMS spam (tidak dihitung sebagai pengaduan)", fmt_int(report.totals.spam), fmt_int(report.previous.spam)),
        ("Kejadian (beberapa pengaduan tentang satu peristiwa)", fmt_int(report.totals.incidents.incidents),
         fmt_int(report.previous.incidents.incidents)),
        ("   pengaduan yang tergabung dalam kejadian", fmt_int(report.totals.incidents.linked_reports),
         fmt_int(report.previous.incidents.linked_reports)),
        ("Peristiwa dilaporkan (pengaduan tunggal + kejadian)", fmt_int(report.totals.incidents.events),
         fmt_int(report.previous.incidents.events)),
        ("Median waktu tanggapan per kejadian (sekali)", fmt_duration(report.totals.incidents.stats.median_seconds),
         fmt_duration(report.previous.incidents.stats.median_seconds)),
        ("Pertanyaan PIC kepada pelapor", fmt_int(report.totals.conversations.questions),
         fmt_int(report.previous.conversations.questions)),
        ("   jawaban pelapor lewat SMS (masuk ke tiketnya)", fmt_int(report.totals.conversations.answers),
         fmt_int(report.previous.conversations.answers)),
        ("   median waktu sampai pelapor menjawab", fmt_duration(report.totals.conversations.median_answer_seconds),
         fmt_duration(report.previous.conversations.median_answer_seconds)),
        ("   masih menunggu jawaban pelapor", fmt_int(report.totals.conversations.waiting),
         fmt_int(report.previous.conversations.waiting)),
    ]
    pdf.grid(["Indikator", month, prev_label], rows, [100, 40, 40], ["L", "R", "R"], size=9)


def _stages(pdf: _Pdf, report: MonthlyReport) -> None:
    """SLA compliance of each SOP stage (same page as the summary)."""
    pdf.heading("Kepatuhan SLA per tahap (SOP)")
    stage_rows = [
        (STAGE_LABELS[s.stage], f"{s.limit_seconds:g} dtk".replace(".", ","), fmt_int(s.total),
         fmt_int(s.within), fmt_pct(s.share_within, 2), fmt_int(s.total - s.completed), fmt_seconds(s.max_seconds))
        for s in report.stages
    ]
    pdf.grid(["Tahap", "Batas", "Jumlah", "Dalam\nbatas", "% dalam\nbatas", "Belum\nselesai", "Terlama"],
             stage_rows, [76, 14, 18, 18, 18, 16, 20], ["L", "R", "R", "R", "R", "R", "R"])
    pdf.note("Registrasi dan penyaringan diukur per tiket (pengaduan dan spam) yang diterima bulan ini; notifikasi "
             "dan pengiriman per pesan Telegram tiket tersebut ke tiap grup. Tahap yang belum selesai dihitung di "
             "luar batas.")


def _per_group(pdf: _Pdf, report: MonthlyReport) -> None:
    """Complaints and responses per group: table, then the chart of complaints."""
    pdf.add_page()
    pdf.heading("Pengaduan dan tanggapan per grup")
    group_rows = [[g.label, *_stats_cells(g.stats)] for g in report.groups]
    pdf.grid(["Grup", *_stats_header(_target_days(report))], group_rows, [50, *_STATS_WIDTHS],
             ["L", *_STATS_ALIGN], size=7.5)
    pdf.note("Tiket yang dialihkan dihitung sekali di setiap grup yang dilaluinya. Tanggapan dihitung untuk grup "
             "tempat tiket berada saat ditanggapi; waktu tanggapan grup penerima pengalihan dihitung sejak "
             "pengalihan. Masih terbuka: tiket yang masih di grup dan belum ada tanggapan.")
    pdf.chart(charts.per_group(report.groups), width=170)


def _response_times(pdf: _Pdf, report: MonthlyReport) -> None:
    """The chart of response times per group, against the target."""
    pdf.add_page()
    pdf.heading("Waktu tanggapan per grup")
    pdf.chart(charts.response_times(report.groups, report.target_seconds), width=170)


def _per_agency(pdf: _Pdf, report: MonthlyReport) -> None:
    """Per agency with duty groups (same page as the response times), then those without any."""
    header = ["Instansi", *_stats_header(_target_days(report))]
    agency_rows = [[a.label, *_stats_cells(a.stats)] for a in report.agencies]
    pdf.heading("Per instansi", keep=pdf.table_height(header, agency_rows, [50, *_STATS_WIDTHS], 7.5))
    if report.agencies:
        pdf.grid(header, agency_rows, [50, *_STATS_WIDTHS], ["L", *_STATS_ALIGN], size=7.5)
    elif not report.agencies_without_duty:
        pdf.note("Belum ada PIC terdaftar atau tindakan PIC bulan ini.")
    else:
        pdf.note("Tidak ada instansi dengan grup tugas.")
    _without_duty(pdf, "Instansi tanpa grup tugas", "Instansi", [r.label for r in report.agencies_without_duty],
                  report.agencies_without_duty)


def _per_pic(pdf: _Pdf, report: MonthlyReport) -> None:
    """Per PIC with duty groups, those without any, and the note that explains both agency and PIC tables."""
    pdf.add_page()
    pdf.heading("Per PIC")
    if report.pics:
        pic_rows = [[f"{r.label}\n{r.agency}", *_stats_cells(r.stats)] for r in report.pics]
        pdf.grid(["PIC / instansi", *_stats_header(_target_days(report))], pic_rows, [50, *_STATS_WIDTHS],
                 ["L", *_STATS_ALIGN], size=7.5)
    elif not report.pics_without_duty:
        pdf.note("Belum ada PIC terdaftar atau tindakan PIC bulan ini.")
    else:
        pdf.note("Tidak ada PIC dengan grup tugas.")
    _without_duty(pdf, "PIC tanpa grup tugas", "PIC / instansi",
                  [f"{r.label}\n{r.agency}" for r in report.pics_without_duty], report.pics_without_duty)
    pdf.note(AGENCY_RULE)


def _without_duty(pdf: _Pdf, title: str, first: str, names: Sequence[str], rows: Sequence[ActionRow]) -> None:
    """Agencies or PICs that answer for no complaint: what they did, without a rate."""
    if not rows:
        return
    header, widths = [first, "Grup tugas", "Ditanggapi", "Ditutup", "Dialihkan"], [80, 40, 20, 20, 20]
    cells = [[name, no_duty_text(r.groups), fmt_int(r.responded), fmt_int(r.closed), fmt_int(r.rerouted)]
             for name, r in zip(names, rows)]
    pdf.subheading(title, keep=pdf.table_height(header, cells, widths, 7.5))
    pdf.grid(header, cells, widths, ["L", "L", "R", "R", "R"], size=7.5)


def _per_regency(pdf: _Pdf, report: MonthlyReport) -> None:
    """Complaints per regency/city: chart, then table."""
    pdf.add_page()
    pdf.heading("Pengaduan per kabupaten/kota")
    pdf.chart(charts.per_regency(report.regencies), width=170)
    reg_rows = [[r.label, fmt_int(r.stats.received), fmt_int(r.stats.responded), fmt_pct(r.stats.share_responded),
                 fmt_pct(r.stats.share_on_target), fmt_duration(r.stats.median_seconds), fmt_int(r.stats.still_open)]
                for r in report.regencies]
    if reg_rows:
        pdf.grid(["Kabupaten/kota", "Diterima", "Ditanggapi", "% Ditanggapi", f"% <= {_target_days(report)}",
                  "Median waktu", "Masih terbuka"], reg_rows, [52, 20, 20, 22, 22, 22, 22],
                 ["L", "R", "R", "R", "R", "R", "R"], size=7.5)


def _keywords(pdf: _Pdf, report: MonthlyReport) -> None:
    """The top keywords (same page as the regency table's end)."""
    names = {g.key: g.label for g in report.groups}
    header, widths = ["No", "Kata kunci", "Grup", "Pengaduan"], [12, 70, 70, 28]
    kw_rows = [[str(i), k.keyword, names.get(k.group, k.group), fmt_int(k.complaints)]
               for i, k in enumerate(report.keywords, 1)]
    pdf.heading("Kata kunci teratas", keep=pdf.table_height(header, kw_rows, widths))
    if report.keywords:
        pdf.grid(header, kw_rows, widths, ["R", "L", "L", "R"])
    else:
        pdf.note("Tidak ada kata kunci yang cocok bulan ini.")


def _open_tickets(pdf: _Pdf, report: MonthlyReport, tz: tzinfo) -> None:
    """The oldest complaints still without a response: a compact listing, group names without "Group "."""
    pdf.add_page()
    pdf.heading(f"Pengaduan belum ditanggapi: {fmt_int(report.open_count)}")
    if report.open_first:
        names = {g.key: _short_group(g.label) for g in report.groups}
        open_rows = [
            [t_.number, ", ".join(names.get(g, g) for g in t_.groups) or "-", format_local(t_.received_at, tz),
             fmt_duration(t_.age_seconds), t_.sender, t_.regency or "-"]
            for t_ in report.open_first
        ]
        if any(_short_group(g.label) != g.label for g in report.groups):
            pdf.note('Tertua lebih dahulu. Nama grup ditulis tanpa awalan "Group".')
        pdf.grid(["Nomor tiket", "Grup", "Diterima (WIB)", "Umur", "Pengirim", "Kab/kota"], open_rows,
                 [23, 59, 26, 16, 21, 35], ["L", "L", "L", "R", "L", "L"], size=7.5)
        if report.open_count > len(report.open_first):
            pdf.note(f"Ditampilkan {len(report.open_first)} tertua dari {fmt_int(report.open_count)}; daftar "
                     "lengkap ada di lembar \"Belum Ditanggapi\" berkas XLSX.")
    else:
        pdf.note("Semua pengaduan bulan ini sudah ditanggapi.")


def _short_group(label: str) -> str:
    """``Group Kesehatan`` -> ``Kesehatan`` (the groups' names all start alike)."""
    for prefix in ("Group ", "Grup "):
        if label[:len(prefix)].lower() == prefix.lower() and label[len(prefix):].strip():
            return label[len(prefix):].strip()
    return label


def _definitions(pdf: _Pdf, report: MonthlyReport) -> None:
    """How the figures are counted (after the open list)."""
    limits = ", ".join(f"{STAGE_LABELS[s.stage].split(' (')[0].lower()} {s.limit_seconds:g} dtk" for s in report.stages)
    text = _DEFINITIONS.format(target=_target_days(report), limits=limits.replace(".", ","))
    pdf.heading("Keterangan", keep=pdf.note_height(text, size=8))
    pdf.note(text, size=8)


_DEFINITIONS = """\
- Pengaduan dihitung pada bulan diterimanya (waktu WIB). Spam (promosi, penipuan) tidak dihitung sebagai \
pengaduan, kecuali dialihkan PIC ke suatu grup.
- Ditanggapi: ada tanggapan PIC (balasan atau penutupan tiket) sampai waktu "data per". Waktu tanggapan: dari SMS \
diterima sampai tanggapan pertama. Median: nilai tengah; P90: 90% pengaduan ditanggapi dalam waktu ini.
- % <= {target}: pengaduan yang ditanggapi dalam {target} dibagi semua pengaduan yang diterima.
- Ditutup: tiket diselesaikan PIC. Masih terbuka: belum ada tanggapan sama sekali. Dialihkan: tiket dipindah \
ke grup lain (/alihkan).
- Per grup: tiket yang dialihkan dihitung sekali di setiap grup yang dilaluinya.
- Per instansi/PIC: pengaduan yang masuk ke grup tugasnya (grup PIC selain channel, yang menerima semua \
pengaduan) atau yang ditindaklanjutinya. Instansi/PIC tanpa grup tugas dicatat tindakannya saja, tanpa persentase.
- SLA tahap (batas dari konfigurasi): {limits}.
- Nomor pengirim disamarkan (0811****0200)."""

