"""Follow-up monitoring: reminders, escalation and the daily digest (the Monitor's domain logic).

The SOP asks PICs and admins to monitor follow-up and completion. Plain code
over the database with the time passed in, so tests drive it with any clock:

* a complaint still ``open`` (no PIC response) ``reminder_hours`` after it was
  received gets a reminder in its groups;
* after ``escalate_hours`` it is escalated to the leaders' chats of its groups
  and regency, and to the admin chat;
* every day at ``digest_time`` (service time zone) each group gets a list of its
  unfinished tickets, oldest first;
* a ticket whose PIC asked the citizen something (laporgub/conversations.py) waits
  for the citizen, not the PIC: no reminder or escalation goes to the PIC while it
  waits, and the citizen is reminded once by SMS after ``[conversations]
  remind_citizen_hours`` without an answer (``FollowupEvent`` step ``tanya:<epoch of
  the question>``, so a later question gets its own reminder).

Each step is recorded (``FollowupEvent(ticket, step)``, ``DigestRun(group, day)``,
both unique) in the same transaction as its notification rows, so it happens
once, also across restarts and with two instances. Suspected spam is not
followed up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import peewee

from laporgub import conversations, db
from laporgub.config import Config
from laporgub.outbox import ADMIN, destinations, leader_destinations
from laporgub.render import STATUS_WORDS, visible_len, wording
from laporgub.responses import Texts, shorten
from laporgub.tickets import hashtag, is_indonesian_mobile, mask_msisdn
from laporgub.types import GROUP_KEYS

logger = logging.getLogger(__name__)

REMINDER = "reminder"
ESCALATION = "escalation"
#: Tickets handled per step and run: a backlog is worked off over a few runs, not in one burst.
BATCH = 200
#: A digest message stays below Telegram's 4096 characters, with room to spare.
DIGEST_CHARS = 3800
#: Citizen text quoted in follow-up messages is cut to this many characters.
REMINDER_QUOTE = 300
DIGEST_QUOTE = 90


@dataclass(frozen=True, slots=True)
class FollowupResult:
    """What one run queued."""

    reminders: int = 0
    escalations: int = 0
    digests: int = 0
    destinations: tuple[str, ...] = ()
    #: Reminders to citizens who have not answered a PIC's question (SMS: the modems are nudged).
    citizen_reminders: int = 0


class Followup:
    """Finds due follow-up steps and queues their notifications. Use from one thread.

    Args:
        config: the validated configuration (``[followup]``, groups, leaders, texts).
    """

    def __init__(self, config: Config) -> None:
        self.set_config(config)

    def set_config(self, config: Config) -> None:
        self.config = config
        self.texts = Texts(config)
        self.chat_ids = destinations(config)

    def run(self, now: float) -> FollowupResult:
        """Do every step that is due at ``now`` (epoch seconds)."""
        dests: list[str] = []
        reminders = self.remind(now, dests)
        escalations = self.escalate(now, dests)
        digests = self.digest(now, dests)
        citizens = self.remind_citizens(now)
        return FollowupResult(reminders, escalations, digests, tuple(dests), citizens)

    # -- the citizen who has not answered a question ---------------------------------

    def remind_citizens(self, now: float) -> int:
        """One SMS to each citizen whose PIC's question waited ``remind_citizen_hours`` unanswered."""
        count = 0
        for ticket in conversations.due_citizen_reminders(self.config, now):
            waiting_since = ticket.waiting_since
            if waiting_since is None:
                continue  # answered meanwhile
            question = conversations.last_question(ticket)
            step = conversations.reminder_step(waiting_since)
            text = self.texts.sms("citizen_reminder_sms", ticket=ticket.number,
                                  agency=question.agency if question and question.agency else "LAPOR GUB!",
                                  response=shorten(question.text, REMINDER_QUOTE) if question else "")
            try:
                with db.database.atomic():
                    db.FollowupEvent.create(ticket=ticket, step=step, created_at=now)
                    if is_indonesian_mobile(ticket.sender):
                        db.OutboundSms.create(destination=ticket.sender, text=text, purpose="reminder",
                                              ticket=ticket, created_at=now)
            except peewee.IntegrityError:
                continue  # another instance reminded them first
            count += 1
            logger.info("event=followup_citizen_reminder ticket=%s sender=%s waiting_hours=%.0f", ticket.number,
                        mask_msisdn(ticket.sender), (now - waiting_since) / 3600)
        return count

    # -- reminders and escalation -----------------------------------------------

    def remind(self, now: float, dests: list[str]) -> int:
        """Reminders in the groups of complaints unanswered for ``reminder_hours``."""
        hours = self.config.followup.reminder_hours
        if hours <= 0:
            return 0
        count = 0
        for ticket in self._due(REMINDER, now - hours * 3600):
            groups = self._active_groups(ticket)
            targets = [g for g in groups if g != "channel"] or ["channel"]
            text = self._ticket_text("telegram_reminder", ticket, groups, now)
            if self._queue_step(ticket, REMINDER, targets, text, now, dests):
                count += 1
                logger.info("event=followup_reminder ticket=%s groups=%s", ticket.number, ",".join(targets))
        return count

    def escalate(self, now: float, dests: list[str]) -> int:
        """Escalation of complaints unanswered for ``escalate_hours`` to their leaders and the admins."""
        hours = self.config.followup.escalate_hours
        if hours <= 0:
            return 0
        count = 0
        for ticket in self._due(ESCALATION, now - hours * 3600):
            groups = self._active_groups(ticket)
            targets = [*leader_destinations(self.config, groups, ticket.regency), ADMIN]
            text = self._ticket_text("telegram_escalation", ticket, groups, now)
            if self._queue_step(ticket, ESCALATION, targets, text, now, dests):
                count += 1
                logger.warning("event=followup_escalation ticket=%s to=%s", ticket.number, ",".join(targets))
        return count

    def _due(self, step: str, received_before: float) -> list[db.Ticket]:
        done = db.FollowupEvent.select(db.FollowupEvent.ticket).where(db.FollowupEvent.step == step)
        return list(
            db.Ticket.select()
            .where(
                (db.Ticket.status == "open")
                & (db.Ticket.kind == "complaint")
                & db.Ticket.filtered_at.is_null(False)
                & (db.Ticket.received_at <= received_before)
                & db.Ticket.waiting_since.is_null()  # waits for the citizen, not the PIC
                & db.Ticket.id.not_in(done)
                & _one_per_incident()
            )
            .order_by(db.Ticket.received_at, db.Ticket.id)
            .limit(BATCH)
        )

    def _queue_step(self, ticket: db.Ticket, step: str, targets: list[str], text: str, now: float,
                    dests: list[str]) -> bool:
        """Record the step and queue its rows in one transaction; False if it was done already."""
        try:
            with db.database.atomic():
                db.FollowupEvent.create(ticket=ticket, step=step, created_at=now)
                for dest in targets:
                    chat_id = self.chat_ids.get(dest)
                    if chat_id is None:
                        continue
                    db.Notification.create(ticket=ticket, destination=dest, chat_id=chat_id, kind=step, text=text,
                                           queued_at=now)
                    if dest not in dests:
                        dests.append(dest)
        except peewee.IntegrityError:
            return False  # another instance did this step first
        return True

    def _ticket_text(self, key: str, ticket: db.Ticket, groups: list[str], now: float) -> str:
        t = self.texts
        return t.telegram(
            key, ticket=ticket.number, hashtag=hashtag(ticket.number),
            groups=t.escape(t.group_names(g for g in groups if g != "channel")),
            regency=t.escape(ticket.regency or "-"), sender=mask_msisdn(ticket.sender),
            received=t.local_time(ticket.received_at), hours=str(max(0, int((now - ticket.received_at) // 3600))),
            text=t.escape(shorten(ticket.text, REMINDER_QUOTE)),
        )

    # -- the daily digest --------------------------------------------------------

    def digest(self, now: float, dests: list[str]) -> int:
        """Each group's digest, once a day from ``digest_time`` on; returns how many were queued."""
        at = self.config.followup.digest_at
        if at is None:
            return 0
        local = datetime.fromtimestamp(now, self.config.tz)
        if (local.hour, local.minute) < at:
            return 0
        day = local.date().isoformat()
        done = {r.group for r in db.DigestRun.select(db.DigestRun.group).where(db.DigestRun.day == day)}
        count = 0
        for key in GROUP_KEYS:
            if key in done or key not in self.config.groups:
                continue
            try:
                with db.database.atomic():
                    queued = self._digest_group(key, day, local, now)
            except peewee.IntegrityError:
                continue  # another instance sent it
            if queued:
                count += 1
                if key not in dests:
                    dests.append(key)
        return count

    def _digest_group(self, key: str, day: str, local: datetime, now: float) -> int:
        tickets = (
            db.Ticket.select()
            .join(db.TicketCategory, on=(db.TicketCategory.ticket == db.Ticket.id))
            .where(
                (db.TicketCategory.group == key) & db.TicketCategory.active
                & (db.Ticket.status != "closed") & (db.Ticket.kind == "complaint") & _one_per_incident()
            )
            .order_by(db.Ticket.received_at, db.Ticket.id)
        )
        total = tickets.count()
        db.DigestRun.create(group=key, day=day, tickets=total, created_at=now)
        if total == 0:
            return 0
        limit = self.config.followup.digest_max_tickets
        t = self.texts
        items = [
            t.telegram(
                "telegram_digest_item", ticket=row.number, hashtag=hashtag(row.number),
                status=t.escape(STATUS_WORDS.get(row.status, row.status)), received=t.local_time(row.received_at),
                days=str(max(0, int((now - row.received_at) // 86400))), text=t.escape(shorten(row.text, DIGEST_QUOTE)),
            )
            for row in tickets.limit(limit)
        ]
        more = wording("telegram.digest_more", more=total - limit) if total > limit else ""
        messages = self._pack_digest(key, local, total, items, more)
        chat_id = self.chat_ids[key]
        for text in messages:
            db.Notification.create(destination=key, chat_id=chat_id, kind="digest", text=text, queued_at=now)
        logger.info("event=followup_digest group=%s day=%s tickets=%s messages=%s", key, day, total, len(messages))
        return len(messages)

    def _pack_digest(self, key: str, local: datetime, total: int, items: list[str], more: str) -> list[str]:
        """The digest in as few messages as fit Telegram's limit (the header repeats on each)."""
        mode = self.config.telegram.parse_mode

        def render(chunk: list[str], tail: str) -> str:
            return self.texts.telegram(
                "telegram_digest", group=self.texts.escape(self.config.group_name(key)),
                date=local.strftime("%d-%m-%Y"), count=str(total), items="\n".join(chunk), more=tail,
            )

        messages: list[str] = []
        chunk: list[str] = []
        for item in items:
            if chunk and visible_len(render([*chunk, item], ""), mode) > DIGEST_CHARS:
                messages.append(render(chunk, ""))
                chunk = []
            chunk.append(item)
        messages.append(render(chunk, more))
        return messages

    # -- helpers -------------------------------------------------------------------

    @staticmethod
    def _active_groups(ticket: db.Ticket) -> list[str]:
        return [
            c.group for c in db.TicketCategory.select(db.TicketCategory.group)
            .where((db.TicketCategory.ticket == ticket) & db.TicketCategory.active)
            .order_by(db.TicketCategory.id)
        ]


def _one_per_incident() -> peewee.Expression:
    """Tickets followed up on their own: not linked to an incident, or its first report (one reminder per event)."""
    anchors = db.Incident.select(db.Incident.anchor).where(db.Incident.anchor.is_null(False))
    return db.Ticket.incident.is_null() | db.Ticket.id.in_(anchors)
