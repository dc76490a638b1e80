"""Ticket numbers, sender normalisation and masking (docs/sop.md's format)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from laporgub.tickets import (
    classify_sender,
    format_ticket,
    hashtag,
    last_four,
    mask_msisdn,
    normalize_msisdn,
    parse_ticket,
    ticket_day,
)

WIB = ZoneInfo("Asia/Jakarta")


@pytest.mark.parametrize("raw", ["081234567890", "0812-3456-7890", "6281234567890", "+62 812 3456 7890"])
def test_normalize_to_e164(raw: str) -> None:
    assert normalize_msisdn(raw) == "+6281234567890"


@pytest.mark.parametrize("raw", ["TELKOMSEL", "INFO", "3", "123", "888888", "Indosat"])
def test_operators_are_not_subscribers(raw: str) -> None:
    sender = classify_sender(raw)
    assert not sender.is_subscriber and sender.msisdn is None


def test_subscriber_from_national_form() -> None:
    sender = classify_sender("08112920200")
    assert sender.is_subscriber and sender.msisdn == "+628112920200"


def test_mask() -> None:
    assert mask_msisdn("+628112920200") == "0811****0200"
    assert mask_msisdn("+6281234567890") == "0812****7890"
    assert "2920" not in mask_msisdn("+628112920200")
    assert mask_msisdn(None) == "-"


def test_ticket_day_uses_service_time_zone() -> None:
    # 17:30 UTC on 27 Nov is 00:30 WIB on 28 Nov.
    received = datetime(2026, 11, 27, 17, 30, tzinfo=timezone.utc)
    assert ticket_day(received, WIB) == "261128"
    assert ticket_day(received, timezone.utc) == "261127"
    with pytest.raises(ValueError):
        ticket_day(datetime(2026, 11, 28), WIB)


def test_format_and_parse() -> None:
    number = format_ticket("261128", last_four("+628112920200"), 1)
    assert number == "261128-0200-1"
    for written in ("261128-0200-1", "26112802001", "#T261128_0200_1", "#t261128_0200_1", "261128 0200 1"):
        assert parse_ticket(written) == "261128-0200-1", written
    assert parse_ticket("261128-0200-12") == "261128-0200-12"
    assert parse_ticket("hello") is None
    assert parse_ticket("261128-0200-0") is None
    assert hashtag(number) == "#T261128_0200_1"
    assert last_four(None) == "0000"
    with pytest.raises(ValueError):
        format_ticket("2611", "0200", 1)
