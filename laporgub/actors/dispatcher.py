"""GroupDispatcher: one per Telegram destination, sends its outbox rows, paced and coalesced."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import telegram.error

from laporgub import actor_names, db, incidents
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.clock import SYSTEM, Clock
from laporgub.leases import LeaseKeeper
from laporgub.messages import NotificationsQueued, Tick
from laporgub.metrics import Metrics
from laporgub.outbox import (
    ADMIN,
    INCIDENT_ROOM,
    Alerts,
    PendingNotification,
    claim_notifications,
    mark_failed,
    mark_retry,
    mark_sent,
    release_destination,
    release_notifications,
    ticket_notifications_complete,
)
from laporgub.render import TELEGRAM_MAX, Renderer, coalesce, wording
from laporgub.telegram_gateway import TelegramGateway, Throttled, retry_after_seconds

logger = logging.getLogger(__name__)

#: Safety net: pending rows are looked for this often even without a nudge.
SWEEP_INTERVAL = 5.0
#: On PostgreSQL other instances write rows too and cannot nudge this actor: look more often.
SHARED_SWEEP_INTERVAL = 1.0
#: Notifications the SOP's notify/deliver limits apply to (follow-ups are held back on
#: purpose, alerts and operator messages are not complaints).
SLA_KINDS = frozenset({"ticket", "spam"})
#: A row that Telegram rejects as malformed this many times is given up (our bug, logged).
MAX_BAD_REQUESTS = 3
#: Telegram's answers to an edit of a message that is gone or not ours to edit: the incident gets its own message.
EDIT_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")


class GroupDispatcher(LaporgubActor):
    """Sends the pending notifications of one destination chat through the gateway.

    Runs in its own thread and blocks only for one Bot API request at a time
    (bounded by the request timeout), so one slow or failing group never holds
    up another. Pacing: at most one message per ``interval`` seconds into the
    chat (Telegram's group limit is a sliding window); when several rows wait,
    they are combined into one message of at most 4096 characters.

    Several instances on one database: only the holder of the lease
    ``dispatch:<destination>`` sends to the chat (so Telegram's per-group pacing holds
    across instances), and each row is claimed before it is sent (leases.py, outbox.py).
    A non-holder looks again every third of the lease time and takes over when it expires.
    """

    uses_database = True

    def __init__(
        self, *, destination: str, chat_id: int, interval: float, gateway: TelegramGateway, renderer: Renderer,
        alerts: Alerts, metrics: Metrics, directory: Directory, scheduler: Scheduler, clock: Clock = SYSTEM,
    ) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.actor_name = actor_names.dispatcher(destination)
        self.destination = destination
        self.chat_id = chat_id
        self.interval = interval
        self.gateway = gateway
        self.renderer = renderer
        self.alerts = alerts
        self.metrics = metrics
        self.clock = clock
        self._next_send = 0.0  # monotonic: nothing goes to this chat before it
        self._wake_at: float | None = None
        self._failures = 0
        self._alerted = False
        self._singles = False  # after a BadRequest on a combined message, send rows one by one
        self.lease = LeaseKeeper(f"dispatch:{destination}", clock=clock)
        #: message id -> the text it shows (what this actor sent or edited last): an edit to the same text
        #: is not requested (Telegram would answer "message is not modified" and count the request).
        self._shown: dict[int, str] = {}
        self._holding = False
        self.sweep_interval = SWEEP_INTERVAL

    def on_start(self) -> None:
        super().on_start()
        self.sweep_interval = SWEEP_INTERVAL if db.is_sqlite() else SHARED_SWEEP_INTERVAL
        self.actor_ref.tell(Tick("start"))

    def release(self) -> None:
        if self._holding:  # a clean stop hands the chat and its claimed rows to another instance at once
            self._give_up()
            self.lease.release()

    def _give_up(self) -> None:
        """Unclaim what this instance claimed for the chat but did not send (throttled, stopping)."""
        self._holding = False
        try:
            release_destination(self.destination)
        except Exception as exc:
            logger.warning("event=outbox_release_failed destination=%s error=%s", self.destination, exc)

    def set_renderer(self, renderer: Renderer, chat_id: int, interval: float) -> None:
        """Apply a reloaded config to the next message."""
        self.renderer, self.chat_id, self.interval = renderer, chat_id, interval

    def on_receive(self, message: Any) -> Any:
        super().on_receive(message)
        # Between pumps (and during the Bot API request) the connection is back in the pool:
        # a province's 14 dispatchers share a few connections instead of holding 14.
        db.release_connection()

    @handles(Tick)
    def _on_tick(self, message: Tick) -> None:
        if message.reason == "wake":
            self._wake_at = None
        self._pump()

    @handles(NotificationsQueued)
    def _on_queued(self, message: NotificationsQueued) -> None:
        self._pump()

    # -- sending ---------------------------------------------------------------

    def _wake(self, at: float) -> None:
        """Schedule one wake-up at monotonic time ``at`` (keeps the earliest)."""
        if self._wake_at is not None and self._wake_at <= at:
            return
        self._wake_at = at
        self.schedule(at - self.clock.monotonic(), Tick("wake"))

    def _pump(self) -> None:
        mono = self.clock.monotonic()
        if not self.lease.held():  # another instance sends to this chat
            if self._holding:
                self._give_up()
            self._wake(mono + self.lease.retry_in)
            return
        self._holding = True
        if mono < self._next_send:
            # Waiting (pacing, retry_after): wake in time to renew the lease meanwhile.
            self._wake(min(self._next_send, mono + self.lease.retry_in))
            return
        try:
            rows = claim_notifications(self.destination, self.renderer, self.clock.time())
        except Exception:
            logger.exception("event=outbox_read_failed destination=%s", self.destination)
            self._wake(mono + self.sweep_interval)
            return
        if not rows:
            self._wake(mono + self.sweep_interval)
            return
        edits = [r for r in rows if r.edit is not None]
        if len(edits) == len(rows):
            # Edits of incidents' messages go only when no notification waits: those have the SLA.
            try:
                release_notifications([r.id for r in edits[1:]])
            except Exception:
                logger.exception("event=outbox_release_failed destination=%s", self.destination)
            db.release_connection()
            self._edit(edits[0])
            self._wake(max(self._next_send, self.clock.monotonic()))
            return
        rows = [r for r in rows if r.edit is None]
        try:
            release_notifications([r.id for r in edits])
        except Exception:
            logger.exception("event=outbox_release_failed destination=%s", self.destination)
        batch, text = self._take(rows)
        taken = {r.id for r in batch}
        try:
            release_notifications([r.id for r in rows if r.id not in taken])
        except Exception:
            logger.exception("event=outbox_release_failed destination=%s", self.destination)
        db.release_connection()  # not held while Telegram answers
        self._send(batch, text)
        self._wake(max(self._next_send, self.clock.monotonic()))

    def _take(self, rows: list[PendingNotification]) -> tuple[list[PendingNotification], list[str]]:
        """The rows the next request carries, and its text(s)."""
        first = rows[0]
        if len(first.messages) > 1 or self._singles or first.reply_to is not None:
            return [first], list(first.messages)
        run: list[PendingNotification] = []
        for r in rows:  # consecutive single-message rows only, to keep the order
            if len(r.messages) != 1 or r.reply_to is not None:  # a reply (a citizen's answer) goes alone
                break
            run.append(r)
        if len(run) == 1:
            return run, [run[0].messages[0]]
        # Several tickets wait: one message with a compact entry each keeps the chat within
        # Telegram's 20 messages a minute and every ticket within the notify SLA.
        entries = [r.compact or r.messages[0] for r in run]
        config = self.renderer.config
        # A message in a category group may become an incident's and grow when edited: keep room.
        room = INCIDENT_ROOM if config.incidents.enabled and self.destination != "channel" else 0
        count, text = coalesce(entries, config.telegram.parse_mode, limit=TELEGRAM_MAX - room, separator="\n\n",
                               header=self.renderer.batch_header("{n}"))[0]
        return run[:count], [text]

    def _send(self, batch: list[PendingNotification], texts: list[str]) -> None:
        ids = [r.id for r in batch]
        tickets = ",".join(r.ticket or r.incident or "-" for r in batch)
        sent_at = self.clock.time()
        try:
            sent = None
            for i, text in enumerate(texts):
                self.metrics.telegram_requests.labels(group=self.destination).inc()
                # The parts of one split SMS go together: wait for their slots rather than resend part 1.
                sent = self.gateway.send_message(self.chat_id, text, self.renderer.parse_mode,
                                                 reply_to_message_id=batch[0].reply_to if i == 0 else None,
                                                 wait=0.0 if i == 0 else self.interval + 65.0)
            acked_at = self.clock.time()
        except Throttled as exc:
            # Another sender used this chat's slots (answers, alerts): no error, just later.
            self._next_send = self.clock.monotonic() + exc.retry_in
            return
        except telegram.error.RetryAfter as exc:
            wait = retry_after_seconds(exc)
            self._next_send = self.clock.monotonic() + wait
            self._error("retry_after", ids, self.clock.time() + wait, f"retry_after {wait:g}s", tickets)
            return
        except telegram.error.Forbidden as exc:
            self._outage(ids, tickets, f"Forbidden: {exc.message}")
            return
        except telegram.error.ChatMigrated as exc:
            logger.error("event=chat_migrated destination=%s old_chat=%s new_chat=%s action=update_config",
                         self.destination, self.chat_id, exc.new_chat_id)
            self.chat_id = exc.new_chat_id
            self._alert(wording("admin.chat_migrated", destination=self.destination, chat_id=exc.new_chat_id))
            return
        except telegram.error.BadRequest as exc:
            if "chat not found" in exc.message.lower():
                self._outage(ids, tickets, f"BadRequest: {exc.message}")
            else:
                self._bad_request(batch, tickets, exc)
            return
        except telegram.error.TimedOut as exc:
            self._backoff("timed_out", ids, tickets, f"TimedOut: {exc.message}")
            return
        except telegram.error.NetworkError as exc:
            self._backoff("network", ids, tickets, f"NetworkError: {exc.message}")
            return
        except telegram.error.TelegramError as exc:
            self._backoff("other", ids, tickets, f"{type(exc).__name__}: {exc.message}")
            return
        mark_sent(ids, sent_at, acked_at, sent.message_id if sent else 0)
        if sent is not None and len(texts) == 1:
            self._remember(sent.message_id, texts[0])
        self._next_send = self.clock.monotonic() + self.interval * len(texts)
        self._failures = 0
        self._singles = False
        if self._alerted:
            self._alerted = False
            logger.info("event=telegram_recovered destination=%s", self.destination)
        self.metrics.notifications_sent.labels(group=self.destination).inc(len(ids))
        for r in batch:
            if r.kind in SLA_KINDS:
                self.metrics.observe_group_stage("notify", self.destination, sent_at - r.queued_at)
                self.metrics.observe_group_stage("deliver", self.destination, acked_at - sent_at)
        self._observe_end_to_end([r.id for r in batch if r.kind in SLA_KINDS], acked_at)
        logger.info(
            "event=notification_sent destination=%s tickets=%s rows=%s message_id=%s deliver_seconds=%.3f",
            self.destination, tickets, len(ids), sent.message_id if sent else "-", acked_at - sent_at,
        )

    def _edit(self, row: PendingNotification) -> None:
        """Rewrite an incident's message(s) in this chat (editMessageText), within the shared flood limits."""
        plan = row.edit
        assert plan is not None
        now = self.clock.time()
        if plan.fallback:
            self._own_message(row, "cannot carry the incident")
            return
        for message_id, text in plan.targets:
            if self._shown.get(message_id) == text:
                continue  # it shows this already (a combined message rewritten for another incident)
            try:
                self.metrics.incident_edits.labels(group=self.destination).inc()
                self.gateway.edit_message_text(self.chat_id, message_id, text, self.renderer.parse_mode)
            except Throttled as exc:
                self._next_send = self.clock.monotonic() + exc.retry_in
                mark_retry([row.id], now + exc.retry_in, "throttled")
                return
            except telegram.error.RetryAfter as exc:
                wait = retry_after_seconds(exc)
                self._next_send = self.clock.monotonic() + wait
                self._error("retry_after", [row.id], now + wait, f"retry_after {wait:g}s", row.incident or "-")
                return
            except telegram.error.BadRequest as exc:
                message = exc.message.lower()
                if "message is not modified" in message:
                    self._next_send = self.clock.monotonic() + self.interval
                    self._remember(message_id, text)
                    continue  # it shows this already
                if any(gone in message for gone in EDIT_GONE):
                    self._own_message(row, exc.message)
                    return
                self.metrics.telegram_errors.labels(group=self.destination, error="bad_request").inc()
                logger.error("event=telegram_bad_request destination=%s incident=%s detail=%s bug=true",
                             self.destination, row.incident, exc.message)
                if row.attempts + 1 >= MAX_BAD_REQUESTS:
                    mark_failed([row.id], f"BadRequest: {exc.message}")
                else:
                    mark_retry([row.id], now + 30.0, f"BadRequest: {exc.message}")
                return
            except telegram.error.Forbidden as exc:
                self._outage([row.id], row.incident or "-", f"Forbidden: {exc.message}")
                return
            except telegram.error.TimedOut as exc:
                self._backoff("timed_out", [row.id], row.incident or "-", f"TimedOut: {exc.message}")
                return
            except telegram.error.TelegramError as exc:
                self._backoff("network", [row.id], row.incident or "-", f"{type(exc).__name__}: {exc.message}")
                return
            self._next_send = self.clock.monotonic() + self.interval
            self._remember(message_id, text)
        mark_sent([row.id], now, self.clock.time(), 0)  # no message of its own (metrics count messages by id)
        self._failures = 0
        logger.info("event=incident_edited destination=%s incident=%s messages=%s", self.destination, row.incident,
                    ",".join(str(m) for m, _ in plan.targets) or "-")

    def _remember(self, message_id: int, text: str) -> None:
        if len(self._shown) >= 1000:
            self._shown.pop(next(iter(self._shown)))
        self._shown[message_id] = text

    def _own_message(self, row: PendingNotification, why: str) -> None:
        """The incident's message here cannot be edited: post the incident's own message (once)."""
        now = self.clock.time()
        try:
            with db.database.atomic():
                incident_id = db.Notification.get_by_id(row.id).incident_id
                assert incident_id is not None  # an edit row belongs to its incident
                queued = incidents.own_message(incident_id, self.destination, self.chat_id, now)
                mark_sent([row.id], now, now, 0)
        except Exception:
            logger.exception("event=incident_message_failed destination=%s incident=%s", self.destination,
                             row.incident)
            mark_retry([row.id], now + 30.0, "own message not queued")
            return
        logger.warning("event=incident_own_message destination=%s incident=%s queued=%s reason=%s",
                       self.destination, row.incident, queued, why)

    def _observe_end_to_end(self, ids: list[int], acked_at: float) -> None:
        """Tickets whose last notification this was: receipt -> last group acknowledged."""
        if not ids:
            return
        try:
            for _ticket, received_at in ticket_notifications_complete(ids, acked_at):
                self.metrics.end_to_end.observe(max(0.0, acked_at - received_at))
        except Exception:
            logger.exception("event=end_to_end_metric_failed destination=%s", self.destination)

    # -- failures ----------------------------------------------------------------

    def _error(self, kind: str, ids: list[int], next_at: float, error: str, tickets: str) -> None:
        self.metrics.telegram_errors.labels(group=self.destination, error=kind).inc()
        logger.warning("event=telegram_error destination=%s error=%s tickets=%s detail=%s",
                       self.destination, kind, tickets, error)
        try:
            mark_retry(ids, next_at, error)
        except Exception:
            logger.exception("event=outbox_update_failed destination=%s", self.destination)

    def _backoff(self, kind: str, ids: list[int], tickets: str, error: str) -> None:
        self._failures += 1
        delay = min(60.0, 1.0 * 2 ** (self._failures - 1))
        self._next_send = self.clock.monotonic() + delay
        self._error(kind, ids, self.clock.time() + delay, error, tickets)

    def _outage(self, ids: list[int], tickets: str, error: str) -> None:
        """The bot was removed from the chat: keep the rows, tell the admins once, try again slowly."""
        self._failures += 1
        self._next_send = self.clock.monotonic() + 60.0
        self._error("forbidden", ids, self.clock.time() + 60.0, error, tickets)
        if not self._alerted:
            self._alerted = True
            self._alert(wording("admin.chat_unreachable", destination=self.destination, chat_id=self.chat_id,
                                error=error))

    def _alert(self, text: str) -> None:
        if self.destination == ADMIN:
            logger.error("event=admin_chat_unreachable detail=%s", text)
            return
        self.alerts.send(text)

    def _bad_request(self, batch: list[PendingNotification], tickets: str, exc: telegram.error.BadRequest) -> None:
        self.metrics.telegram_errors.labels(group=self.destination, error="bad_request").inc()
        logger.error("event=telegram_bad_request destination=%s tickets=%s detail=%s bug=true",
                     self.destination, tickets, exc.message)
        ids = [r.id for r in batch]
        if len(batch) > 1:
            self._singles = True  # find the one row Telegram objects to
            mark_retry(ids, self.clock.time(), f"BadRequest: {exc.message}")
            return
        row = batch[0]
        if "parse entities" in exc.message.lower() and self.renderer.html:
            # Our markup is broken for this row: deliver it as plain text rather than not at all.
            try:
                plain = [html.unescape(re.sub(r"</?[a-zA-Z][^<>]*>", "", m)) for m in row.messages]
                sent_at = self.clock.time()
                sent = None
                for text in plain:
                    sent = self.gateway.send_message(self.chat_id, text, None, wait=self.interval + 65.0)
                mark_sent(ids, sent_at, self.clock.time(), sent.message_id if sent else 0)
                return
            except Throttled:
                mark_retry(ids, self.clock.time() + self.interval, "throttled")
                return
            except telegram.error.TelegramError as second:
                exc = second  # type: ignore[assignment]
        if row.attempts + 1 >= MAX_BAD_REQUESTS:
            mark_failed(ids, f"BadRequest: {exc.message}")
            logger.error("event=notification_failed destination=%s ticket=%s detail=%s",
                         self.destination, row.ticket or "-", exc.message)
        else:
            mark_retry(ids, self.clock.time() + 30.0, f"BadRequest: {exc.message}")
