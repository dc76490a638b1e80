"""Fuzz (hypothesis): any body sent to the website API's complaint endpoint is a ComplaintIn or a validation error
(fuzz/api_target.py is the atheris twin)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

api = pytest.importorskip("laporgub.api.app", reason="the website API (laporgub/api/) is not there")
pydantic = pytest.importorskip("pydantic")

JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=10,
)
BODY = st.fixed_dictionaries(
    {}, optional={"text": st.one_of(st.text(max_size=60), JSONISH),
                  "reporter": st.one_of(JSONISH, st.fixed_dictionaries({}, optional={
                      "name": st.text(max_size=20), "phone": st.one_of(st.text(max_size=26), st.from_regex(
                          r"\+?[\d\s\-().]{6,24}", fullmatch=True))})),
                  "category_hint": JSONISH, "location": JSONISH, "extra": JSONISH})


def check(raw: bytes) -> None:
    try:
        complaint = api.ComplaintIn.model_validate_json(raw)
    except pydantic.ValidationError:
        return
    assert complaint.text and complaint.text == complaint.text.strip() and "\x00" not in complaint.text
    complaint.text.encode("utf-8")
    if complaint.reporter is not None and complaint.reporter.phone is not None:
        assert complaint.reporter.phone.startswith("+")


@given(BODY)
def test_any_json_body_is_a_complaint_or_a_validation_error(body: dict) -> None:
    check(json.dumps(body).encode())


@given(st.binary(max_size=200))
def test_any_bytes_are_a_complaint_or_a_validation_error(raw: bytes) -> None:
    check(raw)


@given(st.text(max_size=40))
def test_any_phone_text_is_e164_or_value_error(text: str) -> None:
    try:
        phone = api.parse_phone(text)
    except ValueError:
        return
    assert phone is not None and phone.startswith("+")
