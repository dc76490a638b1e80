"""``[report]``: when the monthly report is sent, to whom, and the response target.

The dataclass lives here so that the report package and its tests do not
depend on the config loader; ``laporgub/config.py`` imports it, reads the
``[report]`` table into it and validates it (see ``docs/report.md``). A
``Config`` without a ``report`` attribute gets the defaults below. The defaults, bounds and docs of
the keys are the fields' (the loader reads them; nothing else repeats them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FORMATS", "ReportConfig", "report_config"]

#: The files a report consists of, in the order they are sent.
FORMATS: tuple[str, ...] = ("pdf", "xlsx", "csv")


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """``[report]``: schedule, recipients and targets of the monthly report.

    Each field is a key of ``[report]``; its metadata (doc, bounds) is read by the loader in
    ``laporgub/config.py`` (see its ``option``), in field order.
    """

    extra_chat_ids: tuple[int, ...] = field(default=(), metadata={
        "doc": "Further chats that receive the report (e.g. the admins' chat).", "kind": "chat_ids"})
    formats: tuple[str, ...] = field(default=FORMATS, metadata={
        "doc": "Which files are sent, a non-empty subset of pdf, xlsx, csv.", "lower": True, "choices": FORMATS,
        "min_items": 1})
    enabled: bool = field(default=True, metadata={
        "doc": "Send the report on schedule (the laporgub report command works regardless)."})
    day: int = field(default=1, metadata={
        "doc": "Day of the month the report for the previous month is sent (1-28, so every month has it).",
        "min": 1, "max": 28})
    hour: int = field(default=8, metadata={"doc": "Hour of that day, in [service] timezone.", "min": 0, "max": 23})
    minute: int = field(default=0, metadata={"doc": "Minute of that hour.", "min": 0, "max": 59})
    response_target_days: float = field(default=3.0, metadata={
        "doc": 'A complaint answered within this many days counts as "on target".', "positive": True, "max": 60.0})
    send_to_leaders: bool = field(default=True, metadata={"doc": "Send to every [[leaders]] chat."})
    retry_minutes: float = field(default=10.0, metadata={
        "doc": "A failed delivery is tried again after this many minutes.", "positive": True, "max": 1440.0})
    catch_up_days: float = field(default=7.0, metadata={
        "doc": "A report the service missed (it was down at the scheduled time) is still sent at start-up within "
               "this many days after the scheduled time; later, only laporgub report makes it.",
        "min": 0.0, "max": 27.0})

    @property
    def response_target_seconds(self) -> float:
        """The response target in seconds."""
        return self.response_target_days * 86400.0


def report_config(config: Any) -> ReportConfig:
    """The ``[report]`` settings of a ``Config`` (the defaults when it has none)."""
    value = getattr(config, "report", None)
    return value if isinstance(value, ReportConfig) else ReportConfig()


def report_chats(config: Any, settings: ReportConfig) -> tuple[int, ...]:
    """The chats that receive the report: the leaders' (when enabled), then the extra ones, without repeats."""
    chats: list[int] = []
    if settings.send_to_leaders:
        chats.extend(leader.chat_id for leader in getattr(config, "leaders", ()))
    chats.extend(settings.extra_chat_ids)
    return tuple(dict.fromkeys(chats))
