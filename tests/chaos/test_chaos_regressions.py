"""Faults the chaos suite found, pinned down in-process (fast, no timing assumptions beyond generous waits)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from laporgub import db
from laporgub.intake import Intake
from tests.conftest import wait_until


def test_register_stage_starts_when_the_modem_first_reported_the_sms(
    modem: Any, botapi: Any, make_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that fails (database locked, disk full) leaves the SMS on the modem and the next sweep offers
    it again; the register stage must still start at the first +CMTI, or the SLA metric hides the outage."""
    real = Intake.store_sms
    failures = {"left": 3}

    def failing(self: Intake, modem_name: str, pdu_hex: str, reported_at: float) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(27, "File too large (injected)")
        return real(self, modem_name, pdu_hex, reported_at)

    monkeypatch.setattr(Intake, "store_sms", failing)
    make_service([modem], botapi, sweep=0.5)
    before = time.time()
    modem.receive_sms("+6281299900001", "Jalan rusak berlubang di depan sekolah, mohon diperbaiki")

    def ticket() -> Any:
        with db.database.connection_context():
            return db.Ticket.get_or_none(db.Ticket.sender == "+6281299900001")

    assert wait_until(lambda: ticket() is not None, timeout=30)
    assert modem.wait_for(lambda m: not m.stored, timeout=15)
    t = ticket()
    assert failures["left"] == 0
    assert before - 0.5 <= t.received_at <= before + 2.0  # the first report, not the last sweep's
    assert t.registered_at - t.received_at >= 0.5  # three failed offers, half a second apart at least
