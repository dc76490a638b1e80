"""``[report]``: when the monthly report is sent, to whom, and the response target.

The dataclass lives here so that the report package and its tests do not
depend on the config loader; ``laporgub/config.py`` imports it, reads the
``[report]`` table into it and validates it (see ``docs/report.md``). A
``Config`` without a ``report`` attribute gets the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FORMATS", "ReportConfig", "report_config"]

#: The files a report consists of, in the order they are sent.
FORMATS: tuple[str, ...] = ("pdf", "xlsx", "csv")


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """``[report]``: schedule, recipients and targets of the monthly report.

    Attributes:
        enabled: send the report on schedule (the ``laporgub report`` command works regardless).
        day: day of the month the report for the previous month is sent (1-28, so every month has it).
        hour: hour of that day, in ``[service] timezone`` (0-23).
        minute: minute of that hour (0-59).
        response_target_days: a complaint answered within this many days counts as "on target".
        send_to_leaders: send to every ``[[leaders]]`` chat.
        extra_chat_ids: further chats that receive the report (e.g. the admins' chat).
        formats: which files are sent, a non-empty subset of ``pdf``, ``xlsx``, ``csv``.
        retry_minutes: a failed delivery is tried again after this many minutes.
        catch_up_days: a report the service missed (it was down at the scheduled time) is still sent at
            start-up within this many days after the scheduled time; later, only ``laporgub report`` makes it.
    """

    enabled: bool = True
    day: int = 1
    hour: int = 8
    minute: int = 0
    response_target_days: float = 3.0
    send_to_leaders: bool = True
    extra_chat_ids: tuple[int, ...] = ()
    formats: tuple[str, ...] = FORMATS
    retry_minutes: float = 10.0
    catch_up_days: float = 7.0

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
