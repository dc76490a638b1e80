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
from matplotlib.ticker import MaxNLocator

from laporgub.report.aggregate import DayCount, StatsRow

__all__ = ["per_day", "per_group", "per_regency", "response_times"]

_BLUE = "#1f4e79"
_LIGHT = "#9dc3e6"
_ORANGE = "#c55a11"
_GREY = "#a6a6a6"
_DPI = 150


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure, labels: Sequence[str] = (), top: float = 0.12) -> bytes:
    # Fixed margins instead of tight_layout(), which draws the figure once more just to measure it:
    # the left margin fits the longest y label (about 0.067 inch a character at 8 pt).
    width, height = fig.get_size_inches()
    left = (0.45 + 0.067 * max((len(label) for label in labels), default=0)) / width
    fig.subplots_adjust(left=min(0.5, left), right=0.97, top=1 - top / height, bottom=0.5 / height)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _style(ax) -> None:  # type: ignore[no-untyped-def]
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)


def _empty(ax, text: str = "Tidak ada data bulan ini") -> None:  # type: ignore[no-untyped-def]
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, color=_GREY, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def per_day(days: Sequence[DayCount]) -> bytes:
    """Complaints per day (responded part darker), spam as a line."""
    fig = _figure(7.5, 3.0)
    ax = fig.add_subplot()
    x = [d.date.day for d in days]
    complaints = [d.complaints for d in days]
    responded = [d.responded for d in days]
    ax.bar(x, complaints, color=_LIGHT, label="Pengaduan diterima")
    ax.bar(x, responded, color=_BLUE, label="... di antaranya sudah ditanggapi")
    if any(d.spam for d in days):
        ax.plot(x, [d.spam for d in days], color=_ORANGE, linewidth=1.2, marker=".", label="Spam")
    ax.set_xlabel("Tanggal", fontsize=8)
    ax.set_ylabel("Jumlah", fontsize=8)
    ax.set_xticks(x)
    ax.set_xlim(0.4, len(x) + 0.6)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not any(complaints) and not any(d.spam for d in days):
        ax.text(0.5, 0.5, "Tidak ada pengaduan bulan ini", ha="center", va="center", fontsize=10,
                color=_GREY, transform=ax.transAxes)
    ax.legend(fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3)
    _style(ax)
    return _png(fig, ("00000",), top=0.3)


def _hbars(rows: Sequence[StatsRow], title_note: str, height: float) -> bytes:
    fig = _figure(7.5, height)
    ax = fig.add_subplot()
    if not rows or not any(r.stats.received for r in rows):
        _empty(ax)
        _style(ax)
        return _png(fig)
    labels = [r.label for r in rows][::-1]
    received = [r.stats.received for r in rows][::-1]
    responded = [r.stats.responded for r in rows][::-1]
    y = range(len(rows))
    ax.barh(y, received, color=_LIGHT, label="Diterima")
    ax.barh(y, responded, color=_BLUE, label="Ditanggapi")
    for i, (rec, resp) in enumerate(zip(received, responded)):
        share = f"{resp / rec * 100:.0f}%".replace(".", ",") if rec else ""
        ax.text(rec, i, f" {rec:,}".replace(",", ".") + (f" ({share})" if share else ""), va="center", fontsize=7)
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(received) * 1.18 or 1)
    ax.set_xlabel(f"Jumlah pengaduan{title_note}", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    _style(ax)
    return _png(fig, labels)


def per_group(groups: Sequence[StatsRow]) -> bytes:
    """Complaints per group, responded part darker (the channel, which gets every complaint, is left out)."""
    rows = [g for g in groups if g.key != "channel"]
    return _hbars(rows, " (channel menerima semua pengaduan, tidak ditampilkan)", 3.6)


def per_regency(regencies: Sequence[StatsRow], top: int = 15) -> bytes:
    """Complaints per regency/city: the ``top`` most named, the rest summed as "lainnya"."""
    rows = list(regencies[:top])
    rest = regencies[top:]
    if rest:
        from laporgub.report.aggregate import ResponseStats

        rows.append(StatsRow(key="lainnya", label=f"Lainnya ({len(rest)} kab/kota)", stats=ResponseStats(
            received=sum(r.stats.received for r in rest), responded=sum(r.stats.responded for r in rest),
            on_target=0, closed=0, still_open=0, rerouted=0, median_seconds=None, p90_seconds=None)))
    return _hbars(rows, "", max(2.5, 0.28 * len(rows) + 0.9))


def response_times(groups: Sequence[StatsRow], target_seconds: float) -> bytes:
    """Median and 90th percentile time to first response per group, in hours, with the target line."""
    rows = [g for g in groups if g.key != "channel" and g.stats.median_seconds is not None]
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    if not rows:
        _empty(ax, "Belum ada tanggapan bulan ini")
        _style(ax)
        return _png(fig)
    labels = [r.label for r in rows][::-1]
    median = [(r.stats.median_seconds or 0) / 3600 for r in rows][::-1]
    p90 = [(r.stats.p90_seconds or 0) / 3600 for r in rows][::-1]
    y = list(range(len(rows)))
    ax.barh([v + 0.2 for v in y], p90, height=0.4, color=_LIGHT, label="Persentil ke-90")
    ax.barh([v - 0.2 for v in y], median, height=0.4, color=_BLUE, label="Median")
    target_h = target_seconds / 3600
    ax.axvline(target_h, color=_ORANGE, linestyle="--", linewidth=1)
    ax.text(target_h, len(rows) - 0.4, f" target {target_h / 24:g} hari".replace(".", ","), color=_ORANGE,
            fontsize=7, va="bottom")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("Waktu sampai tanggapan pertama (jam)", fontsize=8)
    ax.set_xlim(0, max(max(p90), target_h) * 1.3)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    _style(ax)
    return _png(fig, labels)
