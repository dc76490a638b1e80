"""The durable outboxes: routing a ticket into notification rows, and claiming rows to send.

Plain functions over the database. A row stays ``pending`` until the Bot API
(or the modem) accepted it; a crash between sending and marking can repeat a
message at most once, never lose it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import peewee

from laporgub import conversations, db, incidents, leases, webhooks
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config
from laporgub.leases import claim_rows
from laporgub.render import TELEGRAM_MAX, Renderer, TicketView, coalesce, public_text, visible_len, wording
from laporgub.routing import Classifier
from laporgub.tickets import mask_msisdn

logger = logging.getLogger(__name__)

ADMIN = "admin"
#: A claimed outbound SMS whose sender died is taken over after this many seconds
#: (the default of ``[service] claim_seconds``, which applies; see leases.py).
SMS_LEASE_SECONDS = leases.CLAIM_SECONDS


class Alerts:
    """Puts an alert for the admins into the notification outbox and wakes its dispatcher.

    Args:
        admin_chat_id: ``[telegram] admin_chat_id``.
        html: whether texts go out in HTML parse mode (then they are escaped here).
        wake: called after the row is committed (tells ``dispatcher:admin``).
        clock: the service's clock.
    """

    def __init__(self, admin_chat_id: int, html: bool, wake: Callable[[], object], clock: Clock = SYSTEM) -> None:
        self.admin_chat_id = admin_chat_id
        self.clock = clock
        self.html = html
        self.wake = wake

    def send(self, text: str) -> None:
        """Queue ``text`` (plain) for the admin chat; never raises (alerts must not crash their sender)."""
        text = public_text(text)
        try:
            db.Notification.create(
                destination=ADMIN, chat_id=self.admin_chat_id, kind="alert",
                text=html.escape(text, quote=False) if self.html else text, queued_at=self.clock.time(),
            )
        except Exception:
            logger.exception("event=alert_failed text=%s", text[:200])
            return
        logger.warning("event=admin_alert text=%s", text[:300].replace("\n", " "))
        self.wake()


def leader_destinations(config: Config, groups: Iterable[str], regency: str | None) -> list[str]:
    """The ``leader-<n>`` destinations that follow any of ``groups`` or ``regency``."""
    groups = tuple(groups)
    return [f"leader-{i}" for i, leader in enumerate(config.leaders, 1) if leader.wants(groups, regency)]


def destinations(config: Config) -> dict[str, int]:
    """Every Telegram destination: group keys, ``leader-<n>``, ``admin`` -> chat id."""
    result = {key: g.chat_id for key, g in config.groups.items()}
    for i, leader in enumerate(config.leaders, 1):
        result[f"leader-{i}"] = leader.chat_id
    result[ADMIN] = config.telegram.admin_chat_id
    return result


@dataclass(frozen=True, slots=True)
class Routed:
    """What routing one ticket committed."""

    ticket_id: int
    number: str
    groups: tuple[str, ...]
    destinations: tuple[str, ...]  # the outboxes that got rows (their dispatchers are woken)
    registered_at: float
    filtered_at: float
    #: The incident it joined (laporgub/incidents.py), or None.
    incident: incidents.Linked | None = None


def route_ticket(config: Config, classifier: Classifier, ticket_id: int, now: float | None = None) -> Routed | None:
    """Route a registered ticket: categories, incident link and notification rows, in one transaction.

    A complaint about an event already reported (an open incident, or a recent report it is
    alike) is linked to that incident in the same transaction: it keeps its channel
    notification, and the incident's message in its groups is edited instead of a new one.

    Returns None if the ticket is gone or was routed already (a repeated message).
    """
    with db.database.atomic():
        ticket = db.Ticket.get_or_none(db.Ticket.id == ticket_id)
        if ticket is None or ticket.filtered_at is not None:
            return None
        now = SYSTEM.time() if now is None else now
        if ticket.kind == "spam":
            groups: tuple[str, ...] = ()
            regency = None
            matched: dict[str, tuple[str, ...]] = {}
        else:
            # The registry decided the kind; here only the groups are chosen.
            result = classifier.route(ticket.text)
            groups, regency, matched = result.groups, result.regency, dict(result.matched)
        targets = ["channel", *[g for g in groups if g != "channel"]]
        for group in targets:
            db.TicketCategory.create(
                ticket=ticket, group=group, keywords=",".join(matched.get(group, ())), created_at=now
            )
        dests = list(targets)
        if ticket.kind != "spam":
            dests += leader_destinations(config, targets, regency)
        chat_ids = destinations(config)
        linked = None
        if ticket.kind == "complaint" and config.incidents.enabled:
            linked = incidents.link_report(config, classifier, ticket, result, dests, chat_ids, now)
        own = list(linked.notify) if linked is not None else dests
        db.Notification.insert_many(
            [
                {
                    "ticket": ticket.id, "destination": d, "chat_id": chat_ids[d],
                    "kind": "spam" if ticket.kind == "spam" else "ticket", "queued_at": now,
                }
                for d in own
            ]
        ).execute()
        if linked is not None:
            dests = list(dict.fromkeys([*own, *linked.wake]))
        ticket.regency = regency
        ticket.filtered_at = now
        ticket.updated_at = now
        db.save_changes(ticket)
        webhooks.ticket_event(config, ticket, "ticket.routed", {"groups": list(targets), "regency": regency}, now)
    logger.info(
        "event=ticket_routed ticket=%s groups=%s regency=%s filter_seconds=%.3f",
        ticket.number, ",".join(targets), (regency or "-").replace(" ", "_"), now - ticket.registered_at,
    )
    return Routed(ticket.id, ticket.number, tuple(targets), tuple(dests), ticket.registered_at, now, linked)


def unrouted_ticket_ids(older_than: float = 0.0, clock: Clock = SYSTEM) -> list[int]:
    """Tickets committed but not yet routed (after a crash, or a lost message)."""
    cutoff = clock.time() - older_than
    return [
        t.id
        for t in db.Ticket.select(db.Ticket.id)
        .where(db.Ticket.filtered_at.is_null() & (db.Ticket.registered_at <= cutoff))
        .order_by(db.Ticket.id)
    ]


# -- notifications ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingNotification:
    """A notification row, rendered, ready to send (a snapshot)."""

    id: int
    ticket: str | None
    kind: str
    queued_at: float
    attempts: int
    messages: tuple[str, ...]  # one, or several when a long SMS was split
    compact: str | None = None  # the entry used when several tickets share one message
    #: For an ``edit`` row: what it rewrites (laporgub/incidents.py).
    edit: incidents.EditPlan | None = None
    incident: str | None = None  # the incident's label, for logs
    #: Sent alone, as a Telegram reply to this message (a citizen's answer replies to the PIC's question).
    reply_to: int | None = None


def pending_notifications(
    destination: str, renderer: Renderer, now: float, limit: int = 50
) -> list[PendingNotification]:
    """Due rows of one destination, oldest first, rendered."""
    rows = (
        db.Notification.select(db.Notification, db.Ticket, db.InboundSms)
        .join(db.Ticket, peewee.JOIN.LEFT_OUTER, on=(db.Notification.ticket == db.Ticket.id))
        .switch(db.Notification)
        .join(db.InboundSms, peewee.JOIN.LEFT_OUTER, on=(db.Notification.inbound == db.InboundSms.id))
        .where(
            (db.Notification.destination == destination)
            & (db.Notification.status == "pending")
            & (db.Notification.next_attempt_at <= now)
        )
        .order_by(db.Notification.id)
        .limit(limit)
    )
    return [_pending(row, renderer) for row in rows]


def claim_notifications(destination: str, renderer: Renderer, now: float, limit: int = 50,
                        holder: str | None = None) -> list[PendingNotification]:
    """Claim the due rows of one destination for this instance (see :func:`claim_rows`), rendered."""
    holder = holder or leases.instance_id()
    n = db.Notification
    due = (n.destination == destination) & (n.status == "pending") & (n.next_attempt_at <= now)
    # Notifications first, all of them that fit: edits of incidents' messages wait for a quiet moment
    # and must not take a combined message's room in the claim.
    ids = claim_rows(n, due & (n.kind != incidents.EDIT), holder, now, limit)
    if not ids:
        ids = claim_rows(n, due & (n.kind == incidents.EDIT), holder, now, EDITS_PER_CLAIM)
    if not ids:
        return []
    rows = (
        n.select(n, db.Ticket, db.InboundSms)
        .join(db.Ticket, peewee.JOIN.LEFT_OUTER, on=(n.ticket == db.Ticket.id))
        .switch(n)
        .join(db.InboundSms, peewee.JOIN.LEFT_OUTER, on=(n.inbound == db.InboundSms.id))
        .where(n.id.in_(ids) & (n.claimed_by == holder) & (n.status == "pending"))
        .order_by(n.id)
    )
    return [_pending(row, renderer) for row in rows]


def _pending(row: db.Notification, renderer: Renderer) -> PendingNotification:
    """A claimed row, rendered (an edit: its plan)."""
    label = incidents.label(row.incident_id) if row.incident_id else None
    if row.kind == incidents.EDIT:
        return PendingNotification(id=row.id, ticket=None, kind=row.kind, queued_at=row.queued_at,
                                   attempts=row.attempts, messages=(), edit=plan_edit(row, renderer), incident=label)
    messages, compact = _render(row, renderer)
    reply_to = None
    if row.kind == conversations.ANSWER and row.ticket_id:
        reply_to = conversations.reply_target(row.ticket_id, row.chat_id, row.queued_at)
    return PendingNotification(
        id=row.id, ticket=row.ticket.number if row.ticket_id and row.ticket is not None else None, kind=row.kind,
        queued_at=row.queued_at, attempts=row.attempts, messages=tuple(messages), compact=compact, incident=label,
        reply_to=reply_to,
    )


def release_notifications(ids: Iterable[int], holder: str | None = None) -> None:
    """Give back claimed rows this instance will not send now (they stay pending, free for anyone)."""
    ids = list(ids)
    if not ids:
        return
    n = db.Notification
    n.update(claimed_by=None, claimed_at=None).where(
        n.id.in_(ids) & (n.claimed_by == (holder or leases.instance_id())) & (n.status == "pending")
    ).execute()


def release_destination(destination: str, holder: str | None = None) -> int:
    """Give back every row of ``destination`` this instance claimed (lease lost, clean stop)."""
    n = db.Notification
    return int(n.update(claimed_by=None, claimed_at=None).where(
        (n.destination == destination) & (n.claimed_by == (holder or leases.instance_id()))
        & (n.status == "pending")
    ).execute())


#: Room kept in a combined message for its entries' incident blocks to grow into when edited.
INCIDENT_ROOM = 700
#: Edits claimed at a time (one is sent per pump; the others go back).
EDITS_PER_CLAIM = 5


def _render(row: db.Notification, renderer: Renderer) -> tuple[list[str], str | None]:
    """The row's message(s), and its compact entry for combined messages (tickets only)."""
    if row.text:
        return [row.text], None
    if row.kind in (incidents.OWN, incidents.NOTICE) and row.incident_id:
        view = incidents.view(row.incident_id)
        if view is None:
            return [renderer.escape(wording("telegram.incident_gone", label=incidents.label(row.incident_id)))], None
        if row.kind == incidents.NOTICE:
            threshold = db.Incident.get_by_id(row.incident_id).threshold
            return [renderer.threshold_notice(view, threshold)], None
        return [renderer.incident_message(view)], renderer.incident_block(view, TELEGRAM_MAX // 2, compact=True)
    if row.ticket_id and row.ticket is not None:
        tview = ticket_view(row.ticket, row.destination)
        return renderer.ticket_messages(tview), renderer.batch_entry(tview, TELEGRAM_MAX) or renderer.batch_item(tview)
    inbound = row.inbound
    assert inbound is not None  # a row with no text, incident or ticket is about an inbound SMS
    if row.kind == "undecodable":
        # Never the PDU itself: its address field is the sender's number in semi-octets.
        text = wording("telegram.undecodable", modem=inbound.modem, id=inbound.id, hex_chars=len(inbound.pdu or ""))
        return [renderer.operator_message("?", inbound.modem, inbound.reported_at, text)], None
    sender = inbound.sender_raw or "?"
    return [renderer.operator_message(sender, inbound.modem, inbound.reported_at, inbound.text or "")], None


def ticket_view(t: db.Ticket, destination: str) -> TicketView:
    """A ticket as its notification in ``destination`` shows it: in a category group, the first report of an
    incident carries the incident; in the channel, a linked report names its incident."""
    categories = [
        c for c in db.TicketCategory.select(db.TicketCategory.group, db.TicketCategory.keywords)
        .where((db.TicketCategory.ticket == t.id) & db.TicketCategory.active).order_by(db.TicketCategory.id)
        if c.group != "channel"
    ]
    incident = None
    label = None
    if destination != "channel":
        anchored = incidents.anchor_of(t.id)
        incident = incidents.view(anchored) if anchored is not None else None
    elif t.incident_id:
        label = incidents.label(t.incident_id)
    return TicketView(
        number=t.number, kind=t.kind, sender=t.sender, text=t.text, received_at=t.received_at,
        groups=tuple(c.group for c in categories), regency=t.regency,
        keywords="; ".join(f"{c.group}: {c.keywords.replace(',', ', ')}" for c in categories if c.keywords),
        incident=incident, incident_label=label,
    )


def plan_edit(edit: db.Notification, renderer: Renderer) -> incidents.EditPlan:
    """The messages an incident's ``edit`` row rewrites and their new texts, as they were first laid out.

    A message of one row is that row's message again; a combined message is its rows'
    entries combined again (the dispatcher kept room for incident blocks to grow). A message
    that cannot carry the incident any more (a long SMS sent in parts, or no room left) asks
    for the incident's own message instead.
    """
    mode = renderer.config.telegram.parse_mode
    targets = []
    for message_id, rows in incidents.edit_targets(edit):
        if len(rows) == 1:
            messages, _compact = _render(rows[0], renderer)
            if len(messages) != 1:
                return incidents.EditPlan(fallback=True)
            text = messages[0]
            if rows[0].ticket_id and rows[0].kind in incidents.TICKET_KINDS:
                ticket = rows[0].ticket
                assert ticket is not None  # its ticket_id is set
                view = ticket_view(ticket, rows[0].destination)
                if view.incident is not None and visible_len(text, mode) > TELEGRAM_MAX:
                    return incidents.EditPlan(fallback=True)
                if view.incident is not None and text == renderer.ticket_notification(view):
                    return incidents.EditPlan(fallback=True)  # no room for the block below the SMS text
        else:
            entries = []
            for row in rows:
                messages, compact = _render(row, renderer)
                if len(messages) != 1:
                    return incidents.EditPlan(fallback=True)
                entries.append(compact or messages[0])
            count, text = coalesce(entries, mode, separator="\n\n", header=renderer.batch_header("{n}"))[0]
            if count != len(rows):
                return incidents.EditPlan(fallback=True)
        targets.append((message_id, text))
    return incidents.EditPlan(targets=tuple(targets))


def ticket_notifications_complete(notification_ids: Iterable[int], acked_at: float) -> list[tuple[int, float]]:
    """``(ticket_id, received_at)`` of the tickets whose last pending notification was among these rows.

    Claimed with one conditional UPDATE per ticket (``notified_at`` still empty and nothing
    pending), so when two dispatchers send a ticket's last two notifications at the same
    moment, exactly one of them counts it.
    """
    ids = list(notification_ids)
    tickets = list(
        db.Ticket.select(db.Ticket.id, db.Ticket.received_at)
        .join(db.Notification, on=(db.Notification.ticket == db.Ticket.id))
        .where(db.Notification.id.in_(ids) & db.Ticket.notified_at.is_null())
        .distinct()
    )
    result = []
    for t in tickets:
        pending = db.Notification.select(db.Notification.id).where(
            (db.Notification.ticket == t.id) & (db.Notification.status == "pending")
            & db.Notification.kind.in_(["ticket", "spam"])
        )
        claimed = (
            db.Ticket.update(notified_at=acked_at)
            .where((db.Ticket.id == t.id) & db.Ticket.notified_at.is_null() & ~peewee.fn.EXISTS(pending))
            .execute()
        )
        if claimed:
            result.append((t.id, t.received_at))
    return result


def mark_sent(ids: Iterable[int], sent_at: float, acked_at: float, message_id: int) -> None:
    ids = list(ids)
    db.Notification.update(
        status="sent", sent_at=sent_at, acked_at=acked_at, message_id=message_id,
        attempts=db.Notification.attempts + 1, last_error=None,
    ).where(db.Notification.id.in_(ids) & (db.Notification.status == "pending")).execute()


def mark_retry(ids: Iterable[int], next_attempt_at: float, error: str) -> None:
    db.Notification.update(
        attempts=db.Notification.attempts + 1, next_attempt_at=next_attempt_at, last_error=error[:500],
        claimed_by=None, claimed_at=None,
    ).where(db.Notification.id.in_(list(ids))).execute()


def mark_failed(ids: Iterable[int], error: str) -> None:
    """Give rows up (Telegram refused them as malformed); a row another sender got through stays sent."""
    db.Notification.update(
        status="failed", attempts=db.Notification.attempts + 1, last_error=error[:500],
    ).where(db.Notification.id.in_(list(ids)) & (db.Notification.status == "pending")).execute()


def pending_count() -> int:
    return db.Notification.select().where(db.Notification.status == "pending").count()


# -- outbound SMS ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedSms:
    """An outbound SMS claimed by one modem (a snapshot)."""

    id: int
    destination: str
    text: str
    purpose: str
    ticket: str | None
    attempts: int


def _sms_holder(modem: str) -> str:
    """Outbound SMS are claimed per instance and modem (modem names repeat across instances)."""
    return f"{leases.instance_id()}/{modem}"[:64]


def claim_outbound(modem: str, now: float, limit: int = 5) -> list[ClaimedSms]:
    """Claim due outbound SMS for ``modem``; a claim by a dead sender expires after ``claim_seconds``.

    Whichever instance has a healthy modem sends: claims are per row (see :func:`claim_rows`).
    """
    holder = _sms_holder(modem)
    o = db.OutboundSms
    expired = now - leases.claim_seconds()
    due = (((o.status == "pending") & (o.next_attempt_at <= now))
           | ((o.status == "sending") & ((o.claimed_at < expired) | (o.claimed_by == holder))))
    ids = claim_rows(o, due, holder, now, limit, set_status="sending")
    if not ids:
        return []
    rows = (
        o.select(o, db.Ticket).join(db.Ticket, peewee.JOIN.LEFT_OUTER, on=(o.ticket == db.Ticket.id))
        .where(o.id.in_(ids) & (o.claimed_by == holder) & (o.status == "sending")).order_by(o.id)
    )
    return [
        ClaimedSms(id=row.id, destination=row.destination, text=row.text, purpose=row.purpose,
                   ticket=row.ticket.number if row.ticket_id and row.ticket is not None else None,
                   attempts=row.attempts)
        for row in rows
    ]


def outbound_sent(sms_id: int, modem: str, refs: Iterable[int], now: float) -> None:
    db.OutboundSms.update(
        status="sent", sent_at=now, modem=modem, message_refs=",".join(map(str, refs)),
        attempts=db.OutboundSms.attempts + 1, last_error=None,
    ).where(db.OutboundSms.id == sms_id).execute()


def outbound_retry(sms_id: int, error: str, now: float, attempts: int, max_attempts: int = 10) -> None:
    """Put a failed send back with exponential backoff; give up after ``max_attempts``."""
    status = "failed" if attempts + 1 >= max_attempts else "pending"
    delay = min(600.0, 5.0 * 2 ** attempts)
    db.OutboundSms.update(
        status=status, claimed_by=None, claimed_at=None, attempts=db.OutboundSms.attempts + 1,
        next_attempt_at=now + delay, last_error=error[:500],
    ).where(db.OutboundSms.id == sms_id).execute()


def release_claims(modem: str) -> None:
    """Give back what this instance's ``modem`` claimed but did not send (a clean stop)."""
    db.OutboundSms.update(status="pending", claimed_by=None, claimed_at=None).where(
        (db.OutboundSms.status == "sending") & (db.OutboundSms.claimed_by == _sms_holder(modem))
    ).execute()


def outbound_pending_count() -> int:
    return db.OutboundSms.select().where(db.OutboundSms.status.in_(["pending", "sending"])).count()


def describe_destination(number: str) -> str:
    return mask_msisdn(number)
