"""The one masking rule (laporgub/masking.py): every spelling of a phone number masked, tickets,
dates and amounts left alone; properties over generated spellings and texts (hypothesis)."""

from __future__ import annotations

import io
import logging
import re
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from laporgub.logsetup import OneLineFormatter
from laporgub.masking import ascii_digits, mask_msisdn, mask_text

NUMBER = "+6281277770001"
#: The spellings the attack found leaking, and more: what every output is hunted for.
SPELLINGS = (
    "081277770001", "+6281277770001", "6281277770001", "0812-7777-0001", "0812 7777 0001", "0812.7777.0001",
    "(0812) 7777-0001", "+62 (812) 7777 0001", "+62(812)77770001", "0812\u20137777\u20130001",
    "0812\u20147777\u20140001", "0812/7777/0001", "0812_7777_0001", "wa0812-7777-0001", "hp081277770001",
    "812-7777-0001", "+62 812 7777 0001", "0062 812 7777 0001", "\uff10\uff18\uff11\uff12\uff17\uff17\uff17\uff17"
    "\uff10\uff10\uff10\uff11", "0812\u200b7777\u200b0001", "0812 - 7777 - 0001",
)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_is_masked_as_the_sender_is(spelling: str) -> None:
    text = f"Mohon dihubungi di {spelling} segera, terima kasih"
    masked = mask_text(text)
    assert "0812****0001" in masked, masked
    assert ascii_digits(masked) == "08120001"  # nothing of the middle is left
    assert masked.startswith("Mohon dihubungi di ") and masked.endswith(" segera, terima kasih")
    assert mask_msisdn(NUMBER) == "0812****0001"


@pytest.mark.parametrize("text", [
    "Tiket: 261128-0200-1 #T261128_0200_1",
    "CEK 261128 0200 1",
    "cek 26112802001 dan 261128-0200-12",
    "Diterima: 28-11-2026 14:05 WIB, batas 2026/12/31, rapat 1.12.2026",
    "2026-11-28T14:05:01+0700 level=INFO",
    "Rp 1.500.000, Rp15.000.000, IDR 2500000000 dan pungutan 150.000.000",
    "tahun 2020-2025 dan 2019/2020",
    "lokasi -6.993245,110.420312",
    "harga 2500 3000 4000 per karung, RT 05 RW 12 no 3456",
    "kode pos 50511, NIK belum ada, tinggi 1234567",
])
def test_tickets_dates_and_amounts_stay(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("RT 05 0812 7777 0001", "RT 05 0812****0001"),
    ("tahun 2026 081277770001", "tahun 2026 0812****0001"),
    ("NIK 3374011234567890", "NIK 3374****7890"),
    ("telp (024) 351-5871", "telp 0243****5871"),
    ("+1 415 555 2671", "1415****2671"),
    ("rekening 12345678", "rekening ****5678"),
    ("nomor 812.777.700 (bukan uang)", "nomor 0812****7700 (bukan uang)"),
    ("tiket 261128-0200-1 hubungi 0812-7777-0001", "tiket 261128-0200-1 hubungi 0812****0001"),
    ("bukan tiket 081231-5678-90", "bukan tiket 0812****7890"),  # YY 08: before the service existed
])
def test_the_rule_in_examples(text: str, expected: str) -> None:
    assert mask_text(text) == expected


# -- properties ---------------------------------------------------------------------------

SEPARATORS = [" ", "-", ".", "/", "_", "\u2013", "\u2014", " - ", "  ", "\u00a0", "\u200b"]
WORDS = st.sampled_from(["lapor", "jalan", "rusak", "hubungi", "pak", "RT", "di", "wa", "hp", "nomor", "saya", "tolong"])


def _regroup(digits: str, draw: st.DrawFn) -> list[str]:
    groups: list[str] = []
    i = 0
    while i < len(digits):
        n = draw(st.integers(2, 5))
        groups.append(digits[i:i + n])
        i += n
    return groups


@st.composite
def mobile_spelling(draw: st.DrawFn) -> tuple[str, str]:
    """An Indonesian mobile number written as people write it; returns (spelling, national digits)."""
    prefix = draw(st.sampled_from(["81", "82", "83", "85", "87", "88", "89"])) + draw(st.sampled_from("123456789"))
    rest = draw(st.text(alphabet="0123456789", min_size=7, max_size=9))
    national = "0" + prefix + rest
    digits = prefix + rest
    groups = _regroup(digits, draw)
    sep = draw(st.sampled_from(SEPARATORS))
    joined = draw(st.booleans())
    lead = draw(st.sampled_from(["0", "+62", "62", "+62 ", "62 ", "(0", "+62 (", "0062 "]))
    if lead.endswith("("):  # the operator prefix in parentheses: (0812) 7777-0001, +62 (812) 7777 0001
        head, groups = digits[:3], [g for g in _regroup(digits[3:], draw) if g]
        body = head + ")" + draw(st.sampled_from(["", " ", "-", " - "])) + (sep if joined else "").join(groups)
    else:
        body = (sep if joined else "").join(groups)
    return lead + body, national


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mobile_spelling(), st.lists(WORDS, max_size=3), st.lists(WORDS, max_size=3), st.sampled_from(["", " "]))
@example(("0812-7777-0001", "081277770001"), ["wa"], [], "")
@example(("+62 (81 )- 100 - 00000", "08110000000"), [], [], "")  # found by hypothesis: a four-character separator
@example(("+62 (811) 10.00000", "08111000000"), [], [], "")  # found by hypothesis: not a coordinate after +62
def test_any_spelling_of_a_mobile_number_is_masked(spelled: tuple[str, str], before: list[str], after: list[str],
                                                  glue: str) -> None:
    spelling, national = spelled
    text = " ".join(before) + (" " if before else "") + ("hp" + glue if glue or not before else "") + spelling \
        + (" " + " ".join(after) if after else "")
    masked = mask_text(text)
    assert ascii_digits(masked) == national[:4] + national[-4:], (text, masked)
    assert f"{national[:4]}****{national[-4:]}" in masked


@st.composite
def ticket_number(draw: st.DrawFn) -> str:
    day = draw(st.dates(min_value=date(2017, 1, 1), max_value=date(2059, 12, 31)))
    four = draw(st.text(alphabet="0123456789", min_size=4, max_size=4))
    seq = draw(st.integers(1, 9999))
    sep = draw(st.sampled_from(["-", "_"]))
    return f"{day:%y%m%d}{sep}{four}{sep}{seq}"


@settings(max_examples=300, deadline=None)
@given(ticket_number(), st.dates(min_value=date(1950, 1, 1), max_value=date(2099, 12, 31)),
       st.sampled_from(["-", "/", "."]), st.integers(10_000_000, 999_999_999_999))
def test_tickets_dates_and_amounts_are_never_masked(ticket: str, day: date, sep: str, amount: int) -> None:
    dotted = f"{amount:,}".replace(",", ".")
    text = (f"Tiket {ticket} #T{ticket.replace('-', '_')} diterima {day.day}{sep}{day.month}{sep}{day.year} "
            f"({day.year}{sep}{day.month:02d}{sep}{day.day:02d}), biaya Rp {dotted}")
    assert mask_text(text) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Z", "S"]), max_size=200))
def test_masking_is_idempotent_and_leaves_no_long_run(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once
    # No run of 8 or more digits joined by separators survives, unless a protected shape left it.
    for run in re.finditer(r"\d(?:[ .\-/_\u2010-\u2015]{0,4}\d){7,}", once):
        assert mask_text(run.group()) == run.group()


def test_dates_near_the_edge() -> None:
    start = date(2017, 1, 1)
    for n in range(0, 365 * 3, 37):
        d = start + timedelta(days=n)
        ticket = f"{d:%y%m%d}-0200-1"
        assert mask_text(f"CEK {ticket}") == f"CEK {ticket}"


def test_log_lines_mask_numbers_and_keep_identifiers() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter())
    log = logging.getLogger("laporgub.test_masking")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("event=pic_refused user=1234567890 chat=-1001000000003 update_id=987654321 text=%s",
                    "hubungi 0812-7777-0001")
        try:
            raise ValueError("duplicate key (sender)=(+6281277770001)")
        except ValueError:
            log.exception("event=crash")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "user=1234567890 chat=-1001000000003 update_id=987654321" in out
    assert "0812****0001" in out and "7777" not in out
    assert len(out.strip().splitlines()) == 2  # the traceback folded into its line
