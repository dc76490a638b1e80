"""The PDF for leaders (fpdf2): title page, summary, charts and tables, in Indonesian.

Its words are the ``[report]`` texts of laporgub/data/texts.toml.

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

from laporgub.render import wording, wordings
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
        self.cell(0, 5, wording("report.pdf_page", page=self.page_no(), pages="{nb}"), align="R")
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
    return list(wordings("report.pdf_stats_columns", target=target_days))


_STATS_WIDTHS = [15, 14, 14, 15, 15, 15, 14, 14, 14]
_STATS_ALIGN = ["R"] * 9


def _target_days(report: MonthlyReport) -> str:
    return wording("report.days", value=f"{report.target_seconds / 86400:g}".replace(".", ","))


def render_pdf(report: MonthlyReport, tz: tzinfo, path: Path, *, generated_at: float) -> None:
    """Write the leaders' PDF for ``report`` to ``path``: one function below per section, in page order."""
    pdf = _Pdf(wording("report.pdf_footer", month=report.month.label))
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
    pdf.cell(0, 11, wording("report.pdf_title"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "B", 15)
    pdf.cell(0, 8, wording("report.pdf_subtitle"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "", 11)
    pdf.cell(0, 7, wording("report.pdf_tagline"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(15, 72)
    pdf.set_font(_FONT, "B", 18)
    pdf.cell(0, 10, wording("report.pdf_period", month=report.month.label), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "", 9)
    pdf.set_text_color(*_GREY)
    pdf.cell(0, 5, wording("report.pdf_addressee", timezone=report.timezone), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, wording("report.pdf_as_of", as_of=format_local(report.as_of, tz),
                           generated=format_local(generated_at, tz)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)

    notify = next(s for s in report.stages if s.stage == "notify")
    tiles = [
        (wording("report.received"), fmt_int(t.received), wording("report.tile_previous", value=fmt_int(p.received))),
        (wording("report.responded"), fmt_pct(t.share_responded),
         wording("report.tile_complaints", value=fmt_int(t.responded))),
        (wording("report.on_target", target=target), fmt_pct(t.share_on_target),
         wording("report.tile_complaints", value=fmt_int(t.on_target))),
        (wording("report.tile_median"), fmt_duration(t.median_seconds),
         wording("report.tile_p90", value=fmt_duration(t.p90_seconds))),
        (wording("report.tile_open"), fmt_int(t.still_open), wording("report.tile_open_note")),
        (wording("report.tile_notify"), fmt_pct(notify.share_within),
         wording("report.tile_notify_limit", seconds=f"{notify.limit_seconds:g}")),
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
    pdf.cell(0, 7, wording("report.pdf_per_day"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    if t.received == 0:
        pdf.set_font(_FONT, "B", 11)
        pdf.cell(0, 8, wording("report.pdf_no_complaints"), new_x="LMARGIN", new_y="NEXT")
    pdf.chart(charts.per_day(report.days), width=180)
    pdf.set_y(250)
    pdf.note(wording("report.pdf_cover_note"), size=7.5)


def _summary(pdf: _Pdf, report: MonthlyReport) -> None:
    """This month beside the month before."""
    month = report.month.label
    t, p = report.totals.stats, report.previous.stats
    target = _target_days(report)
    pdf.add_page()
    pdf.heading(wording("report.pdf_summary", month=month))
    prev_label = report.month.previous().label
    rows = [
        (wording("report.received"), fmt_int(t.received), fmt_int(p.received)),
        (wording("report.received_sms"), fmt_int(report.totals.sms), fmt_int(report.previous.sms)),
        (wording("report.received_web"), fmt_int(report.totals.web), fmt_int(report.previous.web)),
        (wording("report.responded"), fmt_int(t.responded), fmt_int(p.responded)),
        (wording("report.share_responded"), fmt_pct(t.share_responded), fmt_pct(p.share_responded)),
        (wording("report.on_target", target=target), fmt_int(t.on_target), fmt_int(p.on_target)),
        (wording("report.share_on_target", target=target), fmt_pct(t.share_on_target), fmt_pct(p.share_on_target)),
        (wording("report.pdf_median"), fmt_duration(t.median_seconds), fmt_duration(p.median_seconds)),
        (wording("report.pdf_p90"), fmt_duration(t.p90_seconds), fmt_duration(p.p90_seconds)),
        (wording("report.closed"), fmt_int(t.closed), fmt_int(p.closed)),
        (wording("report.still_open"), fmt_int(t.still_open), fmt_int(p.still_open)),
        (wording("report.rerouted"), fmt_int(t.rerouted), fmt_int(p.rerouted)),
        (wording("report.pdf_spam"), fmt_int(report.totals.spam), fmt_int(report.previous.spam)),
        (wording("report.incidents"), fmt_int(report.totals.incidents.incidents),
         fmt_int(report.previous.incidents.incidents)),
        (wording("report.linked_reports"), fmt_int(report.totals.incidents.linked_reports),
         fmt_int(report.previous.incidents.linked_reports)),
        (wording("report.events"), fmt_int(report.totals.incidents.events),
         fmt_int(report.previous.incidents.events)),
        (wording("report.pdf_incident_median"), fmt_duration(report.totals.incidents.stats.median_seconds),
         fmt_duration(report.previous.incidents.stats.median_seconds)),
        (wording("report.questions"), fmt_int(report.totals.conversations.questions),
         fmt_int(report.previous.conversations.questions)),
        (wording("report.citizen_answers"), fmt_int(report.totals.conversations.answers),
         fmt_int(report.previous.conversations.answers)),
        (wording("report.pdf_answer_median"), fmt_duration(report.totals.conversations.median_answer_seconds),
         fmt_duration(report.previous.conversations.median_answer_seconds)),
        (wording("report.waiting_for_citizen"), fmt_int(report.totals.conversations.waiting),
         fmt_int(report.previous.conversations.waiting)),
    ]
    pdf.grid([wording("report.pdf_indicator"), month, prev_label], rows, [100, 40, 40], ["L", "R", "R"], size=9)


def _stages(pdf: _Pdf, report: MonthlyReport) -> None:
    """SLA compliance of each SOP stage (same page as the summary)."""
    pdf.heading(wording("report.pdf_stages"))
    stage_rows = [
        (STAGE_LABELS[s.stage], wording("report.seconds", value=f"{s.limit_seconds:g}".replace(".", ",")),
         fmt_int(s.total),
         fmt_int(s.within), fmt_pct(s.share_within, 2), fmt_int(s.total - s.completed), fmt_seconds(s.max_seconds))
        for s in report.stages
    ]
    pdf.grid(list(wordings("report.pdf_stage_columns")), stage_rows, [76, 14, 18, 18, 18, 16, 20],
             ["L", "R", "R", "R", "R", "R", "R"])
    pdf.note(wording("report.pdf_stages_note"))


def _per_group(pdf: _Pdf, report: MonthlyReport) -> None:
    """Complaints and responses per group: table, then the chart of complaints."""
    pdf.add_page()
    pdf.heading(wording("report.pdf_per_group"))
    group_rows = [[g.label, *_stats_cells(g.stats)] for g in report.groups]
    pdf.grid([wording("report.pdf_group"), *_stats_header(_target_days(report))], group_rows, [50, *_STATS_WIDTHS],
             ["L", *_STATS_ALIGN], size=7.5)
    pdf.note(wording("report.pdf_per_group_note"))
    pdf.chart(charts.per_group(report.groups), width=170)


def _response_times(pdf: _Pdf, report: MonthlyReport) -> None:
    """The chart of response times per group, against the target."""
    pdf.add_page()
    pdf.heading(wording("report.pdf_response_times"))
    pdf.chart(charts.response_times(report.groups, report.target_seconds), width=170)


def _per_agency(pdf: _Pdf, report: MonthlyReport) -> None:
    """Per agency with duty groups (same page as the response times), then those without any."""
    header = [wording("report.pdf_agency"), *_stats_header(_target_days(report))]
    agency_rows = [[a.label, *_stats_cells(a.stats)] for a in report.agencies]
    pdf.heading(wording("report.pdf_per_agency"), keep=pdf.table_height(header, agency_rows, [50, *_STATS_WIDTHS], 7.5))
    if report.agencies:
        pdf.grid(header, agency_rows, [50, *_STATS_WIDTHS], ["L", *_STATS_ALIGN], size=7.5)
    elif not report.agencies_without_duty:
        pdf.note(wording("report.pdf_no_pics"))
    else:
        pdf.note(wording("report.pdf_no_duty_agencies"))
    _without_duty(pdf, wording("report.pdf_agencies_without_duty"), wording("report.pdf_agency"),
                  [r.label for r in report.agencies_without_duty],
                  report.agencies_without_duty)


def _per_pic(pdf: _Pdf, report: MonthlyReport) -> None:
    """Per PIC with duty groups, those without any, and the note that explains both agency and PIC tables."""
    pdf.add_page()
    pdf.heading(wording("report.pdf_per_pic"))
    if report.pics:
        pic_rows = [[f"{r.label}\n{r.agency}", *_stats_cells(r.stats)] for r in report.pics]
        pdf.grid([wording("report.pdf_pic"), *_stats_header(_target_days(report))], pic_rows, [50, *_STATS_WIDTHS],
                 ["L", *_STATS_ALIGN], size=7.5)
    elif not report.pics_without_duty:
        pdf.note(wording("report.pdf_no_pics"))
    else:
        pdf.note(wording("report.pdf_no_duty_pics"))
    _without_duty(pdf, wording("report.pdf_pics_without_duty"), wording("report.pdf_pic"),
                  [f"{r.label}\n{r.agency}" for r in report.pics_without_duty], report.pics_without_duty)
    pdf.note(AGENCY_RULE)


def _without_duty(pdf: _Pdf, title: str, first: str, names: Sequence[str], rows: Sequence[ActionRow]) -> None:
    """Agencies or PICs that answer for no complaint: what they did, without a rate."""
    if not rows:
        return
    header, widths = [first, *wordings("report.pdf_without_duty_columns")], [80, 40, 20, 20, 20]
    cells = [[name, no_duty_text(r.groups), fmt_int(r.responded), fmt_int(r.closed), fmt_int(r.rerouted)]
             for name, r in zip(names, rows)]
    pdf.subheading(title, keep=pdf.table_height(header, cells, widths, 7.5))
    pdf.grid(header, cells, widths, ["L", "L", "R", "R", "R"], size=7.5)


def _per_regency(pdf: _Pdf, report: MonthlyReport) -> None:
    """Complaints per regency/city: chart, then table."""
    pdf.add_page()
    pdf.heading(wording("report.pdf_per_regency"))
    pdf.chart(charts.per_regency(report.regencies), width=170)
    reg_rows = [[r.label, fmt_int(r.stats.received), fmt_int(r.stats.responded), fmt_pct(r.stats.share_responded),
                 fmt_pct(r.stats.share_on_target), fmt_duration(r.stats.median_seconds), fmt_int(r.stats.still_open)]
                for r in report.regencies]
    if reg_rows:
        pdf.grid(list(wordings("report.pdf_regency_columns", target=_target_days(report))), reg_rows,
                 [52, 20, 20, 22, 22, 22, 22],
                 ["L", "R", "R", "R", "R", "R", "R"], size=7.5)


def _keywords(pdf: _Pdf, report: MonthlyReport) -> None:
    """The top keywords (same page as the regency table's end)."""
    names = {g.key: g.label for g in report.groups}
    header, widths = list(wordings("report.pdf_keyword_columns")), [12, 70, 70, 28]
    kw_rows = [[str(i), k.keyword, names.get(k.group, k.group), fmt_int(k.complaints)]
               for i, k in enumerate(report.keywords, 1)]
    pdf.heading(wording("report.pdf_keywords"), keep=pdf.table_height(header, kw_rows, widths))
    if report.keywords:
        pdf.grid(header, kw_rows, widths, ["R", "L", "L", "R"])
    else:
        pdf.note(wording("report.pdf_no_keywords"))


def _open_tickets(pdf: _Pdf, report: MonthlyReport, tz: tzinfo) -> None:
    """The oldest complaints still without a response: a compact listing, group names without "Group "."""
    pdf.add_page()
    pdf.heading(wording("report.pdf_open", count=fmt_int(report.open_count)))
    if report.open_first:
        names = {g.key: _short_group(g.label) for g in report.groups}
        open_rows = [
            [t_.number, ", ".join(names.get(g, g) for g in t_.groups) or "-", format_local(t_.received_at, tz),
             fmt_duration(t_.age_seconds), t_.sender, t_.regency or "-"]
            for t_ in report.open_first
        ]
        if any(_short_group(g.label) != g.label for g in report.groups):
            pdf.note(wording("report.pdf_open_note"))
        pdf.grid(list(wordings("report.pdf_open_columns")), open_rows,
                 [23, 59, 26, 16, 21, 35], ["L", "L", "L", "R", "L", "L"], size=7.5)
        if report.open_count > len(report.open_first):
            pdf.note(wording("report.pdf_open_more", shown=len(report.open_first), count=fmt_int(report.open_count)))
    else:
        pdf.note(wording("report.pdf_all_responded"))


def _short_group(label: str) -> str:
    """``Group Kesehatan`` -> ``Kesehatan`` (the groups' names all start alike)."""
    for prefix in ("Group ", "Grup "):
        if label[:len(prefix)].lower() == prefix.lower() and label[len(prefix):].strip():
            return label[len(prefix):].strip()
    return label


def _definitions(pdf: _Pdf, report: MonthlyReport) -> None:
    """How the figures are counted (after the open list)."""
    limits = ", ".join(wording("report.pdf_stage_limit", stage=STAGE_LABELS[s.stage].split(" (")[0].lower(),
                               seconds=f"{s.limit_seconds:g}") for s in report.stages)
    text = wording("report.pdf_definitions_text", target=_target_days(report), limits=limits.replace(".", ","))
    pdf.heading(wording("report.pdf_definitions"), keep=pdf.note_height(text, size=8))
    pdf.note(text, size=8)
