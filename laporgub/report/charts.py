"""The report's charts, drawn with matplotlib's Agg canvas into PNG bytes.

No ``pyplot``: each chart builds its own :class:`matplotlib.figure.Figure` on a
``FigureCanvasAgg``, so nothing touches matplotlib's global state or a display
and the actor thread can draw while other threads run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from laporgub.render import wording
from laporgub.report.aggregate import DayCount, ResponseStats, StatsRow

__all__ = [
    "per_day",
    "per_day_figure",
    "per_group",
    "per_group_figure",
    "per_regency",
    "per_regency_figure",
    "response_times",
    "response_times_figure",
]

_BLUE = "#1f4e79"
_LIGHT = "#9dc3e6"
_ORANGE = "#c55a11"
_GREY = "#a6a6a6"
_DPI = 150
_RIGHT = 0.97  # right edge of the axes, as a fraction of the figure's width
_LABEL_INCHES = 2.4  # a longer y label (a group's or regency's name) wraps onto a second line


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _inches(fig: Figure, text: str, size: float) -> float:
    """Width of ``text`` (its longest line) at ``size`` pt, measured by the canvas's own renderer.

    Measuring one string does not draw the figure (``tight_layout()`` would draw it once more).
    """
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    prop = FontProperties(size=size)
    widest: float = max(renderer.get_text_width_height_descent(line, prop, ismath=False)[0]
                        for line in text.split("\n"))
    return widest / fig.dpi


def _wrap_label(fig: Figure, text: str, size: float, max_inches: float) -> str:
    """``text`` broken at spaces into lines no wider than ``max_inches`` (a longer single word stays whole)."""
    if _inches(fig, text, size) <= max_inches:
        return text
    lines: list[str] = []
    for word in text.split():
        if lines and _inches(fig, f"{lines[-1]} {word}", size) <= max_inches:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _layout(fig: Figure, left_inches: float = 0.45, top: float = 0.12) -> Figure:
    # Fixed margins instead of tight_layout(), which draws the figure once more just to measure it:
    # the left margin is measured from the y labels by the caller, the top one holds the legend.
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=min(0.5, left_inches / width), right=_RIGHT, top=1 - top / height,
                        bottom=0.5 / height)
    return fig


def _left_margin(fig: Figure, labels: Sequence[str], size: float = 8) -> float:
    """Inches left of the axes: the longest y label, the tick and a gap."""
    return 0.2 + max((_inches(fig, label, size) for label in labels), default=0.0)


def _room_for(fig: Figure, left_inches: float, ends: Sequence[float], texts: Sequence[str], size: float,
              minimum: float) -> float:
    """The x-axis maximum at which every ``texts[i]``, drawn from x = ``ends[i]``, ends inside the axes."""
    width = fig.get_size_inches()[0]
    axes = width * _RIGHT - min(0.5 * width, left_inches)
    xmax = minimum
    for end, text in zip(ends, texts):
        free = axes - _inches(fig, text, size) - 0.05
        if end > 0 and free > 0:
            xmax = max(xmax, end * axes / free)
    return xmax


def _legend_above(ax) -> None:  # type: ignore[no-untyped-def]
    """The legend in the figure's top margin, left-aligned with the axes: never over a bar or its label."""
    ax.legend(fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, borderaxespad=0.3)


def _style(ax) -> None:  # type: ignore[no-untyped-def]
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)


def _empty(ax, text: str | None = None) -> None:  # type: ignore[no-untyped-def]
    text = wording("report.chart_no_data") if text is None else text
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, color=_GREY, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def per_day(days: Sequence[DayCount]) -> bytes:
    """Complaints per day (responded part darker), spam as a line: a PNG."""
    return _png(per_day_figure(days))


def per_day_figure(days: Sequence[DayCount]) -> Figure:
    """The figure of :func:`per_day`, laid out (tests measure where its texts fall)."""
    fig = _figure(7.5, 3.0)
    ax = fig.add_subplot()
    x = [d.date.day for d in days]
    complaints = [d.complaints for d in days]
    responded = [d.responded for d in days]
    ax.bar(x, complaints, color=_LIGHT, label=wording("report.chart_received"))
    ax.bar(x, responded, color=_BLUE, label=wording("report.chart_responded_part"))
    if any(d.spam for d in days):
        ax.plot(x, [d.spam for d in days], color=_ORANGE, linewidth=1.2, marker=".", label=wording("report.chart_spam"))
    ax.set_xlabel(wording("report.chart_date"), fontsize=8)
    ax.set_ylabel(wording("report.chart_count"), fontsize=8)
    ax.set_xticks(x)
    ax.set_xlim(0.4, len(x) + 0.6)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not any(complaints) and not any(d.spam for d in days):
        ax.text(0.5, 0.5, wording("report.chart_no_complaints"), ha="center", va="center", fontsize=10,
                color=_GREY, transform=ax.transAxes)
    _legend_above(ax)
    _style(ax)
    return _layout(fig, _left_margin(fig, ["00000"]) + 0.3, top=0.3)


def _hbars(rows: Sequence[StatsRow], title_note: str, height: float) -> Figure:
    fig = _figure(7.5, height)
    ax = fig.add_subplot()
    if not rows or not any(r.stats.received for r in rows):
        _empty(ax)
        _style(ax)
        return _layout(fig)
    labels = [_wrap_label(fig, r.label, 8, _LABEL_INCHES) for r in rows][::-1]
    received = [r.stats.received for r in rows][::-1]
    responded = [r.stats.responded for r in rows][::-1]
    y = range(len(rows))
    ax.barh(y, received, color=_LIGHT, label=wording("report.chart_bar_received"))
    ax.barh(y, responded, color=_BLUE, label=wording("report.chart_bar_responded"))
    texts = []
    for i, (rec, resp) in enumerate(zip(received, responded)):
        share = f"{resp / rec * 100:.0f}%".replace(".", ",") if rec else ""
        texts.append(f" {rec:,}".replace(",", ".") + (f" ({share})" if share else ""))
        ax.text(rec, i, texts[-1], va="center", fontsize=7)
    left = _left_margin(fig, labels)
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, _room_for(fig, left, received, texts, 7, minimum=max(received) * 1.02 or 1))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(wording("report.chart_complaints", note=title_note), fontsize=8)
    _legend_above(ax)
    _style(ax)
    return _layout(fig, left, top=0.3)


def per_group(groups: Sequence[StatsRow]) -> bytes:
    """Complaints per group, responded part darker (the channel, which gets every complaint, is left out)."""
    return _png(per_group_figure(groups))


def per_group_figure(groups: Sequence[StatsRow]) -> Figure:
    """The figure of :func:`per_group`, laid out."""
    rows = [g for g in groups if g.key != "channel"]
    return _hbars(rows, wording("report.chart_channel_left_out"), 3.6)


def per_regency(regencies: Sequence[StatsRow], top: int = 15) -> bytes:
    """Complaints per regency/city: the ``top`` most named, the rest summed as "lainnya"."""
    return _png(per_regency_figure(regencies, top))


def per_regency_figure(regencies: Sequence[StatsRow], top: int = 15) -> Figure:
    """The figure of :func:`per_regency`, laid out."""
    rows = list(regencies[:top])
    rest = regencies[top:]
    if rest:
        other = wording("report.chart_other_regencies", count=len(rest))
        rows.append(StatsRow(key="lainnya", label=other, stats=ResponseStats(
            received=sum(r.stats.received for r in rest), responded=sum(r.stats.responded for r in rest),
            on_target=0, closed=0, still_open=0, rerouted=0, median_seconds=None, p90_seconds=None)))
    return _hbars(rows, "", max(2.7, 0.28 * len(rows) + 1.1))


def response_times(groups: Sequence[StatsRow], target_seconds: float) -> bytes:
    """Median and 90th percentile time to first response per group, in hours, with the target line."""
    return _png(response_times_figure(groups, target_seconds))


def response_times_figure(groups: Sequence[StatsRow], target_seconds: float) -> Figure:
    """The figure of :func:`response_times`, laid out."""
    rows = [g for g in groups if g.key != "channel" and g.stats.median_seconds is not None]
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    if not rows:
        _empty(ax, wording("report.chart_no_responses"))
        _style(ax)
        return _layout(fig)
    labels = [_wrap_label(fig, r.label, 8, _LABEL_INCHES) for r in rows][::-1]
    median = [(r.stats.median_seconds or 0) / 3600 for r in rows][::-1]
    p90 = [(r.stats.p90_seconds or 0) / 3600 for r in rows][::-1]
    y = list(range(len(rows)))
    ax.barh([v + 0.2 for v in y], p90, height=0.4, color=_LIGHT, label=wording("report.chart_p90"))
    ax.barh([v - 0.2 for v in y], median, height=0.4, color=_BLUE, label=wording("report.chart_median"))
    target_h = target_seconds / 3600
    target_text = wording("report.chart_target", days=f"{target_h / 24:g}".replace(".", ","))
    ax.axvline(target_h, color=_ORANGE, linestyle="--", linewidth=1)
    # the target's label sits in a strip above the top bar, inside the axes (the legend is above the axes)
    ax.set_ylim(-0.6, len(rows) + 0.1)
    ax.text(target_h, len(rows) - 0.35, target_text, color=_ORANGE, fontsize=7, va="bottom")
    left = _left_margin(fig, labels)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(wording("report.chart_response_hours"), fontsize=8)
    ax.set_xlim(0, _room_for(fig, left, [target_h], [target_text], 7, minimum=max(max(p90), target_h) * 1.1))
    _legend_above(ax)
    _style(ax)
    return _layout(fig, left, top=0.3)
