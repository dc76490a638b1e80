"""Fuzz (hypothesis): any PDU the network or a broken modem can hand us decodes or raises PduError, nothing else,
and storing it never fails: an undecodable SMS is kept raw (fuzz/pdu_target.py is the atheris twin)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laporgub import db, pdu
from laporgub.exceptions import PduError
from tests.conftest import memory_intake

VALID = pdu.encode_deliver("+6281234567890", "Jalan rusak 😷 € [x] mohon diperbaiki " * 6, concat_reference=7)
VALID += [pdu.encode_deliver("TELKOMSEL", "Sisa pulsa Rp 1.000")[0],
          pdu.encode_deliver("+6281234567890", "tes", encoding="ucs2")[0]]


def mutated(base: str, data: st.DataObject) -> str:
    raw = bytearray.fromhex(base)
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    return bytes(raw[:cut]).hex().upper()


def check_decode(text: str) -> None:
    for decode in (pdu.decode_deliver, pdu.decode_submit):
        try:
            decoded = decode(text)
        except PduError:
            continue
        assert isinstance(decoded.text, str)
        decoded.text.encode("utf-8")  # no lone surrogates: the text goes into the database and Telegram


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_pdu_error(raw: bytes) -> None:
    check_decode(raw.hex())


@given(st.text(max_size=120))
def test_any_text_decode_or_pdu_error(text: str) -> None:
    check_decode(text)


@given(st.sampled_from(VALID), st.data())
def test_mutated_and_truncated_pdus_decode_or_pdu_error(base: str, data: st.DataObject) -> None:
    check_decode(mutated(base, data))


@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=4), st.data())
def test_joining_any_decoded_parts_gives_text(bases: list[str], data: st.DataObject) -> None:
    parts = []
    for base in bases:
        try:
            parts.append(pdu.decode_deliver(mutated(base, data) if data.draw(st.booleans()) else base))
        except PduError:
            pass
    if parts:
        pdu.join_parts(parts).encode("utf-8")


@pytest.fixture(scope="module")
def intake() -> Iterator[object]:
    with memory_intake() as intake:
        yield intake


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_store_sms_keeps_any_pdu(intake: object, data: st.DataObject) -> None:
    """Whatever the modem hands over is committed (raw when undecodable); the registry never sees an exception."""
    if data.draw(st.booleans()):
        text = data.draw(st.binary(max_size=180)).hex().upper()
    else:
        text = mutated(data.draw(st.sampled_from(VALID)), data)
    result = intake.store_sms("modem-1", text, time.time())  # type: ignore[attr-defined]
    row = db.InboundSms.get_by_id(result.inbound_id)
    assert row.pdu == text
