"""Structured logging: one line per event, ``key=value``, to stderr (journald).

Messages are written as ``event=name key=value ...`` by the code; this adds
time, level and component, and folds tracebacks into the same line so that
one event is always one line. Phone numbers never reach a log call in clear
(callers mask senders with :func:`laporgub.masking.mask_msisdn`), and as a last
line every formatted line, traceback included, goes through
:func:`laporgub.masking.mask_text`: a number inside an exception message, a
PIC's text or a library's message is masked too. Identifiers that are not
citizens' numbers (Telegram chat, user, update and message ids, instance names)
are kept by their key.
"""

from __future__ import annotations

import logging
import re
import sys

from laporgub.masking import mask_text

#: ``key=value`` pairs whose value is an identifier, not a citizen's number: kept as they are.
LOG_IDENTIFIERS = re.compile(
    r"\b(?:chat|chat_id|old_chat|new_chat|user|pic|update_id|message_id|offset|event_id|instance|bot|id)"
    r"=-?[\w:.@-]+")


class OneLineFormatter(logging.Formatter):
    """``2026-11-28T14:05:01+0700 level=INFO component=laporgub.intake event=...`` on one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s level=%(levelname)s component=%(name)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")

    def format(self, record: logging.LogRecord) -> str:
        text = mask_text(super().format(record), keep=LOG_IDENTIFIERS)
        return text.replace("\r", "\\r").replace("\n", " | ")


#: Libraries logged at WARNING even when the service runs at DEBUG: httpx logs every request URL,
#: and the Bot API's URL contains the token.
_NEVER_VERBOSE = ("httpx", "httpcore", "telegram", "telegram.ext")


def setup_logging(level: str = "INFO", stream: object = None, components: dict[str, str] | None = None) -> None:
    """Configure logging once: LaporGub's own loggers at ``level``, every other library at WARNING.

    A third-party library speaks at INFO about its own business (the PDF font subsetter
    writes 40-75 lines per report, uvicorn one per start); the service log is for the
    service's events. ``[service] log_levels`` can still turn any logger up or down by name
    (``fontTools = "INFO"``, ``routing = "DEBUG"``).
    """
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(OneLineFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("laporgub").setLevel(level)
    for name in _NEVER_VERBOSE:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("pykka").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
    for name, component_level in (components or {}).items():
        logging.getLogger(name).setLevel(component_level)
