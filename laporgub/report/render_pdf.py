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

import matplotlib
from fpdf import FPDF

from laporgub.report import charts
from laporgub.report.aggregate import MonthlyReport, ResponseStats
from laporgub.report.periods import format_local
from laporgub.report.texts import STAGE_LABELS, fmt_duration, fmt_int, fmt_pct, fmt_seconds

__all__ = ["render_pdf"]

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONT = "DejaVu"
_NAVY = (31, 78, 121)
_PALE = (234, 241, 248)
_GREY = (110, 110, 110)


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

    def heading(self, text: str) -> None:
        self.set_font(_FONT, "B", 13)
        self.set_text_color(*_NAVY)
        self.cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.set_font(_FONT, "", 8.5)

    def note(self, text: str, size: float = 7.5) -> None:
        self.set_font(_FONT, "", size)
        self.set_text_color(*_GREY)
        self.multi_cell(0, 3.8, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.set_font(_FONT, "", 8.5)

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
             align: Sequence[str], size: float = 8.0, bold_last: bool = False) -> None:
        """A table drawn cell by cell (fpdf2's ``table()`` wraps every cell and is ten times slower).

        Cells hold one or more lines (``\\n``); text too wide for its column is cut with an ellipsis.
        The header repeats after a page break.
        """
        line = size * 0.42
        x0 = self.l_margin
        total = sum(widths)

        def draw(values: Sequence[str], height: float, fill: tuple[int, int, int] | None, bold: bool,
                 color: tuple[int, int, int] = (0, 0, 0)) -> None:
            y = self.get_y()
            if fill is not None:
                self.set_fill_color(*fill)
                self.rect(x0, y, total, height, style="F")
            self.set_font(_FONT, "B" if bold else "", size)
            self.set_text_color(*color)
            x = x0
            for text, width, how in zip(values, widths, align):
                for k, part in enumerate(text.split("\n")):
                    self.set_xy(x + 0.8, y + 0.7 + k * line)
                    self.cell(width - 1.6, line, self._fit(part, width - 1.6), align=how)
                x += width
            self.set_text_color(0, 0, 0)
            self.set_xy(x0, y + height)

        def height_of(values: Sequence[str]) -> float:
            return max(v.count("\n") + 1 for v in values) * line + 1.4

        head_h = height_of(header)

        def head() -> None:
            draw(header, head_h, _NAVY, True, (255, 255, 255))

        if self.get_y() + head_h + height_of(rows[0] if rows else header) > self.page_break_trigger:
            self.add_page()
        head()
        for i, values in enumerate(rows):
            h = height_of(values)
            if self.get_y() + h > self.page_break_trigger:
                self.add_page()
                head()
            draw(values, h, _PALE if i % 2 else None, bold_last and i == len(rows) - 1)
        self.set_draw_color(*_NAVY)
        self.line(x0, self.get_y(), x0 + total, self.get_y())
        self.set_font(_FONT, "", 8.5)
        self.ln(3)

    def _fit(self, text: str, width: float) -> str:
        if self.get_string_width(text) <= width:
            return text
        while text and self.get_string_width(text + "...") > width:
            text = text[:-1]
        return text + "..."

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
    """Write the leaders' PDF for ``report`` to ``path``."""
    month = report.month.label
    pdf = _Pdf(f"Laporan Bulanan SMS Center LAPOR GUB! - {month}")
    t, p = report.totals.stats, report.previous.stats
    target = _target_days(report)

    # -- page 1: title and the figures at a glance ------------------------------
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
    pdf.cell(0, 10, f"Periode: {month}", new_x="LMARGIN", new_y="NEXT")
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

    # -- summary ------------------------------------------------------------------
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
    ]
    pdf.grid(["Indikator", month, prev_label], rows, [100, 40, 40], ["L", "R", "R"], size=9)

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

    # -- per group ----------------------------------------------------------------------
    pdf.add_page()
    pdf.heading("Pengaduan dan tanggapan per grup")
    group_rows = [[g.label, *_stats_cells(g.stats)] for g in report.groups]
    pdf.grid(["Grup", *_stats_header(target)], group_rows, [50, *_STATS_WIDTHS], ["L", *_STATS_ALIGN], size=7.5)
    pdf.note("Tiket yang dialihkan dihitung sekali di setiap grup yang dilaluinya. Tanggapan dihitung untuk grup "
             "tempat tiket berada saat ditanggapi; waktu tanggapan grup penerima pengalihan dihitung sejak "
             "pengalihan. Masih terbuka: tiket yang masih di grup dan belum ada tanggapan.")
    pdf.chart(charts.per_group(report.groups), width=170)
    pdf.add_page()
    pdf.heading("Waktu tanggapan per grup")
    pdf.chart(charts.response_times(report.groups, report.target_seconds), width=170)

    # -- per agency and PIC ----------------------------------------------------------------
    pdf.heading("Per instansi")
    if report.agencies:
        agency_rows = [[a.label, *_stats_cells(a.stats)] for a in report.agencies]
        pdf.grid(["Instansi", *_stats_header(target)], agency_rows, [50, *_STATS_WIDTHS], ["L", *_STATS_ALIGN],
                 size=7.5)
    else:
        pdf.note("Belum ada PIC terdaftar atau tindakan PIC bulan ini.")
    pdf.add_page()
    pdf.heading("Per PIC")
    if report.pics:
        pic_rows = [[f"{r.label}\n{r.agency}", *_stats_cells(r.stats)] for r in report.pics]
        pdf.grid(["PIC / instansi", *_stats_header(target)], pic_rows, [50, *_STATS_WIDTHS], ["L", *_STATS_ALIGN],
                 size=7.5)
    else:
        pdf.note("Belum ada PIC terdaftar atau tindakan PIC bulan ini.")
    pdf.note("Instansi/PIC: pengaduan yang masuk ke grup tugasnya atau yang ditindaklanjutinya. Ditanggapi, "
             "ditutup dan dialihkan: oleh instansi/PIC tersebut. Masih terbuka: belum ada tanggapan dari siapa pun.")

    # -- per regency -------------------------------------------------------------------------
    pdf.add_page()
    pdf.heading("Pengaduan per kabupaten/kota")
    pdf.chart(charts.per_regency(report.regencies), width=170)
    reg_rows = [[r.label, fmt_int(r.stats.received), fmt_int(r.stats.responded), fmt_pct(r.stats.share_responded),
                 fmt_pct(r.stats.share_on_target), fmt_duration(r.stats.median_seconds), fmt_int(r.stats.still_open)]
                for r in report.regencies]
    if reg_rows:
        pdf.grid(["Kabupaten/kota", "Diterima", "Ditanggapi", "% Ditanggapi", f"% <= {target}", "Median waktu",
                  "Masih terbuka"], reg_rows, [52, 20, 20, 22, 22, 22, 22], ["L", "R", "R", "R", "R", "R", "R"],
                 size=7.5)

    # -- keywords -------------------------------------------------------------------------------
    pdf.heading("Kata kunci teratas")
    if report.keywords:
        names = {g.key: g.label for g in report.groups}
        kw_rows = [[str(i), k.keyword, names.get(k.group, k.group), fmt_int(k.complaints)]
                   for i, k in enumerate(report.keywords, 1)]
        pdf.grid(["No", "Kata kunci", "Grup", "Pengaduan"], kw_rows, [12, 70, 70, 28], ["R", "L", "L", "R"])
    else:
        pdf.note("Tidak ada kata kunci yang cocok bulan ini.")

    # -- complaints without a response ---------------------------------------------------------------
    pdf.add_page()
    pdf.heading(f"Pengaduan belum ditanggapi: {fmt_int(report.open_count)}")
    if report.open_first:
        names = {g.key: g.label for g in report.groups}
        open_rows = [
            [t_.number, ", ".join(names.get(g, g) for g in t_.groups) or "-", format_local(t_.received_at, tz),
             fmt_duration(t_.age_seconds), t_.sender, t_.regency or "-"]
            for t_ in report.open_first
        ]
        pdf.grid(["Nomor tiket", "Grup", "Diterima (WIB)", "Umur", "Pengirim", "Kab/kota"], open_rows,
                 [30, 50, 28, 18, 24, 30], ["L", "L", "L", "R", "L", "L"], size=7.5)
        if report.open_count > len(report.open_first):
            pdf.note(f"Ditampilkan {len(report.open_first)} tertua dari {fmt_int(report.open_count)}; daftar "
                     "lengkap ada di lembar \"Belum Ditanggapi\" berkas XLSX.")
    else:
        pdf.note("Semua pengaduan bulan ini sudah ditanggapi.")

    # -- definitions ------------------------------------------------------------------------------------
    pdf.heading("Keterangan")
    limits = ", ".join(f"{STAGE_LABELS[s.stage].split(' (')[0].lower()} {s.limit_seconds:g} dtk" for s in report.stages)
    pdf.note(_DEFINITIONS.format(target=target, limits=limits.replace(".", ",")), size=8)
    pdf.output(str(path))


_DEFINITIONS = """\
- Pengaduan dihitung pada bulan diterimanya (waktu WIB). Spam (promosi, penipuan) tidak dihitung sebagai \
pengaduan, kecuali dialihkan PIC ke suatu grup.
- Ditanggapi: ada tanggapan PIC (balasan atau penutupan tiket) sampai waktu "data per". Waktu tanggapan: dari SMS \
diterima sampai tanggapan pertama. Median: nilai tengah; P90: 90% pengaduan ditanggapi dalam waktu ini.
- % <= {target}: pengaduan yang ditanggapi dalam {target} dibagi semua pengaduan yang diterima.
- Ditutup: tiket diselesaikan PIC. Masih terbuka: belum ada tanggapan sama sekali. Dialihkan: tiket dipindah \
ke grup lain (/alihkan).
- Per grup: tiket yang dialihkan dihitung sekali di setiap grup yang dilaluinya.
- SLA tahap (batas dari konfigurasi): {limits}.
- Nomor pengirim disamarkan (0811****0200)."""

