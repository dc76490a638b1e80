"""Responder: PICs' replies and commands from Telegram (getUpdates long polling through the gateway)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import peewee
import pykka
import telegram
import telegram.error

from laporgub import actor_names, db
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.clock import SYSTEM, Clock
from laporgub.commands import COMMANDS
from laporgub.config import Config
from laporgub.leases import LeaseKeeper, claim_rows, instance_id
from laporgub.messages import NotificationsQueued, OutboundQueued, Tick
from laporgub.render import wording
from laporgub.responses import (
    OFFSET_KEY,
    OFFSET_MAX_AGE_SECONDS,
    IncomingMessage,
    Outcome,
    PendingReply,
    ResponseDesk,
    load_offset,
    next_reply_due,
    reply_failed,
    reply_retry,
    reply_sent,
    save_offset,
)
from laporgub.telegram_gateway import TelegramGateway, Throttled, retry_after_seconds

logger = logging.getLogger(__name__)

#: getUpdates long-poll timeout: Telegram answers at once when updates wait, else after this.
POLL_TIMEOUT = 10.0
#: Only messages: replies and commands (edits, reactions and the rest are not asked for).
ALLOWED_UPDATES = ["message"]
#: How long an answer waits for a flood-limit slot before it is put back.
REPLY_WAIT = 2.0
#: A Bot API error on an answer this many times gives it up (logged).
MAX_REPLY_ATTEMPTS = 8
#: A message whose handling fails on the database this many times in a row is skipped.
MAX_DB_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Polled:
    """Gateway loop -> Responder: a getUpdates call finished (updates as snapshots, or the error)."""

    generation: int
    messages: tuple[IncomingMessage, ...] = ()
    error: str | None = None


def snapshot(update: telegram.Update) -> IncomingMessage:
    """A PTB ``Update`` as a frozen :class:`IncomingMessage` (text or caption; None for other content)."""
    m = update.message
    if m is None:
        return IncomingMessage(update_id=update.update_id, chat_id=0, chat_type="none", message_id=0, user_id=None,
                               user_name="", text=None)
    user = m.from_user
    replied = m.reply_to_message
    return IncomingMessage(
        update_id=update.update_id,
        chat_id=m.chat.id,
        chat_type=str(getattr(m.chat.type, "value", m.chat.type)),
        message_id=m.message_id,
        user_id=user.id if user else None,
        user_name=user.full_name if user else "",
        text=m.text if m.text is not None else m.caption,
        reply_to_message_id=replied.message_id if replied else None,
        reply_to_bot=bool(replied and replied.from_user and replied.from_user.is_bot),
    )


class Responder(LaporgubActor):
    """Receives PICs' replies and commands, acts on them, and answers in the chat.

    Runs in its own thread but never blocks on the long poll: the getUpdates call
    runs as a task on the gateway's event loop and reports back with a
    :class:`Polled` message, so ``ping`` and ``stop`` get through at once.
    Each update is handled in one transaction together with the next offset
    (``TelegramState``), so a restart neither loses nor replays one; the next
    getUpdates confirms it to Telegram. Answers go through the ``ChatReply``
    outbox and are sent from here, as replies to the PIC's message, within the
    gateway's flood limits.

    Several instances on one database: only the holder of the lease ``getupdates``
    polls (the Bot API allows one consumer) and sends the answers; the others look
    every third of the lease time and take over, from the stored offset, once it
    expired. An update is handled only if the stored offset has not passed it (the
    offset row is locked in the update's transaction), so an update is handled once
    even when two instances overlap at a takeover.

    Args:
        poll_timeout: getUpdates long-poll seconds (at most 10 keeps stops and restarts quick).
    """

    actor_name = actor_names.RESPONDER
    uses_database = True

    def __init__(self, *, config: Config, gateway: TelegramGateway, directory: Directory, scheduler: Scheduler,
                 poll_timeout: float = POLL_TIMEOUT, clock: Clock = SYSTEM) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.lease = LeaseKeeper("getupdates", clock=clock)
        self._leader = False
        self.gateway = gateway
        self.desk = ResponseDesk(config, gateway.username)
        self.poll_timeout = poll_timeout
        self.request_timeout = config.telegram.request_timeout_seconds
        self._offset: int | None = None
        self._offset_at = 0.0  # when the offset last moved (epoch seconds)
        self._generation = 0
        self._task: asyncio.Task[Any] | None = None
        self._polling = False
        self._failures = 0
        self._db_retries = (0, 0)  # (update_id, failures)
        self._commands_set = False
        self._commands_next_try = 0.0
        self._reply_wake_at: float | None = None

    # -- lifecycle -----------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        try:
            self._offset = load_offset(self.clock.time())
        except Exception:
            self._release_all()  # pykka runs neither on_stop nor on_failure after a failed on_start
            raise
        self._offset_at = self.clock.time()
        logger.info("event=responder_started offset=%s", self._offset)
        self.actor_ref.tell(Tick("replies"))  # answers a crash left unsent
        self.actor_ref.tell(Tick("poll"))

    def release(self) -> None:
        try:
            if not db.database.is_closed():
                self.lease.release()
        except Exception:
            logger.exception("event=lease_release_failed lease=getupdates")
        self._generation += 1  # a poll still running reports to nobody
        task, self._task, self._polling = self._task, None, False
        if task is not None and not task.done():
            try:
                task.get_loop().call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # the gateway loop is gone already

    def set_config(self, config: Config) -> None:
        """Apply a reloaded config (PICs, groups, texts) to the next message (runs in the actor's thread)."""
        self.desk.set_config(config)

    @handles(Polled)
    def _on_polled(self, message: Polled) -> None:
        self._polled(message)

    @handles(Tick)
    def _on_tick(self, message: Tick) -> None:
        if message.reason == "replies":
            self._reply_wake_at = None
            self._flush_replies()
        elif message.reason.startswith("watchdog "):
            self._watchdog(int(message.reason.split()[1]))
        else:
            self._poll()

    # -- polling ---------------------------------------------------------------

    def _poll(self) -> None:
        if self._polling:
            return
        if not self._lead():
            self.schedule(self.lease.retry_in, Tick("poll"))
            return
        self._set_commands()
        self._generation += 1
        generation = self._generation
        ref = self.actor_ref
        # The Bot API takes whole seconds; a poll ends well before the lease needs renewing.
        offset = self._current_offset()
        timeout = max(0, int(min(self.poll_timeout, self.lease.seconds / 2)))
        # A task on the gateway loop: the actor thread returns to its inbox at once.
        bound = timeout + self.request_timeout + 15.0
        try:
            self._task = self.gateway.start_polling(
                offset=offset, timeout=timeout, allowed_updates=list(ALLOWED_UPDATES), bound=bound,
                done=lambda t: _report(ref, generation, t))
        except Exception as exc:
            self._poll_failed(f"{type(exc).__name__}: {exc}")
            return
        self._polling = True
        self.schedule(bound + 5.0, Tick(f"watchdog {generation}"))

    def _lead(self) -> bool:
        """Hold (renew) the ``getupdates`` lease; on taking it over, continue from the stored offset."""
        held = self.lease.held(renew=True)
        if held and not self._leader:
            try:
                self._offset = load_offset(self.clock.time())
            except Exception as exc:
                logger.warning("event=offset_load_failed error=%s", exc)
                return False
            self._offset_at = self.clock.time()
            logger.info("event=getupdates_leader offset=%s", self._offset)
            self.actor_ref.tell(Tick("replies"))
        self._leader = held
        return held

    def _current_offset(self) -> int | None:
        """The offset to poll with; None once it is older than Telegram keeps updates.

        Every update handled was confirmed by the poll after it, so nothing replays; and
        after a week without updates Telegram may number the next one below an old offset.
        """
        if self._offset is not None and self.clock.time() - self._offset_at > OFFSET_MAX_AGE_SECONDS:
            self._offset = None
        return self._offset

    def _watchdog(self, generation: int) -> None:
        if self._polling and generation == self._generation:
            logger.error("event=telegram_poll_stuck generation=%s action=repoll", generation)
            self._polling = False
            self._poll()

    def _poll_failed(self, error: str) -> None:
        self._polling = False
        self._failures += 1
        delay = min(30.0, 0.5 * 2 ** min(self._failures - 1, 8))
        level = logging.INFO if self._failures == 1 else logging.WARNING
        logger.log(level, "event=telegram_poll_failed failures=%s retry_seconds=%.1f error=%s",
                   self._failures, delay, error[:300])
        self.schedule(delay, Tick("poll"))

    def _polled(self, message: Polled) -> None:
        if message.generation != self._generation:
            return  # a poll this actor gave up on
        self._polling = False
        self._task = None
        if message.error is not None:
            self._poll_failed(message.error)
            return
        self._failures = 0
        for incoming in message.messages:
            offset = self._current_offset()
            if offset is not None and incoming.update_id < offset:
                logger.info("event=update_skipped update_id=%s reason=handled_before", incoming.update_id)
                continue
            if not self._handle(incoming):
                self._flush_replies()
                self.schedule(min(30.0, 1.0 * 2 ** self._db_retries[1]), Tick("poll"))
                return
        self._flush_replies()
        self.actor_ref.tell(Tick("poll"))

    def _handle(self, incoming: IncomingMessage) -> bool:
        """Handle one update and store the offset after it, together; False: database trouble, retry later."""
        now = self.clock.time()
        try:
            with db.database.atomic():
                if not _unhandled(incoming.update_id, now):
                    logger.info("event=update_skipped update_id=%s reason=handled_by_another_instance",
                                incoming.update_id)
                    outcome = Outcome("ignored")
                else:
                    outcome = self.desk.handle(incoming, now)
                    save_offset(incoming.update_id + 1, now)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            last, count = self._db_retries
            count = count + 1 if last == incoming.update_id else 1
            self._db_retries = (incoming.update_id, count)
            if count < MAX_DB_RETRIES:
                logger.warning("event=update_deferred update_id=%s error=%s", incoming.update_id, exc)
                return False
            logger.error("event=update_dropped update_id=%s error=%s", incoming.update_id, exc)
            return self._skip(incoming, now)
        except Exception:
            # A bug must not wedge the queue: this update is skipped, the next ones go on.
            logger.exception("event=update_failed update_id=%s chat=%s", incoming.update_id, incoming.chat_id)
            return self._skip(incoming, now)
        self._offset, self._offset_at = incoming.update_id + 1, now
        self._db_retries = (0, 0)
        self._after(outcome, incoming)
        return True

    def _skip(self, incoming: IncomingMessage, now: float) -> bool:
        try:
            with db.database.atomic():
                save_offset(incoming.update_id + 1, now)
                if incoming.chat_id and incoming.text:
                    db.ChatReply.create(chat_id=incoming.chat_id, reply_to_message_id=incoming.message_id,
                                        text=wording("chat.failed"),
                                        created_at=now)
        except Exception as exc:
            logger.error("event=offset_store_failed update_id=%s error=%s", incoming.update_id, exc)
            return False
        self._offset, self._offset_at = incoming.update_id + 1, now
        self._db_retries = (0, 0)
        return True

    def _after(self, outcome: Outcome, incoming: IncomingMessage) -> None:
        """Nudge who has new rows to send (the rows are committed; a lost nudge only delays them)."""
        if outcome.action != "ignored":
            logger.info("event=telegram_update update_id=%s chat=%s user=%s action=%s ticket=%s",
                        incoming.update_id, incoming.chat_id, incoming.user_id, outcome.action,
                        outcome.ticket or "-")
        for dest in outcome.destinations:
            self.directory.tell(actor_names.dispatcher(dest), NotificationsQueued(dest))
        if outcome.outbound_sms:
            for name in self.directory.names(actor_names.MODEM_PREFIX):
                self.directory.tell(name, OutboundQueued())

    def _set_commands(self) -> None:
        """setMyCommands once (retried at most every minute until Telegram takes it)."""
        if self._commands_set or self.clock.monotonic() < self._commands_next_try:
            return
        commands = [telegram.BotCommand(name, description) for name, _usage, description in COMMANDS]
        try:
            self.gateway.set_my_commands(commands)
        except Exception as exc:
            self._commands_next_try = self.clock.monotonic() + 60.0
            logger.info("event=set_my_commands_failed error=%s", exc)
            return
        self._commands_set = True
        if self.gateway.username:
            self.desk.bot_username = self.gateway.username
        logger.info("event=set_my_commands commands=%s", ",".join(c[0] for c in COMMANDS))

    # -- answers in the chat ---------------------------------------------------

    def _flush_replies(self) -> None:
        if not self._leader:
            return  # the getupdates holder answers (one sender keeps each chat's answers in order)
        if self.desk.bot_username is None and self.gateway.username:
            self.desk.bot_username = self.gateway.username
        try:
            replies = claim_replies(self.clock.time())
        except Exception:
            logger.exception("event=reply_outbox_read_failed")
            self._wake_replies(self.clock.time() + 5.0)
            return
        held: dict[int, float] = {}  # chat -> when it may get its next answer; its answers keep their order
        for reply in replies:
            if reply.chat_id in held:
                reply_retry(reply.id, held[reply.chat_id], "waiting for an earlier answer", count=False)
                continue
            now = self.clock.time()
            try:
                sent = self.gateway.send_message(reply.chat_id, reply.text, None,
                                                 reply_to_message_id=reply.reply_to_message_id, wait=REPLY_WAIT)
            except Throttled as exc:
                held[reply.chat_id] = now + exc.retry_in
                reply_retry(reply.id, held[reply.chat_id], "throttled", count=False)
                continue
            except telegram.error.RetryAfter as exc:
                held[reply.chat_id] = now + retry_after_seconds(exc)
                reply_retry(reply.id, held[reply.chat_id], "retry_after")
                continue
            except telegram.error.Forbidden as exc:
                reply_failed(reply.id, f"Forbidden: {exc.message}")
                logger.warning("event=reply_failed chat=%s error=%s", reply.chat_id, exc.message)
                continue
            except telegram.error.TelegramError as exc:
                error = f"{type(exc).__name__}: {exc.message}"
                if reply.attempts + 1 >= MAX_REPLY_ATTEMPTS:
                    reply_failed(reply.id, error)
                    logger.error("event=reply_failed chat=%s attempts=%s error=%s", reply.chat_id,
                                 reply.attempts + 1, error)
                else:
                    held[reply.chat_id] = now + min(300.0, 2.0 * 2 ** reply.attempts)
                    reply_retry(reply.id, held[reply.chat_id], error)
                continue
            except Exception as exc:  # our bug or the database: keep it pending
                logger.exception("event=reply_send_failed chat=%s", reply.chat_id)
                held[reply.chat_id] = now + 10.0
                reply_retry(reply.id, held[reply.chat_id], f"{type(exc).__name__}: {exc}")
                continue
            reply_sent(reply.id, sent.message_id, self.clock.time())
        due = next_reply_due()
        if due is not None:
            self._wake_replies(due)

    def _wake_replies(self, at: float) -> None:
        if self._reply_wake_at is not None and self._reply_wake_at <= at:
            return
        self._reply_wake_at = at
        self.schedule(max(0.0, at - self.clock.time()), Tick("replies"))


def _unhandled(update_id: int, now: float) -> bool:
    """Whether no instance handled ``update_id`` yet; locks the offset row until the caller's commit."""
    query = db.TelegramState.select().where(db.TelegramState.key == OFFSET_KEY)
    if not db.is_sqlite():
        query = query.for_update()
    row = query.first()
    if row is None or now - row.updated_at > OFFSET_MAX_AGE_SECONDS:
        return True
    try:
        return int(row.value) <= update_id
    except ValueError:
        return True


def claim_replies(now: float, limit: int = 20) -> list[PendingReply]:
    """Claim the due answers for this instance, oldest first (see outbox.claim_rows)."""
    r = db.ChatReply
    holder = instance_id()
    ids = claim_rows(r, (r.status == "pending") & (r.next_attempt_at <= now), holder, now, limit)
    if not ids:
        return []
    rows = r.select().where(r.id.in_(ids) & (r.claimed_by == holder) & (r.status == "pending")).order_by(r.id)
    return [PendingReply(x.id, x.chat_id, x.reply_to_message_id, x.text, x.attempts) for x in rows]


def _report(ref: pykka.ActorRef[Any], generation: int, task: asyncio.Task[Any]) -> None:
    """Done-callback of the poll task (on the gateway loop): hand the result to the actor as snapshots."""
    if task.cancelled():
        message = Polled(generation, error="cancelled")
    elif task.exception() is not None:
        exc = task.exception()
        message = Polled(generation, error=f"{type(exc).__name__}: {exc}")
    else:
        messages = []
        for update in task.result():
            try:
                messages.append(snapshot(update))
            except Exception as exc:  # an update we cannot read still moves the offset on
                logger.error("event=update_unreadable update_id=%s error=%s", update.update_id, exc)
                messages.append(IncomingMessage(update.update_id, 0, "none", 0, None, "", None))
        message = Polled(generation, messages=tuple(messages))
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass  # stopped or restarted; its successor polls again from the stored offset
