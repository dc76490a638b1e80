"""Conversations (issue 19): a citizen's SMS answering a PIC joins that ticket instead of opening a new one.

A PIC's first reply is often a question ("Mohon kirim alamat lengkapnya"). The
citizen answers by SMS without a ticket number; judged on its own, that answer
would be a second ticket in the catch-all group, and the PIC who asked would
never see it. So before an SMS becomes a complaint, :func:`find_thread` asks:
did a PIC write to this number's open ticket within ``[conversations]
window_hours``? If so the SMS is that ticket's answer, unless it clearly reports
something else:

* it names another ticket number (then it is judged as today);
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
    latest = peewee.fn.MAX(R.created_at)
    row = (
        R.select(R.ticket, latest.alias("at"))
        .join(T, on=(R.ticket == T.id))
        .where((T.sender == msisdn) & (T.status != "closed") & (T.kind == "complaint")
               & R.action.in_(PIC_MESSAGES) & (R.created_at >= now - settings.window_hours * 3600)
               & (R.created_at <= now))
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
    named = [*tickets_in_text(text), *([result.ticket_ref] if result.ticket_ref else [])]
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
    return [t for t in rows if (t.id, reminder_step(t.waiting_since)) not in done]


def reminder_step(waiting_since: float) -> str:
    return REMINDER_STEP.format(since=int(waiting_since))


def last_question(ticket: db.Ticket) -> db.PicResponse | None:
    """The PIC's question the ticket waits on (its latest message)."""
    R = db.PicResponse
    return (R.select().where((R.ticket == ticket) & R.action.in_(PIC_MESSAGES))
            .order_by(R.created_at.desc(), R.id.desc()).first())


# --------------------------------------------------------------------------
# The whole thread, in order (API ``messages``).


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One message of a ticket's conversation."""

    at: float
    author: str  # citizen | pic
    kind: str  # report | answer | followup | response | question | close | reroute
    text: str
    pic: str | None = None
    agency: str | None = None


def thread_messages(ticket: db.Ticket) -> list[ThreadMessage]:
    """The report, the citizen's answers and further SMS, and every PIC action, oldest first."""
    items: list[tuple[float, int, ThreadMessage]] = [
        (ticket.received_at, 0, ThreadMessage(ticket.received_at, "citizen", "report", ticket.text))]
    inbound = (db.InboundSms.select(db.InboundSms.id, db.InboundSms.kind, db.InboundSms.text, db.InboundSms.reported_at,
                                    db.InboundSms.concat_seq)
               .where((db.InboundSms.ticket == ticket) & db.InboundSms.kind.in_([ANSWER, "followup"])
                      & (db.InboundSms.concat_seq.is_null() | (db.InboundSms.concat_seq == 1))))
    for row in inbound:
        items.append((row.reported_at, 1, ThreadMessage(row.reported_at, "citizen", row.kind, _answer_text(row))))
    for r in db.PicResponse.select().where(db.PicResponse.ticket == ticket):
        kind = "question" if r.question else r.action
        items.append((r.created_at, 2, ThreadMessage(r.created_at, "pic", kind, r.text, r.pic_name, r.agency)))
    items.sort(key=lambda item: (item[0], item[1]))
    return [m for _at, _order, m in items]


def _answer_text(row: db.InboundSms) -> str:
    """A multipart answer's whole text (its parts share the ticket; the first stands for them)."""
    if row.concat_seq is None:
        return row.text or ""
    first = db.InboundSms.get_by_id(row.id)
    parts = (db.InboundSms.select(db.InboundSms.text, db.InboundSms.concat_seq).where(
        (db.InboundSms.ticket == first.ticket_id) & (db.InboundSms.sender_raw == first.sender_raw)
        & (db.InboundSms.concat_ref == first.concat_ref) & (db.InboundSms.concat_total == first.concat_total))
        .order_by(db.InboundSms.concat_seq))
    seen: dict[int, str] = {}
    for p in parts:
        seen.setdefault(p.concat_seq, p.text or "")
    return "".join(seen.values())

