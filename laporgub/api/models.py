"""The website API's request and answer models, and the field rules they share with Open311.

No ``from __future__ import annotations``: pydantic and FastAPI read these annotations at runtime.
"""

import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field, field_validator

from laporgub.tickets import parse_phone

#: Control characters refused in any field (tab, newline and carriage return are fine).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: str | None) -> str | None:
    """Reject what databases refuse (NUL, lone surrogates), control characters and text with nothing
    visible in it (blanks, zero-width spaces, joiners); strip spaces."""
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in value):
        raise ValueError("must contain visible text (not only spaces or invisible characters)")
    return value


class Reporter(BaseModel):
    """Who reports; both optional (a web complaint without a number gets 0000 in its ticket number)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=128, examples=["Budi Santoso"])
    phone: str | None = Field(None, max_length=32, examples=["+6281234567890"],
                              description="Gets the acknowledgement SMS and PIC responses, as an SMS complainant.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return clean_text(v)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return parse_phone(clean_text(v))


class ComplaintIn(BaseModel):
    """A web complaint. Only ``text`` is required."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=5000, examples=["Jalan rusak parah di Ungaran, banyak lubang"])
    reporter: Reporter | None = None
    category_hint: str | None = Field(None, max_length=128, examples=["infrastruktur"])
    location: str | None = Field(None, max_length=500, examples=["Jl. Diponegoro 12, Ungaran, Kab. Semarang"])

    @field_validator("text", "category_hint", "location")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return clean_text(v)


class Submission(BaseModel):
    ticket: str = Field(..., examples=["261128-0200-1"], description="The ticket number, YYMMDD-NNNN-S.")
    status: str
    kind: str = Field(..., description="complaint, or spam when it reads as promotion or fraud")
    channel: str
    created: bool = Field(..., description="false when an Idempotency-Key repeated an earlier request")
