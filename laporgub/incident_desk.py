"""What PICs do to incidents in Telegram: one answer for all, close all, ``/gabung``, ``/pisah``.

Part of the :class:`~laporgub.responses.ResponseDesk` (a mixin, so the desk's
helpers record, answer in the chat and queue SMS exactly as for single
tickets), kept apart because it is about incidents (laporgub/incidents.py).
Everything runs inside the desk's transaction with the update's offset: an
answer to forty citizens is committed together, or not at all.

Authorisation is the desk's: only a registered PIC of one of the ticket's
groups (every ticket named, for ``/gabung``), or an admin, may act; every
action is written to the incident's audit trail (``IncidentEvent``) with the
PIC's Telegram id, and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laporgub import conversations, db, incidents, intake, webhooks
from laporgub.commands import COMMANDS, Command
from laporgub.config import Config, PicConfig
from laporgub.outbox import leader_destinations
from laporgub.render import wording

if TYPE_CHECKING:
    from laporgub.desk import IncomingMessage, _Effects

logger = logging.getLogger(__name__)

#: What /selesai without a text records as the closing response (as for a single ticket).
DEFAULT_CLOSING = wording("chat.default_closing")


@dataclass(frozen=True, slots=True)
class SplitTarget:
    """What ``/pisah`` points at, resolved.

    ``kind`` picks the handler in ``IncidentActions.SPLIT_HANDLERS``: today only
    ``linked_ticket`` (a report linked to an incident) and ``answer`` (a citizen's SMS
    joined to a ticket as an answer, laporgub/conversations.py; ``item`` is its inbound
    SMS id). A new kind adds its resolution in :meth:`IncidentActions._split_target`
    and its handler.
    """

    kind: str
    ticket: db.Ticket | None = None
    item: Any = None  # for future kinds: what else was pointed at (a notification row, an inbound SMS)


class IncidentActions:
    """The incident side of the ResponseDesk (see the module docstring); uses the desk's helpers."""

    #: ``/pisah`` handlers by :class:`SplitTarget` kind (method names).
    SPLIT_HANDLERS: dict[str, str] = {"linked_ticket": "_split_linked_ticket", "answer": "_split_answer"}

    if TYPE_CHECKING:  # the desk's helpers
        config: Config
        chat_ids: dict[str, int]
        texts: Any
        pics: Any
        _say: Callable[..., None]
        _record: Callable[..., None]
        _mark_responded: Callable[..., None]
        _active_groups: Callable[[db.Ticket], list[str]]
        _refuse_group: Callable[..., tuple[str, str | None]]
        _tickets_of_replied: Callable[[IncomingMessage], list[db.Ticket]]

    # -- references --------------------------------------------------------------

    def _incident_ticket(self, incident_id: int | None) -> db.Ticket | None:
        """The ticket that stands for an incident in a command (its first report, else its oldest)."""
        incident = incidents.resolve(incident_id)
        if incident is None:
            return None
        tickets = incidents.members(incident.id)
        anchor = next((t for t in tickets if t.id == incident.anchor), None)
        return anchor or (tickets[0] if tickets else None)

    def _ref_ticket(self, ref: str) -> db.Ticket | None:
        """A ``/gabung`` argument (a ticket number or ``K12``) as a ticket."""
        number = incidents.parse_label(ref)
        if number is not None:
            return self._incident_ticket(number)
        return db.Ticket.get_or_none(db.Ticket.number == ref)

    # -- one answer for all ----------------------------------------------------------

    def _respond_incident(self, pic: PicConfig, ticket: db.Ticket, text: str, msg: IncomingMessage, now: float,
                          fx: _Effects, *, question: bool = False) -> tuple[str, str | None]:
        """Record the response on every linked ticket and send it by SMS to every reporter, each once.

        A question makes every linked ticket wait for its reporter's answer (laporgub/conversations.py).
        """
        incident = incidents.resolve(ticket.incident_id)
        assert incident is not None
        tickets = incidents.members(incident.id)
        for t in tickets:
            self._mark_responded(pic, t, text, msg, now, question=question, incident=incidents.label(incident.id))
        sent = self._sms_each(incidents.reporters(tickets), "question_sms" if question else "response_sms", pic,
                              text, now, fx)
        incidents.record(incident.id, "respond", f"pic:{pic.telegram_id}", f"sms={sent} text={text[:200]}", now)
        self._edit_messages(incident.id, now, fx)
        label = incidents.label(incident.id)
        self._say(msg, now, fx, wording("chat.incident_responded", label=label, reports=len(tickets), pic=pic.name,
                                        agency=pic.agency, sent=sent), ticket)
        logger.info("event=pic_response incident=%s ticket=%s tickets=%s pic=%s action=response sms=%s", label,
                    ticket.number, len(tickets), pic.telegram_id, sent)
        return "response", ticket.number

    def _close_incident(self, pic: PicConfig, ticket: db.Ticket, text: str, msg: IncomingMessage, now: float,
                        fx: _Effects) -> tuple[str, str | None]:
        """Close the incident and every linked ticket; each reporter whose ticket closes is told once."""
        incident = incidents.resolve(ticket.incident_id)
        assert incident is not None
        label = incidents.label(incident.id)
        tickets = incidents.members(incident.id)
        closing = [t for t in tickets if t.status != "closed"]
        if incident.status == "closed" and not closing:
            self._say(msg, now, fx, wording("chat.incident_already_closed", label=label), ticket)
            return "rejected", ticket.number
        for t in closing:
            self._record(pic, t, text or DEFAULT_CLOSING, "close", msg, now)
            t.status = "closed"
            t.updated_at = now
            db.save_changes(t)
            webhooks.ticket_event(self.config, t, "ticket.closed",
                                  {"text": text or DEFAULT_CLOSING, "pic": pic.name, "agency": pic.agency,
                                   "incident": label}, now)
        sent = self._sms_each(incidents.reporters(closing), "closed_sms", pic, text, now, fx)
        db.Incident.update(status="closed", closed_at=now, closed_by=f"pic:{pic.telegram_id}", updated_at=now).where(
            db.Incident.id == incident.id).execute()
        incidents.record(incident.id, "close", f"pic:{pic.telegram_id}", f"tickets={len(closing)} sms={sent}", now)
        self._edit_messages(incident.id, now, fx)
        self._say(msg, now, fx, wording("chat.incident_closed", label=label, pic=pic.name, agency=pic.agency,
                                        tickets=len(closing), sent=sent), ticket)
        logger.info("event=pic_response incident=%s ticket=%s tickets=%s pic=%s action=close sms=%s", label,
                    ticket.number, len(closing), pic.telegram_id, sent)
        return "close", ticket.number

    def _incident_status_line(self, ticket: db.Ticket) -> str | None:
        """For ``/status``: the incident the ticket belongs to."""
        if not ticket.incident_id:
            return None
        incident = incidents.resolve(ticket.incident_id)
        if incident is None:
            return None
        known = incident.status in ("open", "expired", "closed")
        status = wording(f"chat.incident_state_{incident.status}") if known else incident.status
        return wording("chat.status_incident", label=incidents.label(incident.id),
                       reports=incidents.report_count(incident.id), status=status)

    # -- /gabung and /pisah -----------------------------------------------------------

    def _incident_command(self, cmd: Command, pic: PicConfig, msg: IncomingMessage, now: float,
                          fx: _Effects) -> tuple[str, str | None]:
        if cmd.name == "gabung":
            return self._merge(cmd, pic, msg, now, fx)
        return self._split(cmd, pic, msg, now, fx)

    def _merge(self, cmd: Command, pic: PicConfig, msg: IncomingMessage, now: float,
               fx: _Effects) -> tuple[str, str | None]:
        """``/gabung A B``: B (and its incident's reports) joins A's incident (opened with A if A has none)."""
        usage = _usage("gabung")
        refs = [r for r in ([cmd.ticket] if cmd.ticket else [f"K{cmd.incident}"] if cmd.incident else []) + list(
            cmd.refs)]
        if cmd.raw_ticket is not None:
            self._say(msg, now, fx, wording("chat.ref_unreadable", raw=cmd.raw_ticket, usage=usage))
            return "rejected", None
        if len(refs) == 1 and msg.reply_to_message_id is not None:
            replied = self._tickets_of_replied(msg)
            if len(replied) == 1:
                refs = [replied[0].number, refs[0]]  # a reply to A's message: /gabung B
        if len(refs) != 2:
            self._say(msg, now, fx, wording("chat.merge_two", usage=usage))
            return "rejected", None
        tickets = []
        for ref in refs:
            t = self._ref_ticket(ref)
            if t is None:
                self._say(msg, now, fx, wording("chat.incident_not_found", incident=ref) if incidents.parse_label(ref)
                          else wording("chat.ticket_not_found", ticket=ref))
                return "rejected", ref
            tickets.append(t)
        target, source = tickets
        for t in tickets:
            if t.kind != "complaint":
                self._say(msg, now, fx, wording("chat.merge_spam", ticket=t.number), t)
                return "rejected", t.number
            groups = self._active_groups(t)
            if not _may_act(pic, groups):
                return self._refuse_group(pic, t, groups, msg, now, fx, "gabung")
        same = (target.id == source.id or (target.incident_id and source.incident_id and incidents.resolve(
            target.incident_id) == incidents.resolve(source.incident_id)))
        if same:
            self._say(msg, now, fx, wording("chat.merge_same", target=target.number, source=source.number), target)
            return "rejected", target.number
        result = incidents.merge(target, source, f"pic:{pic.telegram_id}", now)
        self._edit_messages(result.incident_id, now, fx)
        if result.absorbed is not None:
            self._edit_messages(result.absorbed, now, fx)
        label = incidents.label(result.incident_id)
        moved = ", ".join(result.moved) or source.number
        reports = incidents.report_count(result.incident_id)
        self._say(msg, now, fx, wording("chat.merged", moved=moved, label=label, reports=reports, pic=pic.name),
                  target)
        logger.info("event=pic_response incident=%s ticket=%s pic=%s action=merge moved=%s", label, target.number,
                    pic.telegram_id, ",".join(result.moved) or "-")
        return "merge", target.number

    def _split(self, cmd: Command, pic: PicConfig, msg: IncomingMessage, now: float,
               fx: _Effects) -> tuple[str, str | None]:
        """``/pisah <ref>`` (or a reply to a message without one): take what it names out of what holds it."""
        target = self._split_target(cmd, msg, now, fx)
        if target is None:
            return "rejected", cmd.ticket
        handler = getattr(self, self.SPLIT_HANDLERS[target.kind])
        return handler(target, pic, msg, now, fx)  # type: ignore[no-any-return]

    def _split_target(self, cmd: Command, msg: IncomingMessage, now: float, fx: _Effects) -> SplitTarget | None:
        """Resolve what ``/pisah`` points at; None after telling the PIC why it cannot."""
        usage = _usage("pisah")
        if cmd.raw_ticket is not None:
            self._say(msg, now, fx, wording("chat.split_ticket_unreadable", raw=cmd.raw_ticket, usage=usage))
            return None
        if cmd.incident is not None:
            self._say(msg, now, fx, wording("chat.split_incident", usage=usage))
            return None
        post = (conversations.answer_of_message(msg.chat_id, msg.reply_to_message_id)
                if msg.reply_to_message_id is not None and msg.reply_to_bot else None)
        if post is not None and post.ticket is not None and (cmd.ticket is None or cmd.ticket == post.ticket.number):
            # A reply to a citizen's answer posted in the group: that answer becomes a ticket of its own.
            return SplitTarget("answer", ticket=post.ticket, item=post.inbound_id)
        if cmd.ticket is not None:
            ticket = db.Ticket.get_or_none(db.Ticket.number == cmd.ticket)
            if ticket is None:
                self._say(msg, now, fx, wording("chat.ticket_not_found", ticket=cmd.ticket))
                return None
            if not ticket.incident_id and (answer := conversations.latest_answer(ticket)) is not None:
                return SplitTarget("answer", ticket=ticket, item=answer.id)
        else:
            found = self._tickets_of_replied(msg)
            if len(found) != 1:
                self._say(msg, now, fx, wording("chat.name_ticket", hint="", usage=usage))
                return None
            ticket = found[0]
        return SplitTarget("linked_ticket", ticket=ticket)

    def _split_linked_ticket(self, target: SplitTarget, pic: PicConfig, msg: IncomingMessage, now: float,
                             fx: _Effects) -> tuple[str, str | None]:
        """A report taken out of its incident becomes a report of its own: its groups get it now."""
        ticket = target.ticket
        assert ticket is not None
        if not ticket.incident_id:
            self._say(msg, now, fx, wording("chat.split_not_linked", ticket=ticket.number), ticket)
            return "rejected", ticket.number
        groups = self._active_groups(ticket)
        if not _may_act(pic, groups):
            return self._refuse_group(pic, ticket, groups, msg, now, fx, "pisah")
        anchor_rows = list(db.Notification.select().where(
            (db.Notification.ticket == ticket.id) & db.Notification.kind.in_(incidents.TICKET_KINDS)
            & (db.Notification.destination != "channel")))
        result = incidents.split(ticket, f"pic:{pic.telegram_id}", now)
        label = incidents.label(result.incident_id)
        for t in db.Ticket.select().where(db.Ticket.id.in_([ticket.id, *result.left_alone])):
            self._notify_alone(t, now, fx)
        if result.was_anchor:
            # Its messages show it alone again; the incident (if it goes on) gets its own message there.
            for row in anchor_rows:
                if row.status == "sent" and row.message_id:
                    incidents.ensure_edit(result.incident_id, row.destination, row.chat_id, now, 0.0, edit_of=row.id)
                    fx.notify(row.destination)
                if not result.dissolved and incidents.own_message(result.incident_id, row.destination, row.chat_id,
                                                                  now):
                    fx.notify(row.destination)
        self._edit_messages(result.incident_id, now, fx)
        tail = (wording("chat.split_dissolved", label=label) if result.dissolved
                else wording("chat.split_left", label=label, reports=incidents.report_count(result.incident_id)))
        self._say(msg, now, fx, wording("chat.split", ticket=ticket.number, label=label, pic=pic.name, tail=tail),
                  ticket)
        logger.info("event=pic_response incident=%s ticket=%s pic=%s action=split dissolved=%s", label,
                    ticket.number, pic.telegram_id, result.dissolved)
        return "split", ticket.number

    def _split_answer(self, target: SplitTarget, pic: PicConfig, msg: IncomingMessage, now: float,
                      fx: _Effects) -> tuple[str, str | None]:
        """A citizen's SMS joined to a ticket as an answer (laporgub/conversations.py) that reports another
        problem becomes a ticket of its own: routed to its groups, the citizen told its number."""
        ticket = target.ticket
        assert ticket is not None
        groups = self._active_groups(ticket)
        if not _may_act(pic, groups):
            return self._refuse_group(pic, ticket, groups, msg, now, fx, "pisah")
        answer = db.InboundSms.get_or_none(db.InboundSms.id == target.item)
        if answer is None or answer.kind != conversations.ANSWER or answer.ticket_id != ticket.id:
            self._say(msg, now, fx, wording("chat.split_answer_gone", ticket=ticket.number),
                      ticket)
            return "rejected", ticket.number
        new = intake.split_answer(self.config, self.texts.renderer, answer, now)
        if new is None:
            self._say(msg, now, fx, wording("chat.split_answer_erased"), ticket)
            return "rejected", ticket.number
        fx.outbound_sms = True
        self._say(msg, now, fx, wording("chat.split_answer", ticket=ticket.number, pic=pic.name, new=new.number), new)
        logger.info("event=pic_response ticket=%s pic=%s action=split_answer new_ticket=%s", ticket.number,
                    pic.telegram_id, new.number)
        return "split", new.number

    # -- helpers -------------------------------------------------------------------

    def _notify_alone(self, ticket: db.Ticket, now: float, fx: _Effects) -> None:
        """Notify a report's groups and leaders that never got it on its own (it reached only the channel)."""
        if ticket.incident_id:
            return
        groups = self._active_groups(ticket)
        dests = [*[g for g in groups if g != "channel"],
                 *leader_destinations(self.config, groups, ticket.regency)]
        N = db.Notification
        have = {r.destination for r in N.select(N.destination).where(
            (N.ticket == ticket.id) & N.kind.in_(incidents.TICKET_KINDS))}
        for dest in dests:
            chat_id = self.chat_ids.get(dest)
            if chat_id is None or dest in have:
                continue
            N.create(ticket=ticket.id, destination=dest, chat_id=chat_id, kind="ticket", queued_at=now)
            fx.notify(dest)

    def _edit_messages(self, incident_id: int, now: float, fx: _Effects) -> None:
        for dest in incidents.queue_edits(self.config, incident_id, self.chat_ids, now):
            fx.notify(dest)

    def _sms_each(self, tickets: list[db.Ticket], key: str, pic: PicConfig, text: str, now: float,
                  fx: _Effects) -> int:
        """The SMS to each reporter (one per number); returns how many."""
        for t in tickets:
            body = self.texts.sms(key, ticket=t.number, agency=pic.agency, response=text)
            db.OutboundSms.create(destination=t.sender, text=body, purpose="response", ticket=t, created_at=now)
        if tickets:
            fx.outbound_sms = True
        return len(tickets)


def _usage(name: str) -> str:
    return next(u for n, u, _ in COMMANDS if n == name)


def _may_act(pic: PicConfig, groups: list[str]) -> bool:
    from laporgub.desk import may_act

    return may_act(pic, groups)

