"""Indonesian labels and number formats shared by the PDF, XLSX and CSV renderers.

Their words are the ``[report]`` texts of laporgub/data/texts.toml.
"""

from __future__ import annotations

from collections.abc import Sequence

from laporgub.render import wording

__all__ = [
    "AGENCY_RULE",
    "STAGE_LABELS",
    "fmt_duration",
    "fmt_int",
    "fmt_pct",
    "fmt_seconds",
    "no_duty_text",
]

#: What each SOP stage is called in the report.
STAGE_LABELS: dict[str, str] = {stage: wording(f"report.stage_{stage}")
                                 for stage in ("register", "filter", "notify", "deliver")}


#: Who answers for a complaint, in the PDF's and the XLSX's words.
AGENCY_RULE = wording("report.agency_rule")


def no_duty_text(groups: Sequence[str]) -> str:
    """Why an agency/PIC whose registered groups are ``groups`` has no duty group."""
    return wording("report.no_duty_channel" if groups else "report.no_duty_unregistered")


def fmt_int(value: int | None) -> str:
    """``12345`` -> ``12.345`` (Indonesian thousands separator)."""
    if value is None:
        return "-"
    return f"{value:,}".replace(",", ".")


def _decimal(value: float, places: int) -> str:
    text = f"{value:,.{places}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def fmt_pct(share: float | None, places: int = 1) -> str:
    """``0.875`` -> ``87,5%``; ``-`` when there is nothing to divide."""
    if share is None:
        return "-"
    return _decimal(share * 100.0, places) + "%"


def fmt_duration(seconds: float | None) -> str:
    """A response time for people: minutes under an hour, hours under two days, else days."""
    if seconds is None:
        return "-"
    if seconds < 3600:
        return wording("report.minutes", value=_decimal(seconds / 60.0, 0))
    if seconds < 48 * 3600:
        return wording("report.hours", value=_decimal(seconds / 3600.0, 1))
    return wording("report.days", value=_decimal(seconds / 86400.0, 1))


def fmt_seconds(seconds: float | None) -> str:
    """A stage duration: ``1,23 dtk``."""
    if seconds is None:
        return "-"
    return wording("report.seconds", value=_decimal(seconds, 2))
