"""From a stored PDU to a committed ticket: the TicketRegistry's domain logic.

Plain functions and one class over the database, no threads, so tests run it
directly. The registry actor calls :meth:`Intake.store_sms` for every SMS a
modem read; the modem deletes the SMS only after this returned (committed).

Every inbound SMS is stored first, raw PDU included; then its kind (docs/sop.md)
decides what follows:

========== ======== ======================= ====================
kind       ticket   SMS back                Telegram
========== ======== ======================= ====================
complaint  yes      acknowledgement         channel + groups
spam       yes      none                    channel, marked
operator   no       none                    admin chat
status     no       status of the ticket    none
too_short  no       help text               none
answer     joins    short acknowledgement   the ticket's groups
========== ======== ======================= ====================

``answer`` (laporgub/conversations.py): a complaint (or a too-short text) from a
number whose open ticket a PIC wrote to within ``[conversations] window_hours``
joins that ticket as the citizen's answer, unless it clearly reports another
problem; an SMS from any other number is judged exactly as before.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import peewee

from laporgub import conversations, db, pdu, webhooks
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config
from laporgub.exceptions import PduError
from laporgub.outbox import ADMIN, destinations
from laporgub.render import Renderer, wording
from laporgub.routing import Classification, Classifier, RoutingRules
from laporgub.tickets import (
    Sender,
    classify_sender,
    format_ticket,
    is_indonesian_mobile,
    last_four,
    mask_msisdn,
    ticket_day,
)
from laporgub.types import InboundId, Msisdn, TicketId

logger = logging.getLogger(__name__)



def routing_rules(config: Config) -> RoutingRules:
    """The keyword rules of config.toml as the classifier takes them."""
    return RoutingRules(
        keywords={k: g.keywords for k, g in config.groups.items() if k not in ("channel", "kabkota")},
        negative_keywords={k: g.negative_keywords for k, g in config.groups.items() if g.negative_keywords},
        spam_keywords=config.spam.keywords,
        min_words=config.intake.min_words,
        group_weights={k: g.weight for k, g in config.groups.items() if g.weight != 1.0},
        abbreviations=dict(config.routing.abbreviations),
        typo_min_length=config.intake.typo_min_length,
        typo_two_edit_length=config.intake.typo_two_edit_length,
        model=config.routing.model,
    )


def build_classifier(config: Config) -> Classifier:
    """Compile the keyword rules of config.toml once per config load."""
    return Classifier(routing_rules(config))


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one SMS did (all of it committed when returned)."""

    inbound_id: InboundId
    duplicate: bool = False
    kind: str | None = None  # None while a multipart SMS waits for parts
    ticket_id: TicketId | None = None
    ticket_number: str | None = None
    received_at: float | None = None
    registered_at: float | None = None
    outbound_queued: bool = False
    admin_queued: bool = False
    modem: str = ""
    #: Follow-ups (flood control) wait in these destinations' outboxes.
    followup_destinations: tuple[str, ...] = ()
    #: The sender, masked (0811****0200), for the log line written once the row is committed.
    sender: str | None = None
    #: For an ``answer``: seconds from the PIC's last message on its ticket to this answer.
    answer_seconds: float | None = None

    def log_committed(self) -> None:
        """``event=ticket_registered``, written only after the commit (a rolled-back store logs nothing)."""
        if self.ticket_number is not None and self.kind != "followup" and self.registered_at is not None:
            logger.info(
                "event=ticket_registered ticket=%s kind=%s modem=%s sender=%s register_seconds=%.3f",
                self.ticket_number, self.kind, self.modem, self.sender, self.registered_at - (self.received_at or 0),
            )


@dataclass(frozen=True, slots=True)
class WebRegistered:
    """What registering a web complaint did (committed with the caller's transaction)."""

    ticket_id: TicketId
    ticket_number: str
    kind: str
    outbound_queued: bool


def dedupe_key(pdu_hex: str) -> str:
    """Identity of a stored SMS: the same PDU read twice (after a crash) is one SMS."""
    return hashlib.sha256("".join(pdu_hex.split()).upper().encode("ascii", "replace")).hexdigest()


class Intake:
    """Stores inbound SMS and registers tickets. Call from one thread at a time per instance."""

    def __init__(self, config: Config, classifier: Classifier, renderer: Renderer, clock: Clock = SYSTEM) -> None:
        self.config = config
        self.clock = clock
        self.classifier = classifier
        self.renderer = renderer

    # -- entry points --------------------------------------------------------

    def store_sms(self, modem: str, pdu_hex: str, reported_at: float) -> StoreResult:
        """Store one SMS read from a modem and act on it, in one transaction."""
        key = dedupe_key(pdu_hex)
        existing = db.InboundSms.get_or_none(db.InboundSms.dedupe_key == key)
        if existing is not None:
            return StoreResult(inbound_id=InboundId(existing.id), duplicate=True, kind=existing.kind)
        try:
            decoded: pdu.SmsDeliver | None = pdu.decode_deliver(pdu_hex)
            error = None
        except PduError as exc:
            decoded, error = None, str(exc)
        now = self.clock.time()
        try:
            with db.database.atomic():
                if decoded is None:
                    result = self._store_undecodable(modem, pdu_hex, key, reported_at, now, error or "undecodable")
                else:
                    result = self._store_decoded(modem, pdu_hex, key, decoded, reported_at, now)
            result.log_committed()
            return result
        except peewee.IntegrityError:
            # Another thread or instance stored the same PDU first.
            row = db.InboundSms.get_or_none(db.InboundSms.dedupe_key == key)
            if row is None:
                raise
            return StoreResult(inbound_id=InboundId(row.id), duplicate=True, kind=row.kind)

    def flush_incomplete(self, now: float | None = None) -> list[StoreResult]:
        """Register multipart SMS whose missing parts did not come within the configured wait."""
        now = self.clock.time() if now is None else now
        deadline = now - self.config.intake.concat_wait_minutes * 60
        stale = (
            db.InboundSms.select(db.InboundSms.sender_raw, db.InboundSms.concat_ref, db.InboundSms.concat_total)
            .where((db.InboundSms.state == "part") & (db.InboundSms.stored_at <= deadline))
            .distinct()
        )
        results = []
        for row in list(stale):
            with db.database.atomic():
                parts = self._parts(row.sender_raw, row.concat_ref, row.concat_total)
                result = self._complete(parts, now, incomplete=True) if parts else None
            if result is not None:
                result.log_committed()
                results.append(result)
        return results

    # -- storing -------------------------------------------------------------

    def _store_undecodable(
        self, modem: str, pdu_hex: str, key: str, reported_at: float, now: float, error: str
    ) -> StoreResult:
        row = db.InboundSms.create(
            modem=modem, dedupe_key=key, pdu=pdu_hex, reported_at=reported_at, stored_at=now,
            state="undecodable", kind="undecodable", error=error[:500],
        )
        db.Notification.create(
            inbound=row, destination=ADMIN, chat_id=self.config.telegram.admin_chat_id, kind="undecodable",
            queued_at=now,
        )
        logger.warning("event=sms_undecodable modem=%s inbound=%s error=%s", modem, row.id, error)
        return StoreResult(inbound_id=InboundId(row.id), kind="undecodable", admin_queued=True)

    def _store_decoded(
        self, modem: str, pdu_hex: str, key: str, sms: pdu.SmsDeliver, reported_at: float, now: float
    ) -> StoreResult:
        sender = classify_sender(sms.sender, alphanumeric=sms.sender_is_alphanumeric)
        row = db.InboundSms.create(
            modem=modem, dedupe_key=key, pdu=pdu_hex, sender_raw=sms.sender, sender=sender.msisdn,
            text=sms.text, encoding=sms.encoding, sent_at=sms.timestamp.timestamp(),
            concat_ref=sms.concat.reference if sms.concat else None,
            concat_total=sms.concat.total if sms.concat else None,
            concat_seq=sms.concat.sequence if sms.concat else None,
            reported_at=reported_at, stored_at=now, state="part" if sms.concat and sms.concat.total > 1 else "done",
        )
        if row.state == "part" and sms.concat is not None:
            parts = self._parts(sms.sender, sms.concat.reference, sms.concat.total)
            sequences = {p.concat_seq for p in parts}
            if len(sequences) < sms.concat.total:
                logger.info(
                    "event=sms_part_stored modem=%s inbound=%s part=%s/%s",
                    modem, row.id, sms.concat.sequence, sms.concat.total,
                )
                return StoreResult(inbound_id=InboundId(row.id))
            result = self._complete(parts, now, incomplete=False)
            return replace(result, inbound_id=InboundId(row.id))
        return self._handle(sender, sms.text, [row], reported_at, now, missing=())

    def _parts(self, sender_raw: str | None, ref: int | None, total: int | None) -> list[db.InboundSms]:
        rows = list(
            db.InboundSms.select()
            .where(
                (db.InboundSms.state == "part")
                & (db.InboundSms.sender_raw == sender_raw)
                & (db.InboundSms.concat_ref == ref)
                & (db.InboundSms.concat_total == total)
            )
            .order_by(db.InboundSms.concat_seq, db.InboundSms.id)
        )
        # The same part twice (a resend by the network) counts once.
        unique: dict[int | None, db.InboundSms] = {}
        for r in rows:
            unique.setdefault(r.concat_seq, r)
        return list(unique.values())

    def _complete(self, parts: Sequence[db.InboundSms], now: float, *, incomplete: bool) -> StoreResult:
        total = _part_header(parts[0])[1]
        present = {_part_header(p)[0] for p in parts}
        missing = tuple(i for i in range(1, total + 1) if i not in present)
        text = join_with_gaps([(_part_header(p)[0], pdu.decode_deliver(p.pdu)) for p in parts], total)
        # The register stage starts when the last part arrived.
        reported_at = max(p.reported_at for p in parts)
        assert parts[0].sender_raw is not None  # a part was decoded, so it has a sender
        sender = classify_sender(parts[0].sender_raw,
                                 alphanumeric=pdu.decode_deliver(parts[0].pdu).sender_is_alphanumeric)
        if incomplete:
            logger.warning("event=sms_incomplete parts=%s/%s missing=%s", len(present), total,
                           ",".join(map(str, missing)))
        return self._handle(sender, text, list(parts), reported_at, now, missing=missing)

    # -- acting on the kind --------------------------------------------------

    def _handle(
        self, sender: Sender, text: str, rows: list[db.InboundSms], reported_at: float, now: float,
        missing: tuple[int, ...],
    ) -> StoreResult:
        first = rows[0]
        result = self.classifier.classify(text, sender.raw)
        kind = result.kind if sender.is_subscriber else "operator"
        if kind == "status_query" and sender.msisdn is not None:
            result = self._unfounded_query(sender.msisdn, text, result)
            kind = result.kind
        ids = [r.id for r in rows]
        db.InboundSms.update(state="done", kind=kind).where(db.InboundSms.id.in_(ids)).execute()
        base = StoreResult(inbound_id=InboundId(first.id), kind=kind, modem=first.modem)

        if kind == "operator":
            db.Notification.create(
                inbound=first, destination=ADMIN, chat_id=self.config.telegram.admin_chat_id,
                kind="operator", queued_at=now,
            )
            logger.info("event=sms_operator modem=%s inbound=%s sender=%s", first.modem, first.id, sender.raw)
            return replace(base, admin_queued=True)

        assert sender.msisdn is not None
        thread = None
        if kind in conversations.JOINABLE:
            thread = conversations.find_thread(self.config, self.classifier, sender.msisdn, text, result, now)
        if kind == "too_short" and thread is None:
            self._queue_sms(sender.msisdn, self.renderer.help_sms(), "help", inbound=first, now=now)
            logger.info("event=sms_too_short modem=%s inbound=%s sender=%s", first.modem, first.id,
                        mask_msisdn(sender.msisdn))
            return replace(base, outbound_queued=True)

        if kind == "status_query":
            self._answer_status(sender.msisdn, result, first, now)
            return replace(base, outbound_queued=True)

        latest = self._flooding(sender.msisdn, ids, now)
        if latest is not None:
            if thread is not None:
                latest = thread.ticket  # a flood of answers: batched into the ticket they answer
            self._attach_followup(latest, sender.msisdn, text, rows, reported_at, now)
            return replace(base, kind="followup", ticket_number=latest.number, admin_queued=False,
                           followup_destinations=self._followup_destinations(latest))

        if thread is not None:
            dests = self._join_answer(thread, sender.msisdn, text, rows, reported_at, now)
            return replace(base, kind=conversations.ANSWER, ticket_number=thread.ticket.number,
                           outbound_queued=True, followup_destinations=dests,
                           answer_seconds=max(0.0, reported_at - thread.pic_at))

        ticket = self._create_ticket(sender, text, kind, first.modem, reported_at, now, missing)
        db.InboundSms.update(ticket=ticket).where(db.InboundSms.id.in_(ids)).execute()
        webhooks.ticket_event(self.config, ticket, "ticket.created", now=now)
        queued = False
        if kind == "complaint":
            self._queue_sms(sender.msisdn, self.renderer.ack_sms(ticket.number), "ack", inbound=first, now=now,
                            ticket=ticket)
            queued = True
        return replace(
            base, ticket_id=TicketId(ticket.id), ticket_number=ticket.number, received_at=reported_at,
            registered_at=now, outbound_queued=queued, sender=mask_msisdn(sender.msisdn),
        )

    # -- conversations (laporgub/conversations.py) ------------------------------

    def _join_answer(self, thread: conversations.Thread, msisdn: str, text: str, rows: list[db.InboundSms],
                     reported_at: float, now: float) -> tuple[str, ...]:
        """The SMS is ``thread.ticket``'s answer: posted in its groups as a reply, the citizen thanked."""
        ticket = thread.ticket
        db.InboundSms.update(kind=conversations.ANSWER, ticket=ticket).where(
            db.InboundSms.id.in_([r.id for r in rows])).execute()
        message = self.renderer.citizen_answer(ticket.number, msisdn, text, reported_at, thread.other_groups,
                                               thread.ambiguous)
        chat_ids = destinations(self.config)
        dests = conversations.answer_destinations(ticket, chat_ids)
        for dest in dests:
            db.Notification.create(ticket=ticket, inbound=rows[0], destination=dest, chat_id=chat_ids[dest],
                                   kind=conversations.ANSWER, text=message, queued_at=now)
        db.Ticket.update(waiting_since=None, updated_at=now).where(db.Ticket.id == ticket.id).execute()
        self._queue_sms(msisdn, self.renderer.answer_ack_sms(ticket.number), "answer_ack", inbound=rows[0], now=now,
                        ticket=ticket)
        logger.info("event=citizen_answer ticket=%s sender=%s reason=%s ambiguous=%s other_groups=%s "
                    "answer_seconds=%.0f groups=%s", ticket.number, mask_msisdn(msisdn), thread.reason,
                    thread.ambiguous, ",".join(thread.other_groups) or "-", reported_at - thread.pic_at,
                    ",".join(dests))
        return tuple(dests)

    # -- flood control (docs/sop.md) --------------------------------------------

    def _flooding(self, msisdn: str, current: list[int], now: float) -> db.Ticket | None:
        """The latest open ticket of a number that sent more than ``flood_count`` SMS in the window."""
        intake = self.config.intake
        since = now - intake.flood_window_minutes * 60
        recent = (
            db.InboundSms.select()
            .where(
                (db.InboundSms.sender == msisdn)
                & (db.InboundSms.stored_at >= since)
                & db.InboundSms.kind.in_(["complaint", "spam", "followup", conversations.ANSWER])
                & (db.InboundSms.concat_seq.is_null() | (db.InboundSms.concat_seq == 1))
                & db.InboundSms.id.not_in(current)
            )
            .count()
        )
        if recent < intake.flood_count:
            return None
        latest: db.Ticket | None = (
            db.Ticket.select()
            .where((db.Ticket.sender == msisdn) & (db.Ticket.status != "closed"))
            .order_by(db.Ticket.registered_at.desc())
            .first()
        )
        return latest

    def _followup_destinations(self, ticket: db.Ticket) -> tuple[str, ...]:
        rows = (
            db.Notification.select(db.Notification.destination)
            .where((db.Notification.ticket == ticket) & db.Notification.kind.in_(["ticket", "spam"]))
            .distinct()
        )
        return tuple(sorted(r.destination for r in rows)) or ("channel",)

    def _attach_followup(
        self, ticket: db.Ticket, msisdn: str, text: str, rows: list[db.InboundSms], reported_at: float, now: float,
    ) -> None:
        """Store the SMS as a follow-up of ``ticket``; posted to its groups at most every few minutes."""
        db.InboundSms.update(kind="followup", ticket=ticket).where(
            db.InboundSms.id.in_([r.id for r in rows])
        ).execute()
        message = self.renderer.followup(ticket.number, msisdn, text, reported_at)
        interval = self.config.intake.followup_interval_minutes * 60
        chat_ids = destinations(self.config)
        for dest in self._followup_destinations(ticket):
            if dest not in chat_ids:
                continue
            waiting = (
                db.Notification.select(db.Notification.next_attempt_at)
                .where((db.Notification.ticket == ticket) & (db.Notification.destination == dest)
                       & (db.Notification.kind == "followup") & (db.Notification.status == "pending"))
                .first()
            )
            if waiting is not None:
                due = waiting.next_attempt_at  # joins the batch already waiting
            else:
                last = (
                    db.Notification.select(peewee.fn.MAX(db.Notification.sent_at))
                    .where((db.Notification.ticket == ticket) & (db.Notification.destination == dest)
                           & (db.Notification.kind == "followup"))
                    .scalar()
                )
                due = max(now + interval, (last or 0) + interval)
            db.Notification.create(
                ticket=ticket, inbound=rows[0], destination=dest, chat_id=chat_ids[dest], kind="followup",
                text=message, queued_at=now, next_attempt_at=due,
            )
        logger.warning(
            "event=sms_flood ticket=%s sender=%s action=followup", ticket.number, mask_msisdn(msisdn)
        )

    def _create_ticket(
        self, sender: Sender, text: str, kind: str, modem: str | None, reported_at: float, now: float,
        missing: tuple[int, ...], channel: str = "sms",
    ) -> db.Ticket:
        return create_ticket(self.config, sender, text, kind, modem, reported_at, now, missing, channel)

    # -- web complaints (laporgub/api) ---------------------------------------------

    def register_web(self, text: str, msisdn: str | None, now: float) -> WebRegistered:
        """Register a complaint from the website as SMS complaints are: a ticket (channel ``web``) and,
        when the reporter gave a number, the same acknowledgement SMS.

        Spam phrases mark it as suspected spam (channel only, no SMS), as for an SMS; every
        other text is a complaint (a web form has no status queries or one-word tests). A web
        complaint without a number gets ``0000`` as the four digits of its ticket number.
        Call inside the caller's transaction: the API commits its idempotency row with it.
        """
        # Without a number, judge it as from an ordinary subscriber (an empty sender reads as an operator).
        sender_for_rules = msisdn or "+6281100000000"
        kind = "spam" if self.classifier.classify(text, sender_for_rules).kind == "spam" else "complaint"
        sender = Sender(raw=msisdn or "", msisdn=msisdn, is_subscriber=True)  # type: ignore[arg-type]
        ticket = self._create_ticket(sender, text, kind, None, now, now, (), channel="web")
        queued = kind == "complaint" and msisdn is not None
        if queued:
            assert msisdn is not None
            self._queue_sms(msisdn, self.renderer.ack_sms(ticket.number), "ack", inbound=None, now=now,
                            ticket=ticket)
        webhooks.ticket_event(self.config, ticket, "ticket.created", now=now)
        return WebRegistered(TicketId(ticket.id), ticket.number, kind, queued)

    def _queue_sms(
        self, destination: str, text: str, purpose: str, *, inbound: db.InboundSms | None, now: float,
        ticket: db.Ticket | None = None,
    ) -> None:
        if not is_indonesian_mobile(destination):
            # +0000000000, a landline, a foreign number: the centre texts Indonesian mobiles only (smsguard.py).
            logger.info("event=sms_not_queued reason=not_mobile purpose=%s ticket=%s to=%s", purpose,
                        ticket.number if ticket is not None else "-", mask_msisdn(destination))
            return
        db.OutboundSms.create(
            destination=destination, text=text, purpose=purpose, ticket=ticket, inbound=inbound, created_at=now,
        )

    def _unfounded_query(self, msisdn: str, text: str, result: Classification) -> Classification:
        """A "where is my report" that names a problem, from a number with no ticket, is a complaint.

        "Lampu jalan mati 2 minggu, laporan saya kemarin kok belum ditanggapi?" from a
        number we never heard from (the earlier report went to a kelurahan, a website or
        another number) would otherwise get "not found" and no PIC would see the problem:
        when in doubt, a complaint (docs/sop.md). A query naming a ticket number, or
        naming no topic, stays a status query.
        """
        if result.ticket_ref or db.Ticket.select().where(db.Ticket.sender == msisdn).exists():
            return result
        as_report = self.classifier.route(text)
        if any(g in self.config.groups for g in as_report.matched):
            logger.info("event=status_query_without_ticket_is_complaint sender=%s groups=%s",
                        mask_msisdn(msisdn), ",".join(as_report.groups))
            return as_report
        return result

    def _answer_status(self, msisdn: str, result: Classification, inbound: db.InboundSms, now: float) -> None:
        query = db.Ticket.select().where(db.Ticket.sender == msisdn)
        if result.ticket_ref:
            # Only the number that filed a ticket may learn its status.
            query = query.where(db.Ticket.number == result.ticket_ref)
        ticket = query.order_by(db.Ticket.registered_at.desc()).first()
        if ticket is None:
            text = self.renderer.status_unknown_sms(result.ticket_ref)
        else:
            # A ticket linked to an incident shows the incident's latest response (one answer for all).
            about = (db.PicResponse.ticket.in_(db.Ticket.select(db.Ticket.id).where(
                db.Ticket.incident == ticket.incident_id)) if ticket.incident_id else (db.PicResponse.ticket == ticket))
            last = (
                db.PicResponse.select()
                .where(about & (db.PicResponse.action != "reroute"))
                .order_by(db.PicResponse.created_at.desc())
                .first()
            )
            text = self.renderer.status_sms(
                ticket.number, ticket.status, last.text if last else None, last.agency if last else None,
                ticket.received_at,
            )
        self._queue_sms(msisdn, text, "status", inbound=inbound, now=now, ticket=ticket)
        logger.info("event=status_query ticket=%s sender=%s found=%s",
                    ticket.number if ticket else result.ticket_ref or "-", mask_msisdn(msisdn), ticket is not None)


def create_ticket(
    config: Config, sender: Sender, text: str, kind: str, modem: str | None, reported_at: float, now: float,
    missing: tuple[int, ...], channel: str = "sms",
) -> db.Ticket:
    """Allocate the next number of (day, four digits) and create the ticket (inside the caller's transaction)."""
    day = ticket_day(datetime.fromtimestamp(reported_at, timezone.utc), config.tz)
    four = last_four(sender.msisdn)
    if not db.is_sqlite():
        # PostgreSQL: instances allocate concurrently (SQLite's BEGIN IMMEDIATE serialises writers).
        # Queue allocators of one (day, four) until the holder commits, so MAX(seq) + 1 is free;
        # the unique key and the retry below stay as the last line of defence.
        db.database.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ticket:{day}:{four}",))
    for _attempt in range(20):
        seq = (
            db.Ticket.select(peewee.fn.MAX(db.Ticket.seq))
            .where((db.Ticket.day == day) & (db.Ticket.four == four))
            .scalar()
            or 0
        ) + 1
        try:
            with db.database.atomic():  # a savepoint: a clash retries, the outer transaction lives
                return db.Ticket.create(
                    number=format_ticket(day, four, seq), day=day, four=four, seq=seq, sender=sender.msisdn,
                    channel=channel, modem=modem, kind=kind, text=text,
                    missing_parts=",".join(map(str, missing)) or None,
                    received_at=reported_at, registered_at=now, updated_at=now,
                )
        except peewee.IntegrityError:
            continue  # another instance took this number; take the next
    raise peewee.IntegrityError(f"could not allocate a ticket number for {day}-{four}")


def join_with_gaps(parts: Sequence[tuple[int, pdu.SmsDeliver]], total: int) -> str:
    """Join the parts we have in order; a missing part becomes a visible marker."""
    by_seq = dict(parts)
    pieces: list[str] = []
    run: list[pdu.SmsDeliver] = []
    for seq in range(1, total + 1):
        if seq in by_seq:
            run.append(by_seq[seq])
            continue
        if run:
            pieces.append(pdu.join_parts(run))
            run = []
        pieces.append(wording("sms.missing_part", part=seq, total=total))
    if run:
        pieces.append(pdu.join_parts(run))
    return "".join(pieces).strip()


def _part_header(row: db.InboundSms) -> tuple[int, int]:
    """(sequence, total) of a stored part: a row in state ``part`` always has its concatenation header."""
    assert row.concat_seq is not None and row.concat_total is not None
    return row.concat_seq, row.concat_total


def split_answer(config: Config, renderer: Renderer, answer: db.InboundSms, now: float) -> db.Ticket | None:
    """Make a joined answer a ticket of its own (a complaint, as if it had come alone); None if it cannot
    (the number was erased). The filter routes it (its sweep finds the unrouted ticket); the citizen gets
    the acknowledgement with the new number. Call inside the caller's transaction."""
    if answer.sender is None:
        return None
    rows = conversations.answer_rows(answer)
    text = "".join(r.text or "" for r in rows)
    sender = Sender(raw=answer.sender_raw or answer.sender, msisdn=Msisdn(answer.sender), is_subscriber=True)
    ticket = create_ticket(config, sender, text, "complaint", answer.modem, answer.reported_at, now, ())
    db.InboundSms.update(kind="complaint", ticket=ticket).where(db.InboundSms.id.in_([r.id for r in rows])).execute()
    if is_indonesian_mobile(answer.sender):
        db.OutboundSms.create(destination=answer.sender, text=renderer.ack_sms(ticket.number), purpose="ack",
                              ticket=ticket, inbound=answer, created_at=now)
    webhooks.ticket_event(config, ticket, "ticket.created", now=now)
    return ticket
