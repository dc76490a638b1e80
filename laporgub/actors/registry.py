"""TicketRegistry: commits every inbound SMS and registers tickets."""

from __future__ import annotations

import logging

from laporgub import actor_names
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.clock import SYSTEM, Clock
from laporgub.intake import Intake, StoreResult
from laporgub.messages import (
    NotificationsQueued,
    OutboundQueued,
    SmsNotStored,
    SmsReceived,
    SmsStored,
    Tick,
    TicketRegistered,
)
from laporgub.metrics import Metrics
from laporgub.outbox import ADMIN

logger = logging.getLogger(__name__)

#: How often, at most, incomplete multipart SMS are checked against their wait.
FLUSH_INTERVAL = 15.0


class TicketRegistry(LaporgubActor):
    """Stores each SMS and its ticket in one transaction, then confirms to the modem.

    Runs in its own thread; its database connection belongs to that thread.
    After the commit it ``tell``s the modem reader (delete the SMS), the keyword
    filter (route the ticket), the modems (outbound SMS queued) and the admin
    dispatcher (operator messages).
    """

    actor_name = actor_names.REGISTRY
    uses_database = True

    def __init__(self, *, intake: Intake, metrics: Metrics, directory: Directory, scheduler: Scheduler,
                 clock: Clock = SYSTEM) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.intake = intake
        self.metrics = metrics
        self.flush_interval = min(FLUSH_INTERVAL, max(0.2, intake.config.intake.concat_wait_minutes * 60 / 4))

    def on_start(self) -> None:
        super().on_start()
        self.schedule(self.flush_interval, Tick("flush"))

    @handles(Tick)
    def _on_tick(self, message: Tick) -> None:
        self._flush()
        self.schedule(self.flush_interval, Tick("flush"))

    def set_intake(self, intake: Intake) -> None:
        """Swap the compiled rules and templates (config reload)."""
        self.intake = intake

    @handles(SmsReceived)
    def _store(self, message: SmsReceived) -> None:
        reply_to = actor_names.modem(message.modem)
        try:
            result = self.intake.store_sms(message.modem, message.pdu, message.reported_at)
        except Exception as exc:  # the SMS stays on the modem; the next sweep offers it again
            logger.exception("event=sms_store_failed modem=%s index=%s", message.modem, message.index)
            self.directory.tell(reply_to, SmsNotStored(message.index, message.pdu, f"{type(exc).__name__}: {exc}"))
            return
        self.directory.tell(reply_to, SmsStored(message.index, message.pdu, result.inbound_id))
        if result.duplicate:
            logger.info("event=sms_duplicate modem=%s index=%s inbound=%s", message.modem, message.index,
                        result.inbound_id)
            return
        self._after_commit(message.modem, result)

    def _after_commit(self, modem: str, result: StoreResult) -> None:
        if result.kind is not None:
            # A follow-up (flood control) is a complaint that joined an open ticket.
            # So is a citizen's answer to a PIC (laporgub/conversations.py), counted on its own as well.
            kind = "complaint" if result.kind in ("followup", "answer") else result.kind
            self.metrics.sms_received.labels(modem=result.modem or modem, kind=kind).inc()
        if result.kind == "answer":
            self.metrics.citizen_answers.inc()
            if result.answer_seconds is not None:
                self.metrics.citizen_answer_seconds.observe(result.answer_seconds)
        if result.ticket_id is not None:
            # A new ticket: intake sets its number and both times with its id.
            assert result.ticket_number is not None
            assert result.registered_at is not None and result.received_at is not None
            self.metrics.observe_stage("register", result.registered_at - result.received_at)
            self.directory.tell(actor_names.FILTER, TicketRegistered(result.ticket_id, result.ticket_number))
        if result.outbound_queued:
            for name in self.directory.names(actor_names.MODEM_PREFIX):
                self.directory.tell(name, OutboundQueued())
        for dest in result.followup_destinations:
            self.directory.tell(actor_names.dispatcher(dest), NotificationsQueued(dest))
        if result.admin_queued:
            self.directory.tell(actor_names.dispatcher(ADMIN), NotificationsQueued(ADMIN))

    def _flush(self) -> None:
        try:
            results = self.intake.flush_incomplete(self.clock.time())
        except Exception:
            logger.exception("event=flush_incomplete_failed")
            return
        for result in results:
            self._after_commit("-", result)
