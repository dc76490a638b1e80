"""The API's plain parts without a server: rate limits, phone numbers, masking in public texts, scopes."""

from __future__ import annotations

import pytest

from laporgub.api import auth
from laporgub.api.app import _field
from laporgub.api.views import open311_service_code
from laporgub.masking import mask_text as mask_numbers_in_text
from laporgub.tickets import parse_phone


def test_rate_limiter_refills_per_key() -> None:
    now = [1000.0]
    limiter = auth.RateLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert all(limiter.take(1) == 0.0 for _ in range(60))
    assert limiter.take(1) == pytest.approx(1.0)
    assert limiter.take(2) == 0.0  # another key has its own bucket
    now[0] += 2.5
    assert limiter.take(1) == 0.0 and limiter.take(1) == 0.0
    assert limiter.take(1) == pytest.approx(0.5)


def test_scopes_imply() -> None:
    assert auth.effective_scopes("read:personal") == {"read", "read:personal"}
    assert auth.effective_scopes("admin") == set(auth.SCOPES)
    assert auth.effective_scopes("submit bogus") == {"submit"}
    with pytest.raises(ValueError, match="unknown scope"):
        auth.create_key("x", ["write"])


def test_phone_numbers() -> None:
    assert parse_phone("0812-3456-0200") == "+6281234560200"
    assert parse_phone("+62 812 3456 0200") == "+6281234560200"
    for bad in ("halo", "12", "+62 0000", "0812345602001234567"):
        with pytest.raises(ValueError):
            parse_phone(bad)


def test_numbers_in_public_text_are_masked() -> None:
    text = "hubungi 0812-3456-0200 atau +62 857 1234 5678, RT 05 no 12, tahun 2026"
    masked = mask_numbers_in_text(text)
    assert "0812****0200" in masked and "0857****5678" in masked
    assert "RT 05 no 12, tahun 2026" in masked and "3456" not in masked and "1234 5678" not in masked


def test_error_locations_name_the_field() -> None:
    assert _field(("body", "reporter", "phone")) == ("reporter.phone", "body")
    assert _field(("query", "limit")) == ("limit", "query")
    assert _field(("body", "items", 2, "x")) == ("items[2].x", "body")
    assert _field(("body",)) == ("body", "body")


def test_service_code_is_the_first_topic_group() -> None:
    assert open311_service_code(["channel", "kabkota", "infrastruktur", "darurat"]) == "infrastruktur"
    assert open311_service_code(["channel", "kabkota"]) == "kabkota"
    assert open311_service_code(["channel"]) is None
