"""Messages between actors: small frozen dataclasses, safe to share across threads.

pykka does not copy messages, so only immutable values cross actor threads.
Peewee rows never leave the actor that loaded them; ids and snapshots do.
"""

from __future__ import annotations

from dataclasses import dataclass

from laporgub.types import InboundId, TicketId


@dataclass(frozen=True, slots=True)
class SmsReceived:
    """ModemReader -> TicketRegistry: an SMS read from modem storage; store it, then confirm.

    Attributes:
        modem: the modem's configured name (replies go to that reader).
        index: the storage slot, deleted with AT+CMGD once the registry confirms.
        pdu: the PDU exactly as AT+CMGL/AT+CMGR printed it.
        reported_at: epoch seconds of the +CMTI, or of finding it in storage (the register stage starts here).
    """

    modem: str
    index: int
    pdu: str
    reported_at: float


@dataclass(frozen=True, slots=True)
class SmsStored:
    """TicketRegistry -> ModemReader: the SMS in ``index`` is committed; it may be deleted."""

    index: int
    pdu: str
    inbound_id: InboundId


@dataclass(frozen=True, slots=True)
class SmsNotStored:
    """TicketRegistry -> ModemReader: storing failed; keep the SMS on the modem and retry later."""

    index: int
    pdu: str
    reason: str


@dataclass(frozen=True, slots=True)
class TicketRegistered:
    """TicketRegistry -> KeywordFilter: a ticket is committed and waits for routing."""

    ticket_id: TicketId
    number: str


@dataclass(frozen=True, slots=True)
class NotificationsQueued:
    """KeywordFilter/TicketRegistry -> GroupDispatcher: pending rows wait in the outbox."""

    destination: str


@dataclass(frozen=True, slots=True)
class OutboundQueued:
    """TicketRegistry -> ModemReader: outbound SMS rows wait in the outbox."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Self-scheduled wake-up of an actor (pykka has no timers)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class ModemIndication:
    """AT reader thread -> ModemReader: an unsolicited line such as ``+CMTI: "SM",3``."""

    line: str
    pdu: str | None
    at: float


@dataclass(frozen=True, slots=True)
class PortLost:
    """AT reader thread -> ModemReader: the serial port failed underneath."""

    reason: str


@dataclass(frozen=True, slots=True)
class ApiServerStopped:
    """uvicorn's thread -> ApiServer: the HTTP server ended without being asked to (the actor fails and restarts)."""

    reason: str
