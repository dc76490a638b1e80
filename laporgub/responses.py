"""What PICs do in Telegram: the Responder's domain logic (authorisation, actions, answers).

Plain classes and functions over the database, no threads, so tests call them
directly. The Responder actor turns each getUpdates update into an
:class:`IncomingMessage` and calls :meth:`ResponseDesk.handle` inside one
transaction together with the new getUpdates offset: an update's effects
(the PIC's response, the SMS to the citizen, notifications, the bot's answer
in the chat) are committed together with the fact that it was handled, so a
restart neither loses nor repeats one.

Who may act (issue 4): only a registered PIC (``[[pics]]``) of one of the
ticket's active groups, or a PIC with ``admin = true``. Anyone else gets a
short refusal and nothing changes. ``channel`` is a group like the others:
every ticket is in it, so a PIC of ``channel`` may act on every ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import peewee

from laporgub import conversations, db, incidents, webhooks
from laporgub.commands import (
    COMMANDS,
    REF_COMMANDS,
    Command,
    help_text,
    parse_command,
    parse_group,
    strip_leading_ticket,
    tickets_in_text,
)
from laporgub.config import Config, PicConfig
from laporgub.desk import IncomingMessage as IncomingMessage
from laporgub.desk import Texts as Texts
from laporgub.desk import _Effects as _Effects
from laporgub.desk import may_act as may_act
from laporgub.incident_desk import IncidentActions
from laporgub.outbox import destinations, leader_destinations
from laporgub.render import STATUS_WORDS, public_text, shorten, wording
from laporgub.smsguard import reply_text
from laporgub.tickets import hashtag, is_indonesian_mobile, mask_msisdn
from laporgub.types import GROUP_KEYS

logger = logging.getLogger(__name__)

#: TelegramState key of the next getUpdates offset.
OFFSET_KEY = "get_updates_offset"
#: Telegram keeps unconfirmed updates for 24 hours: an older stored offset protects nothing,
#: and after a week without updates Telegram may number the next one below it.
OFFSET_MAX_AGE_SECONDS = 24 * 3600.0
#: What a /selesai without text records as the closing response.
DEFAULT_CLOSING = wording("chat.default_closing")
#: The bot's answers in chats are short; citizen text quoted in them is cut to this.
QUOTE_CHARS = 400

# The bot's answers in chats (plain text, sent without parse mode) are the ``[chat]`` texts of
# laporgub/data/texts.toml.
NOT_REGISTERED = wording("chat.not_registered")


# --------------------------------------------------------------------------
# Snapshots and results.


@dataclass(frozen=True, slots=True)
class Outcome:
    """What handling one message committed.

    Attributes:
        action: ``response``, ``close``, ``reroute``, ``status``, ``help``, ``refused``, ``rejected``
            (a usage error or unknown ticket) or ``ignored``.
        ticket: the ticket acted on, if any.
        destinations: notification outboxes that got rows (their dispatchers are nudged).
        outbound_sms: an SMS waits in the outbound outbox (the modems are nudged).
        replies: answers queued for the chat.
    """

    action: str
    ticket: str | None = None
    destinations: tuple[str, ...] = ()
    outbound_sms: bool = False
    replies: int = 0


# --------------------------------------------------------------------------
# The PIC registry and the authorisation rule.


class PicRegistry:
    """The registered PICs (``[[pics]]``), by Telegram user id. Rebuilt on each config load."""

    def __init__(self, pics: Iterable[PicConfig]) -> None:
        self.pics = tuple(pics)
        self._by_id = {p.telegram_id: p for p in self.pics}

    def get(self, telegram_id: int | None) -> PicConfig | None:
        """The PIC with this Telegram user id, or None."""
        return None if telegram_id is None else self._by_id.get(telegram_id)

    def of_group(self, group: str) -> list[PicConfig]:
        """PICs listed for ``group`` (admins only when they list it)."""
        return [p for p in self.pics if group in p.groups]

    @property
    def admins(self) -> list[PicConfig]:
        return [p for p in self.pics if p.admin]


# --------------------------------------------------------------------------
# Durable getUpdates offset.


def load_offset(now: float) -> int | None:
    """The next getUpdates offset, or None when none is stored or it is too old to matter."""
    row = db.TelegramState.get_or_none(db.TelegramState.key == OFFSET_KEY)
    if row is None or now - row.updated_at > OFFSET_MAX_AGE_SECONDS:
        return None
    try:
        return int(row.value)
    except ValueError:
        return None


def save_offset(offset: int, now: float) -> None:
    """Store the next getUpdates offset (call inside the transaction that handled the update)."""
    (
        db.TelegramState.insert(key=OFFSET_KEY, value=str(offset), updated_at=now)
        .on_conflict(conflict_target=[db.TelegramState.key],
                     update={db.TelegramState.value: str(offset), db.TelegramState.updated_at: now})
        .execute()
    )


# --------------------------------------------------------------------------
# The chat-answer outbox.


@dataclass(frozen=True, slots=True)
class PendingReply:
    """A queued answer of the bot (a snapshot)."""

    id: int
    chat_id: int
    reply_to_message_id: int | None
    text: str
    attempts: int


def pending_replies(now: float, limit: int = 20) -> list[PendingReply]:
    """Due answers, oldest first."""
    rows = (
        db.ChatReply.select()
        .where((db.ChatReply.status == "pending") & (db.ChatReply.next_attempt_at <= now))
        .order_by(db.ChatReply.id)
        .limit(limit)
    )
    return [PendingReply(r.id, r.chat_id, r.reply_to_message_id, r.text, r.attempts) for r in rows]


def next_reply_due() -> float | None:
    """When the earliest pending answer is due (epoch seconds), or None."""
    return (
        db.ChatReply.select(peewee.fn.MIN(db.ChatReply.next_attempt_at))
        .where(db.ChatReply.status == "pending")
        .scalar()
    )


def reply_sent(reply_id: int, message_id: int, now: float) -> None:
    db.ChatReply.update(status="sent", sent_at=now, message_id=message_id, attempts=db.ChatReply.attempts + 1,
                        last_error=None).where(db.ChatReply.id == reply_id).execute()


def reply_retry(reply_id: int, next_attempt_at: float, error: str, *, count: bool = True) -> None:
    fields: dict[peewee.Field, object] = {db.ChatReply.next_attempt_at: next_attempt_at,
                                          db.ChatReply.last_error: error[:500],
                                          db.ChatReply.claimed_by: None, db.ChatReply.claimed_at: None}
    if count:
        fields[db.ChatReply.attempts] = db.ChatReply.attempts + 1
    db.ChatReply.update(fields).where(db.ChatReply.id == reply_id).execute()


def reply_failed(reply_id: int, error: str) -> None:
    db.ChatReply.update(status="failed", attempts=db.ChatReply.attempts + 1, last_error=error[:500]).where(
        db.ChatReply.id == reply_id
    ).execute()


# --------------------------------------------------------------------------
# The desk: one message in, its effects committed by the caller's transaction.


class ResponseDesk(IncidentActions):
    """Handles PICs' replies and commands. Use from one thread; call :meth:`handle` inside a transaction.

    A ticket linked to an incident (laporgub/incidents.py) is answered and closed as the
    whole incident: every linked ticket records the response, every reporter gets the SMS
    once (laporgub/incident_desk.py, which also does ``/gabung`` and ``/pisah``).

    Args:
        config: the validated configuration (PICs, groups, leaders, texts).
        bot_username: this bot's name, for ``/cmd@name`` (None until Telegram answered getMe).
    """

    def __init__(self, config: Config, bot_username: str | None = None) -> None:
        self.bot_username = bot_username
        self.set_config(config)

    def set_config(self, config: Config) -> None:
        """Apply a (re)loaded configuration to the next message."""
        self.config = config
        self.pics = PicRegistry(config.pics)
        self.texts = Texts(config)
        self.chat_ids = destinations(config)
        self.group_chats = {g.chat_id: key for key, g in config.groups.items()}

    # -- entry ---------------------------------------------------------------

    def handle(self, msg: IncomingMessage, now: float) -> Outcome:
        """Act on one message: record, queue SMS and notifications, queue the bot's answer."""
        fx = _Effects()
        action, ticket = self._dispatch(msg, now, fx)
        return Outcome(action=action, ticket=ticket, destinations=tuple(fx.destinations),
                       outbound_sms=fx.outbound_sms, replies=fx.replies)

    def _dispatch(self, msg: IncomingMessage, now: float, fx: _Effects) -> tuple[str, str | None]:
        if msg.text is None or msg.user_id is None or msg.chat_type == "channel":
            return "ignored", None
        private = msg.chat_type == "private"
        cmd = parse_command(msg.text, self.bot_username)
        if cmd is None:
            if msg.text.lstrip().startswith("/"):
                return "ignored", None  # a command for another bot
            if msg.reply_to_message_id is not None and msg.reply_to_bot:
                return self._reply_to_notification(msg, now, fx)
            if private:
                self._say(msg, now, fx, help_text(self.bot_username))
                return "help", None
            return "ignored", None  # group chatter (privacy mode off): not for us
        if not cmd.known:
            if private or cmd.addressed:
                self._say(msg, now, fx, wording("chat.unknown_command", command=cmd.name,
                                               help=help_text(self.bot_username)))
                return "rejected", None
            return "ignored", None
        if cmd.name == "bantuan":
            self._say(msg, now, fx, help_text(self.bot_username))
            return "help", None
        return self._command(cmd, msg, now, fx)

    # -- commands ------------------------------------------------------------

    def _command(self, cmd: Command, msg: IncomingMessage, now: float, fx: _Effects) -> tuple[str, str | None]:
        pic = self.pics.get(msg.user_id)
        if pic is None:
            logger.warning("event=pic_refused reason=not_registered user=%s chat=%s command=%s",
                           msg.user_id, msg.chat_id, cmd.name)
            self._say(msg, now, fx, NOT_REGISTERED)
            return "refused", None
        if cmd.name in REF_COMMANDS:
            return self._incident_command(cmd, pic, msg, now, fx)
        usage = next(u for name, u, _ in COMMANDS if name == cmd.name)
        if cmd.ticket is None and cmd.incident is not None:
            named = self._incident_ticket(cmd.incident)
            if named is None:
                self._say(msg, now, fx, wording("chat.incident_not_found", incident=f"K{cmd.incident}"))
                return "rejected", None
            ticket = named
        elif cmd.ticket is None:
            if cmd.raw_ticket is not None:
                self._say(msg, now, fx, wording("chat.ticket_unreadable", raw=cmd.raw_ticket, usage=usage))
                return "rejected", None
            found = self._tickets_of_replied(msg)
            if len(found) != 1:
                hint = (wording("chat.name_ticket_several", tickets=", ".join(t.number for t in found))
                        if len(found) > 1 else "")
                self._say(msg, now, fx, wording("chat.name_ticket", hint=hint, usage=usage))
                return "rejected", None
            ticket = found[0]
        else:
            by_number = db.Ticket.get_or_none(db.Ticket.number == cmd.ticket)
            if by_number is None:
                self._say(msg, now, fx, wording("chat.ticket_not_found", ticket=cmd.ticket))
                return "rejected", cmd.ticket
            ticket = by_number
        groups = self._active_groups(ticket)
        if not may_act(pic, groups):
            return self._refuse_group(pic, ticket, groups, msg, now, fx, cmd.name)
        if cmd.name == "tanggapi":
            if not cmd.text:
                self._say(msg, now, fx, wording("chat.empty_response", usage=usage), ticket)
                return "rejected", ticket.number
            return self._respond(pic, ticket, cmd.text, msg, now, fx)
        if cmd.name == "tanya":
            if not cmd.text:
                self._say(msg, now, fx, wording("chat.empty_question", usage=usage), ticket)
                return "rejected", ticket.number
            return self._respond(pic, ticket, cmd.text, msg, now, fx, question=True)
        if cmd.name == "selesai":
            return self._close(pic, ticket, cmd.text, msg, now, fx)
        if cmd.name == "alihkan":
            return self._reroute(pic, ticket, groups, cmd.text, msg, now, fx, usage)
        return self._status(ticket, groups, msg, now, fx)

    def _reply_to_notification(self, msg: IncomingMessage, now: float, fx: _Effects) -> tuple[str, str | None]:
        """A reply to one of the bot's messages: a response to the ticket that message carries."""
        pic = self.pics.get(msg.user_id)
        if pic is None:
            logger.warning("event=pic_refused reason=not_registered user=%s chat=%s command=reply",
                           msg.user_id, msg.chat_id)
            self._say(msg, now, fx, NOT_REGISTERED)
            return "refused", None
        assert msg.text is not None
        post = (conversations.answer_of_message(msg.chat_id, msg.reply_to_message_id)
                if msg.reply_to_message_id is not None else None)
        if post is not None and post.ticket is not None:
            # A reply to a citizen's answer is for that citizen, even when the ticket is linked to an incident.
            ticket = post.ticket
            return self._reply_respond(pic, ticket, strip_leading_ticket(msg.text, ticket.number), msg, now, fx,
                                       alone=True)
        found = self._tickets_of_replied(msg)
        if not found:
            self._say(msg, now, fx, wording("chat.reply_no_ticket"))
            return "rejected", None
        ticket = found[0]
        lead = msg.text.strip().split(None, 1)
        by_label = incidents.parse_label(lead[0].rstrip(":,.")) if lead else None
        if len(found) > 1 and by_label is not None and (named_incident := self._incident_ticket(by_label)) in found:
            # "K12: ..." names the incident among the several the message carries.
            ticket = named_incident
            msg_text = lead[1] if len(lead) > 1 else ""
            return self._reply_respond(pic, ticket, msg_text.strip(), msg, now, fx)
        if len(found) > 1:
            numbers = [t.number for t in found]
            named = [n for n in tickets_in_text(msg.text) if n in numbers]
            if len(named) != 1:
                self._say(msg, now, fx, wording("chat.reply_several", count=len(found), tickets=", ".join(numbers)))
                return "rejected", None
            ticket = found[numbers.index(named[0])]
        return self._reply_respond(pic, ticket, strip_leading_ticket(msg.text, ticket.number), msg, now, fx)

    def _reply_respond(self, pic: PicConfig, ticket: db.Ticket, text: str, msg: IncomingMessage, now: float,
                       fx: _Effects, *, alone: bool = False) -> tuple[str, str | None]:
        if not text:
            self._say(msg, now, fx, wording("chat.reply_empty"), ticket)
            return "rejected", ticket.number
        groups = self._active_groups(ticket)
        if not may_act(pic, groups):
            return self._refuse_group(pic, ticket, groups, msg, now, fx, "reply")
        return self._respond(pic, ticket, text, msg, now, fx, alone=alone)

    # -- actions -------------------------------------------------------------

    def _respond(self, pic: PicConfig, ticket: db.Ticket, text: str, msg: IncomingMessage, now: float,
                 fx: _Effects, *, question: bool | None = None, alone: bool = False) -> tuple[str, str | None]:
        """A response to the citizen; a question (``/tanya``, or text ending in "?") makes the ticket wait for
        the citizen's answer (laporgub/conversations.py). ``alone``: only this ticket's citizen, even when it is
        linked to an incident (a reply to that citizen's answer)."""
        asking = conversations.is_question(text) if question is None else question
        if ticket.incident_id and not alone:
            return self._respond_incident(pic, ticket, text, msg, now, fx, question=asking)
        self._mark_responded(pic, ticket, text, msg, now, question=asking)
        sent = self._sms(ticket, "question_sms" if asking else "response_sms", pic, text, now, fx)
        tail = wording("chat.responded_sms" if sent else "chat.responded_no_sms")
        if asking and sent:
            tail += wording("chat.asked_answer_hint")
        self._say(msg, now, fx, wording("chat.asked" if asking else "chat.responded", ticket=ticket.number,
                                        pic=pic.name, agency=pic.agency, tail=tail), ticket)
        logger.info("event=pic_response ticket=%s pic=%s action=response question=%s sms=%s", ticket.number,
                    pic.telegram_id, asking, sent)
        return "response", ticket.number

    def _mark_responded(self, pic: PicConfig, ticket: db.Ticket, text: str, msg: IncomingMessage, now: float,
                        *, question: bool | None = None, **event: str) -> None:
        """Record a response on ``ticket`` (its status, its wait for the citizen, its webhook event); the SMS is
        the caller's."""
        asking = conversations.is_question(text) if question is None else question
        self._record(pic, ticket, text, "response", msg, now, question=asking)
        conversations.mark_waiting(ticket, asking, now)
        if ticket.status == "open":
            ticket.status = "responded"
        ticket.updated_at = now
        db.save_changes(ticket)
        webhooks.ticket_event(self.config, ticket, "ticket.responded",
                              {"text": text, "pic": pic.name, "agency": pic.agency, **event}, now)

    def _close(self, pic: PicConfig, ticket: db.Ticket, text: str, msg: IncomingMessage, now: float,
               fx: _Effects) -> tuple[str, str | None]:
        if ticket.incident_id:
            return self._close_incident(pic, ticket, text, msg, now, fx)
        if ticket.status == "closed":
            self._say(msg, now, fx, wording("chat.already_closed", ticket=ticket.number), ticket)
            return "rejected", ticket.number
        self._record(pic, ticket, text or DEFAULT_CLOSING, "close", msg, now)
        ticket.status = "closed"
        ticket.waiting_since = None
        ticket.updated_at = now
        db.save_changes(ticket)
        webhooks.ticket_event(self.config, ticket, "ticket.closed",
                              {"text": text or DEFAULT_CLOSING, "pic": pic.name, "agency": pic.agency}, now)
        sent = self._sms(ticket, "closed_sms", pic, text, now, fx)
        tail = wording("chat.closed_sms" if sent else "chat.closed_no_sms")
        self._say(msg, now, fx, wording("chat.closed", ticket=ticket.number, pic=pic.name, agency=pic.agency,
                                        tail=tail), ticket)
        logger.info("event=pic_response ticket=%s pic=%s action=close sms=%s", ticket.number, pic.telegram_id, sent)
        return "close", ticket.number

    def _reroute(self, pic: PicConfig, ticket: db.Ticket, groups: list[str], target: str, msg: IncomingMessage,
                 now: float, fx: _Effects, usage: str) -> tuple[str, str | None]:
        names = {k: g.name for k, g in self.config.groups.items()}
        new = parse_group(target, names) if target else None
        choices = ", ".join(k for k in GROUP_KEYS if k in names and k != "channel")
        if new is None or new == "channel":
            what = wording("chat.unknown_group", group=shorten(target, 40)) if target else wording("chat.no_group")
            self._say(msg, now, fx, wording("chat.reroute_usage", problem=what, usage=usage, groups=choices), ticket)
            return "rejected", ticket.number
        if new in groups:
            self._say(msg, now, fx, wording("chat.already_in_group", ticket=ticket.number,
                                            group=self.config.group_name(new)), ticket)
            return "rejected", ticket.number
        old = self._groups_left(pic, groups, msg.chat_id)
        for group in old:
            db.TicketCategory.update(active=False, removed_at=now).where(
                (db.TicketCategory.ticket == ticket) & (db.TicketCategory.group == group)
            ).execute()
        # (ticket, group) is unique: a ticket coming back to a group it left reuses that row.
        if db.TicketCategory.update(active=True, removed_at=None, source="reroute", created_at=now).where(
            (db.TicketCategory.ticket == ticket) & (db.TicketCategory.group == new)
        ).execute() == 0:
            db.TicketCategory.create(ticket=ticket, group=new, source="reroute", created_at=now)
        was_spam = ticket.kind == "spam"
        if was_spam:
            # A PIC judged it a real complaint: it is followed up as one, and the citizen gets the number.
            ticket.kind = "complaint"
        ticket.updated_at = now
        db.save_changes(ticket)
        self._notify(ticket, new, "ticket", None, now, fx)
        active = [g for g in groups if g not in old] + [new]
        for dest in leader_destinations(self.config, active, ticket.regency):
            if not db.Notification.select().where(
                (db.Notification.ticket == ticket) & (db.Notification.destination == dest)
                & db.Notification.kind.in_(["ticket", "spam"])
            ).exists():
                self._notify(ticket, dest, "ticket", None, now, fx)
        from_names = self.texts.group_names(old or ["channel"])
        note = self.texts.telegram(
            "telegram_rerouted", ticket=ticket.number, hashtag=hashtag(ticket.number),
            from_groups=self.texts.escape(from_names), to_group=self.texts.escape(self.config.group_name(new)),
            pic=self.texts.escape(pic.name), agency=self.texts.escape(pic.agency),
        )
        for group in old or ["channel"]:
            self._notify(ticket, group, "note", note, now, fx)
        self._record(pic, ticket, wording("chat.rerouted_record", group=self.config.group_name(new)), "reroute", msg,
                     now)
        webhooks.ticket_event(self.config, ticket, "ticket.rerouted",
                              {"from_groups": old, "to_group": new, "pic": pic.name, "agency": pic.agency}, now)
        if was_spam and is_indonesian_mobile(ticket.sender):
            db.OutboundSms.create(destination=ticket.sender, text=self.texts.renderer.ack_sms(ticket.number),
                                  purpose="ack", ticket=ticket, created_at=now)
            fx.outbound_sms = True
        self._say(msg, now, fx, wording("chat.rerouted", ticket=ticket.number, from_groups=from_names,
                                        to_group=self.config.group_name(new), pic=pic.name), ticket)
        logger.info("event=pic_response ticket=%s pic=%s action=reroute from=%s to=%s", ticket.number,
                    pic.telegram_id, ",".join(old) or "-", new)
        return "reroute", ticket.number

    def _groups_left(self, pic: PicConfig, groups: list[str], chat_id: int) -> list[str]:
        """The group(s) a re-routed ticket leaves; ``channel`` keeps every ticket.

        The group of the chat the command was given in; else the PIC's own groups among the
        ticket's; else (an admin elsewhere) all its topic groups, keeping ``kabkota``, which
        follows the regency named rather than the topic.
        """
        topic = [g for g in groups if g != "channel"]
        here = self.group_chats.get(chat_id)
        if here in topic:
            return [here]
        mine = [g for g in topic if g in pic.groups]
        if mine:
            return mine
        moved = [g for g in topic if g != "kabkota"]
        return moved or topic

    def _status(self, ticket: db.Ticket, groups: list[str], msg: IncomingMessage, now: float,
                fx: _Effects) -> tuple[str, str | None]:
        if msg.chat_type != "private" and self.group_chats.get(msg.chat_id) not in groups:
            # A ticket's summary goes only where its PICs already read it, or to the asking PIC alone.
            logger.warning("event=pic_refused reason=status_elsewhere user=%s chat=%s ticket=%s", msg.user_id,
                           msg.chat_id, ticket.number)
            self._say(msg, now, fx, wording("chat.status_elsewhere", ticket=ticket.number,
                                            groups=self.texts.group_names(g for g in groups if g != "channel")))
            return "refused", ticket.number
        last = (
            db.PicResponse.select()
            .where((db.PicResponse.ticket == ticket) & (db.PicResponse.action != "reroute"))
            .order_by(db.PicResponse.created_at.desc(), db.PicResponse.id.desc())
            .first()
        )
        lines = [
            wording("chat.status_head", ticket=ticket.number, status=STATUS_WORDS.get(ticket.status, ticket.status),
                    spam=wording("chat.status_spam") if ticket.kind == "spam" else ""),
            wording("chat.status_received", received=self.texts.local_time(ticket.received_at),
                    sender=mask_msisdn(ticket.sender)),
            wording("chat.status_groups", groups=self.texts.group_names(g for g in groups if g != "channel"),
                    regency=wording("chat.status_regency", regency=ticket.regency) if ticket.regency else ""),
            wording("chat.status_text", text=shorten(ticket.text, QUOTE_CHARS)),
        ]
        if last is not None:
            lines.append(wording("chat.status_last", pic=last.pic_name, agency=last.agency or "-",
                                 time=self.texts.local_time(last.created_at), text=shorten(last.text, QUOTE_CHARS)))
        else:
            lines.append(wording("chat.status_no_response"))
        incident_line = self._incident_status_line(ticket)
        if incident_line:
            lines.append(incident_line)
        self._say(msg, now, fx, "\n".join(lines), ticket)
        return "status", ticket.number

    def _refuse_group(self, pic: PicConfig, ticket: db.Ticket, groups: list[str], msg: IncomingMessage, now: float,
                      fx: _Effects, what: str) -> tuple[str, str | None]:
        logger.warning("event=pic_refused reason=other_group user=%s ticket=%s command=%s",
                       pic.telegram_id, ticket.number, what)
        self._say(msg, now, fx, wording("chat.other_group", ticket=ticket.number,
                                        groups=self.texts.group_names(groups)))
        return "refused", ticket.number

    # -- helpers ---------------------------------------------------------------

    def _active_groups(self, ticket: db.Ticket) -> list[str]:
        return [
            c.group for c in db.TicketCategory.select(db.TicketCategory.group)
            .where((db.TicketCategory.ticket == ticket) & db.TicketCategory.active)
            .order_by(db.TicketCategory.id)
        ]

    def _tickets_of_replied(self, msg: IncomingMessage) -> list[db.Ticket]:
        """Tickets carried by the bot message ``msg`` replies to (a combined message carries several)."""
        if msg.reply_to_message_id is None or not msg.reply_to_bot:
            return []
        ids: list[int] = []
        for model in (db.Notification, db.ChatReply):
            rows = model.select(model.ticket).where(
                (model.chat_id == msg.chat_id) & (model.message_id == msg.reply_to_message_id)
                & model.ticket.is_null(False)
            ).order_by(model.id)
            for row in rows:
                if row.ticket_id is not None and row.ticket_id not in ids:
                    ids.append(row.ticket_id)
        # An incident's own message or threshold notice stands for the incident (its first report).
        N = db.Notification
        for row in N.select(N.incident).where(
                (N.chat_id == msg.chat_id) & (N.message_id == msg.reply_to_message_id) & N.incident.is_null(False)
                & N.kind.in_([incidents.OWN, incidents.NOTICE])).order_by(N.id):
            stands = self._incident_ticket(row.incident_id)
            if stands is not None and stands.id not in ids:
                ids.append(stands.id)
        by_id = {t.id: t for t in db.Ticket.select().where(db.Ticket.id.in_(ids or [0]))}
        return [by_id[i] for i in ids if i in by_id]

    def _record(self, pic: PicConfig, ticket: db.Ticket, text: str, action: str, msg: IncomingMessage,
                now: float, *, question: bool = False) -> None:
        db.PicResponse.create(
            ticket=ticket, pic_telegram_id=pic.telegram_id, pic_name=pic.name, agency=pic.agency, text=text,
            action=action, chat_id=msg.chat_id, message_id=msg.message_id, created_at=now, question=question,
        )

    def _sms(self, ticket: db.Ticket, key: str, pic: PicConfig, text: str, now: float, fx: _Effects) -> bool:
        """Queue the SMS to the citizen; spam and number-less tickets get none."""
        if ticket.kind != "complaint" or not is_indonesian_mobile(ticket.sender):
            return False
        # At most [sms] reply_max_parts parts; a longer reply ends with how to read the rest (CEK <ticket>).
        body = reply_text(lambda response: self.texts.sms(key, ticket=ticket.number, agency=pic.agency,
                                                          response=response),
                          text, self.config.sms.reply_max_parts, ticket.number, self.config.texts.centre_number)
        db.OutboundSms.create(destination=ticket.sender, text=body, purpose="response", ticket=ticket,
                              created_at=now)
        fx.outbound_sms = True
        return True

    def _notify(self, ticket: db.Ticket, dest: str, kind: str, text: str | None, now: float, fx: _Effects) -> None:
        chat_id = self.chat_ids.get(dest)
        if chat_id is None:
            return
        db.Notification.create(ticket=ticket, destination=dest, chat_id=chat_id, kind=kind, text=text,
                               queued_at=now)
        fx.notify(dest)

    def _say(self, msg: IncomingMessage, now: float, fx: _Effects, text: str, ticket: db.Ticket | None = None) -> None:
        db.ChatReply.create(chat_id=msg.chat_id, reply_to_message_id=msg.message_id, ticket=ticket,
                            text=public_text(text), created_at=now)
        fx.replies += 1
