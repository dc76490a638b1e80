"""Conversations (issue 19): a citizen's SMS answering a PIC joins that ticket instead of opening a new one.

A PIC's first reply is often a question ("Mohon kirim alamat lengkapnya"). The
citizen answers by SMS without a ticket number; judged on its own, that answer
would be a second ticket in the catch-all group, and the PIC who asked would
never see it. So before an SMS becomes a complaint, :func:`find_thread` asks:
did a PIC write to this number's open ticket within ``[conversations]
window_hours``? If so the SMS is that ticket's answer, unless it clearly reports
something else:

* it names another (existing) ticket number (then it is judged as today);
* the classifier finds, by keyword, topic groups none of which the ticket is in,
  and nothing links it to the ticket (no place both name, fewer than two content
  words in common), while the ticket itself was routed by keyword; or it is an
  emergency (``darurat``) and the ticket is not: an emergency is never held in
  another ticket's thread.

What joins despite other topic groups (a link, or a ticket without a keyword
topic) joins *ambiguous*: the group message says so, and ``/pisah`` makes it a
ticket of its own. With several open tickets the one a PIC wrote to last wins.

Plain functions over the database; intake.py calls them inside its store
transaction, so the answer, its notification rows (the outbox: posted once, also
across a kill -9) and the citizen's short acknowledgement commit together.
The answer is an :class:`~laporgub.db.InboundSms` of kind ``answer`` on its
ticket, posted as notifications of kind ``answer`` that the dispatcher sends as a
Telegram reply to the PIC's message in that chat (else the ticket's notification),
see :func:`reply_target`. A PIC's reply to that message reaches the same citizen,
as any reply to a ticket's message does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import peewee

from laporgub import db, incidents
from laporgub.commands import tickets_in_text
from laporgub.config import Config
from laporgub.routing import Classification, Classifier

logger = logging.getLogger(__name__)

#: ``InboundSms.kind`` of a citizen's answer joined to a ticket, and ``Notification.kind`` of its post.
ANSWER = "answer"
#: Kinds of SMS that may be an answer: a complaint, a text too short to be one ("RT 3 pak"), and what the
#: spam rules flag: an answer to "Nomor HP/KK bapak berapa?" carries a number, which reads as a promotion's
#: contact number; a number a PIC is talking to is not a spammer's.
JOINABLE = ("complaint", "too_short", "spam")
#: Groups that say nothing about the topic (every ticket is in the channel; kabkota follows the regency).
NOT_TOPICS = frozenset({"channel", "kabkota"})
#: PIC actions that count as writing to the citizen (a close ends the conversation with the ticket).
PIC_MESSAGES = ("response",)
#: Content words two texts must share to count as linked (without a common place).
SHARED_WORDS = 2
#: ``FollowupEvent.step`` of the reminder to the citizen, per question (``tanya:<epoch>``, 16 characters).
REMINDER_STEP = "tanya:{since}"


@dataclass(frozen=True, slots=True)
class Thread:
    """The ticket an SMS answers.

    Attributes:
        ticket: the open ticket.
        pic_at: when a PIC last wrote to the citizen on it (the time to the answer counts from here).
        ambiguous: it mentions other topics too; the group message says so (``/pisah`` splits it).
        reason: why it joined, for logs and the group message: ``plain``, ``names_ticket``,
            ``same_topic``, ``also_other_topic``, ``linked``, ``ticket_without_topic``.
        other_groups: the topic groups it names that the ticket is not in.
    """

    ticket: db.Ticket
    pic_at: float
    ambiguous: bool
    reason: str
    other_groups: tuple[str, ...] = ()


def is_question(text: str) -> bool:
    """A PIC's message that asks the citizen something: it ends with a question mark."""
    return text.rstrip().rstrip(")").rstrip().endswith("?")


def latest_conversation(config: Config, msisdn: str, now: float) -> tuple[db.Ticket, float] | None:
    """The open complaint of ``msisdn`` a PIC wrote to last within the window, and when; None if none."""
    settings = config.conversations
    if not settings.enabled or settings.window_hours <= 0:
        return None
    R, T = db.PicResponse, db.Ticket
    # Most numbers have no open ticket: one indexed look-up, and nothing more, for them.
    open_ids = [row[0] for row in db.tuples(T.select(T.id).where(
        (T.sender == msisdn) & (T.status != "closed") & (T.kind == "complaint")))]
    if not open_ids:
        return None
    latest = peewee.fn.MAX(R.created_at)
    row = (
        R.select(R.ticket, latest.alias("at"))
        .where(R.ticket.in_(open_ids) & R.action.in_(PIC_MESSAGES)
               & (R.created_at >= now - settings.window_hours * 3600) & (R.created_at <= now))
        .group_by(R.ticket)
        .order_by(latest.desc(), R.ticket.desc())
        .limit(1)
        .tuples()
        .first()
    )
    if row is None:
        return None
    ticket = T.get_or_none(T.id == row[0])
    return None if ticket is None else (ticket, float(row[1]))


def find_thread(config: Config, classifier: Classifier, msisdn: str, text: str, result: Classification,
                now: float) -> Thread | None:
    """The ticket this SMS answers, or None: a complaint of its own (or whatever else it is) as today."""
    found = latest_conversation(config, msisdn, now)
    if found is None or not text.strip():
        return None
    ticket, pic_at = found
    written = {*tickets_in_text(text), *([result.ticket_ref] if result.ticket_ref else [])}
    # Only numbers of real tickets count: a phone or KK number in an answer can look like one.
    named = [t.number for t in db.Ticket.select(db.Ticket.number).where(db.Ticket.number.in_(list(written)))] \
        if written else []
    if named:
        if ticket.number in named:
            return Thread(ticket, pic_at, False, "names_ticket")
        return None  # it names another ticket: judged on its own
    said = topics(result)
    if not said:
        return Thread(ticket, pic_at, False, "plain")
    categories = list(db.TicketCategory.select(db.TicketCategory.group, db.TicketCategory.keywords).where(
        (db.TicketCategory.ticket == ticket) & db.TicketCategory.active))
    mine = {c.group for c in categories if c.group not in NOT_TOPICS}
    keyed = {c.group for c in categories if c.group not in NOT_TOPICS and c.keywords
             and not c.keywords.startswith("model:")}
    other = tuple(sorted(said - mine))
    if not other:
        return Thread(ticket, pic_at, False, "same_topic")
    if "darurat" in other:
        return None  # an emergency is never held in another ticket's thread
    if said & mine:
        return Thread(ticket, pic_at, True, "also_other_topic", other)
    if not keyed:
        return Thread(ticket, pic_at, True, "ticket_without_topic", other)
    if linked(classifier, text, result, ticket.text):
        return Thread(ticket, pic_at, True, "linked", other)
    return None  # a different problem: a new complaint


def topics(result: Classification) -> set[str]:
    """The topic groups a text names by keyword (not the learned model's guesses, not the catch-all)."""
    return {g for g, reasons in result.matched.items()
            if g not in NOT_TOPICS and g in result.groups and any(not r.startswith("model:") for r in reasons)}


def linked(classifier: Classifier, text: str, result: Classification, ticket_text: str) -> bool:
    """Whether an SMS about other topics still refers to the ticket: a place both name, or shared words."""
    profiler = incidents.profiler_for(classifier)
    mine = profiler.profile(text, result)
    theirs = profiler.profile(ticket_text, classifier.route(ticket_text))
    if mine is None or theirs is None:
        return False
    if any(incidents.same_place(a, b) for a in mine.places for b in theirs.places):
        return True
    return len((mine.words | mine.keywords) & (theirs.words | theirs.keywords)) >= SHARED_WORDS


# --------------------------------------------------------------------------
# Where the answer is posted.


def answer_destinations(ticket: db.Ticket, chat_ids: dict[str, int]) -> list[str]:
    """The ticket's groups (its active categories, the channel included) that have a chat."""
    groups = [c.group for c in db.TicketCategory.select(db.TicketCategory.group).where(
        (db.TicketCategory.ticket == ticket) & db.TicketCategory.active).order_by(db.TicketCategory.id)]
    return [g for g in dict.fromkeys(groups or ["channel"]) if g in chat_ids]


def reply_target(ticket_id: int, chat_id: int, before: float) -> int | None:
    """The message an answer posted in ``chat_id`` replies to: the PIC's last message there, else the
    ticket's (or its incident's) notification there; None when the chat has neither (then a plain post)."""
    R, N = db.PicResponse, db.Notification
    pic = (R.select(R.message_id).where((R.ticket == ticket_id) & (R.chat_id == chat_id) & R.message_id.is_null(False)
                                        & (R.action != "reroute") & (R.created_at <= before))
           .order_by(R.created_at.desc(), R.id.desc()).first())
    if pic is not None:
        return int(pic.message_id)
    own = (N.select(N.message_id).where((N.ticket == ticket_id) & (N.chat_id == chat_id) & (N.status == "sent")
                                        & N.kind.in_(["ticket", "spam"]) & N.message_id.is_null(False)
                                        & (N.message_id != 0))
           .order_by(N.id).first())
    if own is not None:
        return int(own.message_id)
    ticket = db.Ticket.get_or_none(db.Ticket.id == ticket_id)
    if ticket is None or not ticket.incident_id:
        return None
    anchor = incidents.resolve(ticket.incident_id)
    if anchor is None:
        return None
    shown = (N.select(N.message_id).where(
        (N.chat_id == chat_id) & (N.status == "sent") & N.message_id.is_null(False) & (N.message_id != 0)
        & (((N.incident == anchor.id) & (N.kind == incidents.OWN))
           | ((N.ticket == anchor.anchor) & N.kind.in_(["ticket", "spam"]))))
        .order_by(N.id.desc()).first())
    return int(shown.message_id) if shown is not None else None


# --------------------------------------------------------------------------
# Waiting for the citizen.


def mark_waiting(ticket: db.Ticket, question: bool, now: float) -> None:
    """After a PIC's message: a question makes the ticket wait for the citizen, anything else ends the wait."""
    ticket.waiting_since = now if question else None


def waiting_count() -> int:
    """Open tickets whose PIC's question waits for the citizen's answer."""
    return int(db.Ticket.select().where(db.Ticket.waiting_since.is_null(False)
                                        & (db.Ticket.status != "closed")).count())


def due_citizen_reminders(config: Config, now: float, limit: int = 200) -> list[db.Ticket]:
    """Tickets whose question waited ``remind_citizen_hours`` without an answer and whose citizen was not
    reminded of this question yet (one reminder per question)."""
    hours = config.conversations.remind_citizen_hours
    if hours <= 0 or not config.conversations.enabled:
        return []
    rows = list(
        db.Ticket.select().where(
            db.Ticket.waiting_since.is_null(False) & (db.Ticket.waiting_since <= now - hours * 3600)
            & (db.Ticket.status != "closed") & (db.Ticket.kind == "complaint") & db.Ticket.sender.is_null(False))
        .order_by(db.Ticket.waiting_since, db.Ticket.id).limit(limit))
    if not rows:
        return []
    done = {(e.ticket_id, e.step) for e in db.FollowupEvent.select(db.FollowupEvent.ticket, db.FollowupEvent.step)
            .where(db.FollowupEvent.ticket.in_([t.id for t in rows]) & db.FollowupEvent.step.startswith("tanya:"))}
    # waiting_since is set on every row the query selected
    return [t for t in rows if (t.id, reminder_step(t.waiting_since or 0.0)) not in done]


def reminder_step(waiting_since: float) -> str:
    return REMINDER_STEP.format(since=int(waiting_since))


def last_question(ticket: db.Ticket) -> db.PicResponse | None:
    """The PIC's question the ticket waits on (its latest message)."""
    R = db.PicResponse
    return (R.select().where((R.ticket == ticket) & R.action.in_(PIC_MESSAGES))
            .order_by(R.created_at.desc(), R.id.desc()).first())


# --------------------------------------------------------------------------
# The answer's stored SMS.


def answer_rows(row: db.InboundSms) -> list[db.InboundSms]:
    """The stored SMS of one answer: the row, or every part of a multipart SMS (they share its ticket)."""
    if row.concat_seq is None:
        return [row]
    Inb = db.InboundSms
    parts = Inb.select().where((Inb.ticket == row.ticket_id) & (Inb.sender_raw == row.sender_raw)
                             & (Inb.concat_ref == row.concat_ref) & (Inb.concat_total == row.concat_total)
                             & (Inb.kind == row.kind)).order_by(Inb.concat_seq, Inb.id)
    seen: dict[int, db.InboundSms] = {}
    for p in parts:
        seen.setdefault(p.concat_seq or 0, p)
    return list(seen.values()) or [row]


def answer_text(row: db.InboundSms) -> str:
    """An answer's whole text (a multipart SMS's parts joined)."""
    return "".join(p.text or "" for p in answer_rows(db.InboundSms.get_by_id(row.id)))


# --------------------------------------------------------------------------
# /pisah: an answer that was another problem after all.


def latest_answer(ticket: db.Ticket) -> db.InboundSms | None:
    """The latest answer joined to ``ticket`` (what ``/pisah <tiket>`` splits), or None."""
    Inb = db.InboundSms
    return (Inb.select().where((Inb.ticket == ticket) & (Inb.kind == ANSWER)
                             & (Inb.concat_seq.is_null() | (Inb.concat_seq == 1)))
            .order_by(Inb.reported_at.desc(), Inb.id.desc()).first())


def answer_of_message(chat_id: int, message_id: int) -> db.Notification | None:
    """The answer post a Telegram message is (a reply to it with /pisah names it), or None."""
    N = db.Notification
    return N.select().where((N.chat_id == chat_id) & (N.message_id == message_id) & (N.kind == ANSWER)
                            & N.inbound.is_null(False)).first()

