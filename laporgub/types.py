"""Small named types used across LaporGub (Mopidy's ``types.py`` habit)."""

from __future__ import annotations

from typing import NewType

#: A subscriber number in E.164 form, e.g. ``+628112920200``.
Msisdn = NewType("Msisdn", str)
#: A ticket number ``YYMMDD-NNNN-S`` (docs/sop.md), e.g. ``261128-0200-1``.
TicketNumber = NewType("TicketNumber", str)
#: Database id of a ticket row.
TicketId = NewType("TicketId", int)
#: Database id of an inbound SMS row.
InboundId = NewType("InboundId", int)
#: A group key of docs/sop.md, e.g. ``kesehatan``.
GroupKey = NewType("GroupKey", str)
#: A Telegram chat id (negative for groups and channels).
ChatId = NewType("ChatId", int)
#: A destination of notifications: a group key, ``leader-<n>`` or ``admin``.
DestinationKey = NewType("DestinationKey", str)

#: The group keys of docs/sop.md, in its order. Fixed: other tools depend on them.
GROUP_KEYS: tuple[str, ...] = (
    "channel",
    "sosial_hukum",
    "kesehatan",
    "ekonomi_industri",
    "darurat",
    "esdm_lh",
    "pertanian",
    "infrastruktur",
    "energi",
    "kabkota",
    "pelayanan_publik",
)

#: The five kinds of inbound SMS of docs/sop.md's table, plus ``undecodable`` for PDUs we could not read.
SMS_KINDS: tuple[str, ...] = ("complaint", "spam", "operator", "status_query", "too_short", "undecodable")

#: The SLA stages of docs/sop.md.
STAGES: tuple[str, ...] = ("register", "filter", "notify", "deliver")

#: Why the API server closed a connection itself (laporgub/api/limits.py; the label values of
#: ``laporgub_api_connections_closed``). Here, not beside uvicorn's protocol, so the metrics need no web server.
API_CLOSE_REASONS: tuple[str, ...] = ("header_timeout", "body_timeout", "connection_limit")

#: Why the SMS guard refused an outbound SMS (laporgub/smsguard.py; the label values of
#: ``laporgub_outbound_sms_refused_total``). Here, so the metrics import nothing of the guard.
SMS_REFUSE_REASONS: tuple[str, ...] = ("not_mobile", "number_cap", "daily_cap")
