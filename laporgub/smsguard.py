"""What the centre may send by SMS, to whom, and how much: the guard against SMS pumping.

Anyone can make the service send an SMS: a web form with a reporter's number, an
SMS with a forged sender, a status query. Left alone, that is a paid SMS relay
to any number at modem speed. Every outbound SMS passes :meth:`SmsGuard.check`
just before its modem sends it (the one place all of them pass, whoever queued
them), and is refused (marked ``failed``, never sent) when:

* ``not_mobile``: the destination is not an Indonesian mobile number
  (:func:`laporgub.tickets.is_indonesian_mobile`: ``+628...`` of a valid length
  in a mobile range; no landlines, no foreign numbers, no junk like ``+0000000000``);
* ``number_cap``: ``[sms] max_per_number_per_day`` SMS went to that number in
  the last 24 hours;
* ``daily_cap``: ``[sms] max_per_day`` SMS went out in total in the last 24 hours.

Each refusal is logged (masked number), counted in
``laporgub_outbound_sms_refused_total{reason}``, and the admin chat is told once
per reason and day (a durable marker in ``telegram_state``, so restarts and other
instances do not repeat it). A text longer than ``[sms] max_parts`` parts is cut
to that many before it is sent. Plain class over the database; the modem actor
calls it in its own thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

import peewee

from laporgub import db, pdu
from laporgub.clock import SYSTEM, Clock
from laporgub.masking import mask_msisdn
from laporgub.render import wording
from laporgub.tickets import is_indonesian_mobile
from laporgub.types import SMS_REFUSE_REASONS

if TYPE_CHECKING:  # for the annotations only: the app hands these in, nothing to import at run time
    from laporgub.config import SmsConfig
    from laporgub.metrics import Metrics
    from laporgub.outbox import Alerts

logger = logging.getLogger(__name__)

#: Why an SMS was refused (the metric's label values).
REASONS = SMS_REFUSE_REASONS
DAY = 86400.0


def reply_text(render: Callable[[str], str], response: str, parts: int, ticket: str, centre: str) -> str:
    """A PIC's reply as an SMS of at most ``parts`` parts: cut, and the rest pointed to the status command.

    ``render`` puts the response into its template (``[texts] response_sms``); only the response shrinks.
    """
    return pdu.fit_parts(response, parts, wording("sms.more", ticket=ticket, centre_number=centre), render)


class SmsGuard:
    """Decides, per outbound SMS, whether it may go (see the module docstring).

    Args:
        sms_config: returns the current ``[sms]`` settings (a reload applies to the next SMS).
        alerts: the admin chat (``Alerts.send``), or None.
        metrics: ``laporgub.metrics.Metrics``, or None.
        clock: wall time for the 24-hour windows.
    """

    def __init__(self, sms_config: Callable[[], SmsConfig], alerts: Alerts | None = None,
                 metrics: Metrics | None = None, clock: Clock = SYSTEM, tz: tzinfo | None = None) -> None:
        self.sms_config = sms_config
        self.alerts = alerts
        self.metrics = metrics
        self.clock = clock
        self.tz = tz

    def check(self, sms_id: int, destination: str) -> str | None:
        """None when the SMS may go now; else the reason it is refused. Needs a connection in this thread."""
        if not is_indonesian_mobile(destination):
            return "not_mobile"
        limits = self.sms_config()
        since = self.clock.time() - DAY
        o = db.OutboundSms
        gone = ((o.status == "sent") & (o.sent_at >= since)) | ((o.status == "sending") & (o.id != sms_id))
        to_number = o.select(peewee.fn.COUNT(o.id)).where(gone & (o.destination == destination)).scalar() or 0
        if to_number >= limits.max_per_number_per_day:
            return "number_cap"
        total = o.select(peewee.fn.COUNT(o.id)).where(gone).scalar() or 0
        if total >= limits.max_per_day:
            return "daily_cap"
        return None

    def fit(self, text: str) -> str:
        """``text`` cut to ``[sms] max_parts`` parts (with ``...``) when longer."""
        return pdu.fit_parts(text, self.sms_config().max_parts)

    def refuse(self, sms_id: int, destination: str, reason: str, *, ticket: str | None = None,
               purpose: str = "", modem: str = "") -> None:
        """Mark the SMS refused (failed, never sent), log and count it, and tell the admins once a day."""
        limits = self.sms_config()
        limit = limits.max_per_number_per_day if reason == "number_cap" else limits.max_per_day
        db.OutboundSms.update(status="failed", claimed_by=None, claimed_at=None,
                              last_error=f"refused: {reason}"[:500]).where(db.OutboundSms.id == sms_id).execute()
        if self.metrics is not None:
            self.metrics.outbound_sms_refused.labels(reason=reason).inc()
        logger.warning("event=sms_refused reason=%s modem=%s ticket=%s to=%s purpose=%s limit=%s", reason,
                       modem or "-", ticket or "-", mask_msisdn(destination), purpose or "-",
                       "-" if reason == "not_mobile" else limit)
        if self.alerts is not None and self._first_today(reason):
            self.alerts.send(wording(f"admin.sms_{reason}", to=mask_msisdn(destination), limit=limit))

    def _first_today(self, reason: str) -> bool:
        """Whether this is the first refusal for ``reason`` today (service time zone); marks it durably."""
        now = self.clock.time()
        day = datetime.fromtimestamp(now, self.tz).date().isoformat()
        try:
            with db.database.atomic():
                db.TelegramState.create(key=f"sms_refused:{reason}:{day}", value="alerted", updated_at=now)
        except peewee.IntegrityError:
            return False
        return True
