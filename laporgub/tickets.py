"""Ticket numbers and citizens' phone numbers: plain functions, no I/O.

Ticket number (docs/sop.md): ``YYMMDD-NNNN-S``, the date of receipt in the
service's time zone, the last four digits of the sender's number, and a
sequence number for that date and those four digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

import phonenumbers

from laporgub.masking import mask_msisdn, national_digits
from laporgub.types import Msisdn, TicketNumber

__all__ = [
    "Sender", "classify_sender", "format_ticket", "hashtag", "is_indonesian_mobile", "is_ticket_number", "last_four",
    "mask_msisdn",
    "national_digits", "normalize_msisdn", "parse_phone", "parse_ticket", "ticket_day",
]

_TICKET_RE = re.compile(r"^(\d{6})-(\d{4})-([1-9]\d{0,3})$")



@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent an SMS, as far as we can tell.

    Attributes:
        raw: the originating address exactly as the PDU gave it.
        msisdn: E.164 form for a subscriber number, else None.
        is_subscriber: a number that can file a complaint (not alphanumeric,
            not a short code of at most 6 digits).
    """

    raw: str
    msisdn: Msisdn | None
    is_subscriber: bool


def classify_sender(raw: str, region: str = "ID", *, alphanumeric: bool = False) -> Sender:
    """Normalise an originating address to E.164 when it is a subscriber number.

    ``alphanumeric``: the PDU gave the address as a name (type of number 5). A name made of
    digits (``08123450777``) is still a name anybody can choose, not that subscriber: an
    operator message, never acknowledged to the number it spells.
    """
    if alphanumeric:
        return Sender(raw=raw, msisdn=None, is_subscriber=False)
    text = raw.strip()
    digits = re.sub(r"[\s\-()]", "", text)
    if not digits or re.search(r"[^\d+]", digits) or digits.count("+") > 1 or "+" in digits[1:]:
        return Sender(raw=raw, msisdn=None, is_subscriber=False)  # alphanumeric (TELKOMSEL, INFO)
    bare = digits.lstrip("+")
    if len(bare) <= 6:
        return Sender(raw=raw, msisdn=None, is_subscriber=False)  # short code (3, 123, 888)
    msisdn = normalize_msisdn(digits, region)
    if msisdn is None:
        # Some number we cannot parse: still a person, keep a stable key.
        return Sender(raw=raw, msisdn=Msisdn("+" + bare if digits.startswith("+") else bare), is_subscriber=True)
    return Sender(raw=raw, msisdn=msisdn, is_subscriber=True)


def normalize_msisdn(number: str, region: str = "ID") -> Msisdn | None:
    """``0812-3456-7890``, ``6281234567890``, ``+62 812...`` -> ``+6281234567890``; None if unparsable."""
    text = re.sub(r"[\s\-()]", "", number)
    if not text:
        return None
    # A bare 62... without '+' is an international number written without the prefix.
    if text.startswith("62") and len(text) >= 10:
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return Msisdn(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def is_indonesian_mobile(msisdn: str | None) -> bool:
    """Whether the service may send an SMS to ``msisdn``: a valid Indonesian mobile number (``+628...``).

    libphonenumber's numbering plan decides (valid length, mobile ranges), so landlines
    (``+6224...``), foreign numbers and junk (``+0000000000``) are refused.
    """
    if not msisdn or not msisdn.startswith("+628"):
        return False
    try:
        parsed = phonenumbers.parse(msisdn, None)
    except phonenumbers.NumberParseException:
        return False
    return (phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == "ID"
            and phonenumbers.number_type(parsed) in (phonenumbers.PhoneNumberType.MOBILE,
                                                     phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE))


def parse_phone(value: str | None, *, mobile_only: bool = True) -> Msisdn | None:
    """A citizen's number as a person types it (website form, ``laporgub privacy --phone``) -> E.164, or ValueError.

    Only Indonesian mobile numbers by default: the reporter is sent SMS (the acknowledgement, the
    PICs' answers), and the centre texts nothing else (laporgub/smsguard.py): a landline or a
    foreign number would make the website form a free SMS relay. ``mobile_only=False`` accepts
    any valid number: a foreign subscriber's complaint by SMS is registered too, and its sender
    may ask for the data kept about them. None stays None (no number given).
    """
    if value is None:
        return None
    if not re.fullmatch(r"\+?[\d\s\-().]{6,24}", value):
        raise ValueError("must be a phone number such as +6281234567890")
    msisdn = normalize_msisdn(value)
    if msisdn is None or not phonenumbers.is_valid_number(phonenumbers.parse(msisdn)):
        raise ValueError("not a valid phone number (e.g. +6281234567890 or 081234567890)")
    if mobile_only and not is_indonesian_mobile(msisdn):
        raise ValueError("not an Indonesian mobile number (+628... or 08...): SMS go to Indonesian mobiles only")
    return msisdn


def last_four(msisdn: str | None) -> str:
    """The four digits a ticket number takes from the sender (``0000`` when there is none)."""
    digits = re.sub(r"\D", "", msisdn or "")
    return digits[-4:].rjust(4, "0") if digits else "0000"


def ticket_day(received: datetime, tz: tzinfo) -> str:
    """``YYMMDD`` of the receipt time in the service's time zone."""
    if received.tzinfo is None:
        raise ValueError("received must be timezone-aware")
    return received.astimezone(tz).strftime("%y%m%d")


def format_ticket(day: str, four: str, seq: int) -> TicketNumber:
    """Build ``YYMMDD-NNNN-S``."""
    if not (len(day) == 6 and day.isdigit() and len(four) == 4 and four.isdigit() and seq >= 1):
        raise ValueError(f"bad ticket parts {day!r} {four!r} {seq!r}")
    return TicketNumber(f"{day}-{four}-{seq}")


def is_ticket_number(text: str) -> bool:
    """Whether ``text`` is a canonical ticket number."""
    return bool(_TICKET_RE.match(text))


def parse_ticket(text: str) -> TicketNumber | None:
    """Read a ticket number written with or without dashes, any case, or as ``#T261128_0200_1``.

    Returns the canonical ``YYMMDD-NNNN-S`` or None.
    """
    candidate = text.strip()
    m = _TICKET_RE.match(candidate)
    if m:
        return TicketNumber(candidate)
    m = re.fullmatch(r"#?[tT]?(\d{6})[-_ ]?(\d{4})[-_ ]?([1-9]\d{0,3})", candidate)
    if m:
        return TicketNumber(f"{m.group(1)}-{m.group(2)}-{int(m.group(3))}")
    return None


def hashtag(number: str) -> str:
    """Searchable hashtag form of a ticket number: ``261128-0200-1`` -> ``#T261128_0200_1``."""
    return "#T" + number.replace("-", "_")
