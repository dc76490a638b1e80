"""Personal data (Indonesia's UU 27/2022 on personal data protection): retention, erasure, access, audit.

Plain functions over the database with the time passed in (see ``docs/privacy.md``):

* :func:`anonymise_closed`: the retention policy. Closed tickets last updated
  before a cut-off lose the citizen's number (ticket, its inbound SMS with the
  raw PDU, its outbound SMS) and are marked ``anonymised_at``; the rows stay,
  so the monthly report's figures do not change.
* :func:`daily_retention`: the above once a day (``RetentionRun`` per day),
  called from the Monitor's periodic check.
* :func:`erase`: a citizen's deletion request. Texts are kept (public-service
  record) with the number redacted from them; every stored form of the number
  is removed.
* :func:`export`: a citizen's access request, as a JSON-ready dict.
* :func:`record_audit` / :func:`list_audit`: the audit log of every display or
  removal of a number in clear.

No log line carries the number in clear: only :func:`mask_msisdn` forms.
"""

from __future__ import annotations

import calendar
import getpass
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any

import peewee

from laporgub import db
from laporgub.tickets import mask_msisdn, national_digits, normalize_msisdn

logger = logging.getLogger(__name__)

#: Stands where the number was (raw PDU, outbound destination): not a PDU, never sent anywhere.
ERASED = "ERASED"
SERVICE_ACTOR = "service"
#: Rows changed per transaction, so a big backlog does not hold the write lock for long.
BATCH = 500


# --------------------------------------------------------------------------
# The number and its spellings.


def parse_phone(text: str) -> str | None:
    """A citizen's number as given on the command line -> E.164, or None when it is not a subscriber number."""
    if not text or re.search(r"[^\d+\s\-()]", text):
        return None
    msisdn = normalize_msisdn(text)
    if msisdn is None or len(re.sub(r"\D", "", msisdn)) < 8:
        return None
    return msisdn


def _significant(msisdn: str) -> str:
    """The digits every spelling contains: ``+628123456789`` -> ``8123456789``."""
    digits = national_digits(msisdn)
    return digits[1:] if msisdn.startswith("+62") else digits


def spellings(msisdn: str) -> list[str]:
    """Forms in which the number may have been stored as an address: E.164, without '+', national."""
    forms = {msisdn, msisdn.lstrip("+"), national_digits(msisdn)}
    return sorted(forms, key=len, reverse=True)


def _number_pattern(msisdn: str) -> re.Pattern[str]:
    """The number in free text: ``+62 812-3456-789``, ``62812...``, ``0812...``, ``812...``; not inside more digits."""
    nsn = _significant(msisdn)
    body = r"[\s.\-]?".join(re.escape(d) for d in nsn)
    prefix = r"(?:\+?\s?62[\s.\-]?|0)?" if msisdn.startswith("+62") else r"(?:\+?)?"
    return re.compile(rf"(?<!\d){prefix}{body}(?!\d)")


def redact(text: str | None, msisdn: str) -> tuple[str | None, bool]:
    """``text`` with every spelling of the number replaced by its masked form; and whether anything changed."""
    if not text:
        return text, False
    new = _number_pattern(msisdn).sub(mask_msisdn(msisdn), text)
    return new, new != text


# --------------------------------------------------------------------------
# The audit log.


def current_actor() -> str:
    """The OS user running an admin command (``SUDO_USER`` first: the human behind sudo)."""
    for name in ("SUDO_USER", "LOGNAME", "USER"):
        value = os.environ.get(name)
        if value and value != "root":
            return value[:64]
    try:
        return getpass.getuser()[:64]
    except Exception:  # noqa: BLE001 - no passwd entry (containers)
        return f"uid:{os.getuid()}"


def record_audit(action: str, msisdn: str | None = None, detail: str = "", *, actor: str | None = None,
                 now: float | None = None) -> db.AuditLog:
    """Write one audit entry; the subject is stored masked. Call inside the act's transaction."""
    return db.AuditLog.create(
        at=time.time() if now is None else now,
        actor=actor or current_actor(),
        action=action,
        subject=mask_msisdn(msisdn) if msisdn else None,
        detail=detail,
    )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    subject: str | None
    detail: str

    def line(self, tz: tzinfo = timezone.utc) -> str:
        when = datetime.fromtimestamp(self.at, tz).isoformat(timespec="seconds")
        return f"{when}  {self.actor}  {self.action}  {self.subject or '-'}  {self.detail}".rstrip()


def list_audit(since: float | None = None, action: str | None = None) -> list[AuditEntry]:
    """Audit entries from ``since`` (epoch seconds) on, oldest first."""
    query = db.AuditLog.select().order_by(db.AuditLog.at, db.AuditLog.id)
    if since is not None:
        query = query.where(db.AuditLog.at >= since)
    if action is not None:
        query = query.where(db.AuditLog.action == action)
    return [AuditEntry(r.at, r.actor, r.action, r.subject, r.detail) for r in query]


# --------------------------------------------------------------------------
# Removing the number from rows.


def _scrub_inbound(row: db.InboundSms, msisdn: str | None) -> bool:
    """Remove the number from one inbound SMS row (sender, raw address, raw PDU and its hash)."""
    row.sender = None
    row.sender_raw = None
    row.pdu = ERASED
    # The dedupe key is a hash of the raw PDU: with the kept text and time it would give the number back.
    row.dedupe_key = f"erased-{row.id}"
    if row.state == "part":  # its other parts can no longer be matched by sender
        row.state = "done"
        row.error = "erased before all parts arrived"
    if msisdn:
        row.text, _ = redact(row.text, msisdn)
    row.save()
    return True


def _scrub_outbound(row: db.OutboundSms, msisdn: str | None) -> bool:
    row.destination = ERASED
    if row.status in ("pending", "sending"):
        row.status = "failed"
        row.last_error = "number erased (personal data)"
    if msisdn:
        row.text, _ = redact(row.text, msisdn)
    row.save()
    return True


def _scrub_ticket(ticket: db.Ticket, now: float) -> tuple[int, int]:
    """Anonymise one ticket and the SMS rows attached to it; returns (inbound, outbound) rows changed."""
    msisdn = ticket.sender
    inbound = outbound = 0
    for row in db.InboundSms.select().where(db.InboundSms.ticket == ticket.id):
        if row.pdu != ERASED or row.sender or row.sender_raw:
            inbound += _scrub_inbound(row, msisdn or row.sender)
    for row in db.OutboundSms.select().where(db.OutboundSms.ticket == ticket.id):
        if row.destination != ERASED:
            outbound += _scrub_outbound(row, msisdn or row.destination)
    if msisdn:
        ticket.text, _ = redact(ticket.text, msisdn)
        for response in db.PicResponse.select().where(db.PicResponse.ticket == ticket.id):
            text, changed = redact(response.text, msisdn)
            if changed:
                response.text = text
                response.save()
    # A web complaint's reporter name goes with the number (location and text: the number redacted).
    for web in db.WebComplaint.select().where(db.WebComplaint.ticket == ticket.id):
        web.reporter_name = None
        if msisdn:
            web.text, _ = redact(web.text, msisdn)
            web.location, _ = redact(web.location, msisdn)
        web.save()
    ticket.sender = None
    ticket.anonymised_at = ticket.anonymised_at or now
    ticket.save()
    return inbound, outbound


# --------------------------------------------------------------------------
# Retention.


def months_before(now: float, months: int, tz: tzinfo) -> float:
    """The same local date and time ``months`` calendar months before ``now`` (day clamped to the month's end)."""
    local = datetime.fromtimestamp(now, tz)
    total = local.year * 12 + (local.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).timestamp()


def anonymise_closed(before: float, now: float) -> int:
    """Anonymise closed tickets last updated before ``before``; returns how many. Idempotent.

    Only the number goes: the ticket, its texts, categories, responses and times
    stay, so counts and durations in reports are unchanged.
    """
    total = 0
    while True:
        with db.database.atomic():
            batch = list(
                db.Ticket.select()
                .where((db.Ticket.status == "closed") & (db.Ticket.updated_at < before)
                       & db.Ticket.anonymised_at.is_null())
                .order_by(db.Ticket.id)
                .limit(BATCH)
            )
            for ticket in batch:
                _scrub_ticket(ticket, now)
        total += len(batch)
        if len(batch) < BATCH:
            break
    # SMS that never became a ticket (status queries, help texts, operator messages) age out too.
    with db.database.atomic():
        for row in db.InboundSms.select().where(
            db.InboundSms.ticket.is_null() & (db.InboundSms.stored_at < before)
            & (db.InboundSms.pdu != ERASED) & (db.InboundSms.state != "part")
        ):
            _scrub_inbound(row, row.sender)
        for row in db.OutboundSms.select().where(
            db.OutboundSms.ticket.is_null() & (db.OutboundSms.created_at < before)
            & (db.OutboundSms.destination != ERASED) & db.OutboundSms.status.in_(("sent", "failed"))
        ):
            _scrub_outbound(row, row.destination)
    return total


def daily_retention(config: Any, now: float) -> int | None:
    """Apply ``[privacy]`` once per service-time day; returns tickets anonymised, or None if already done today."""
    tz = config.tz
    day = datetime.fromtimestamp(now, tz).date().isoformat()
    if db.RetentionRun.select().where(db.RetentionRun.day == day).exists():
        return None
    cutoff = months_before(now, config.privacy.retention_months, tz)
    count = anonymise_closed(cutoff, now)
    with db.database.atomic():
        if count:
            cut_day = datetime.fromtimestamp(cutoff, tz).date().isoformat()
            record_audit("retention", None, f"tickets={count} closed_before={cut_day}", actor=SERVICE_ACTOR, now=now)
        audit_months = config.privacy.audit_retention_months
        if audit_months > 0:
            db.AuditLog.delete().where(db.AuditLog.at < months_before(now, audit_months, tz)).execute()
        try:
            with db.database.atomic():
                db.RetentionRun.create(day=day, tickets=count, created_at=now)
        except peewee.IntegrityError:
            pass  # another instance ran it too: the work is idempotent
    if count:
        logger.info("event=retention_applied tickets=%s", count)
    return count


# --------------------------------------------------------------------------
# Erasure and access requests.


@dataclass(frozen=True, slots=True)
class EraseResult:
    tickets: int = 0
    inbound: int = 0
    outbound: int = 0
    texts: int = 0

    def summary(self) -> str:
        return (f"tickets={self.tickets} inbound_sms={self.inbound} outbound_sms={self.outbound} "
                f"texts_redacted={self.texts}")


#: Free-text columns searched for the number (beyond the rows addressed to or from it).
_TEXT_COLUMNS: tuple[tuple[type[db.BaseModel], str], ...] = (
    (db.Ticket, "text"), (db.InboundSms, "text"), (db.InboundSms, "error"), (db.OutboundSms, "text"),
    (db.OutboundSms, "last_error"), (db.PicResponse, "text"), (db.Notification, "text"),
    (db.Notification, "last_error"), (db.ChatReply, "text"), (db.ChatReply, "last_error"),
    (db.WebComplaint, "text"), (db.WebComplaint, "location"), (db.WebhookDelivery, "payload"),
)


def erase(msisdn: str, *, actor: str | None = None, reason: str = "", now: float | None = None) -> EraseResult:
    """Remove every stored form of ``msisdn``; texts stay, with the number redacted. Idempotent; audit-logged."""
    now = time.time() if now is None else now
    forms = spellings(msisdn)
    tickets = inbound = outbound = texts = 0
    with db.database.atomic():
        for ticket in db.Ticket.select().where(db.Ticket.sender.in_(forms)):
            i, o = _scrub_ticket(ticket, now)
            tickets, inbound, outbound = tickets + 1, inbound + i, outbound + o
        for row in db.InboundSms.select().where(db.InboundSms.sender.in_(forms) | db.InboundSms.sender_raw.in_(forms)):
            inbound += _scrub_inbound(row, msisdn)
        for row in db.OutboundSms.select().where(db.OutboundSms.destination.in_(forms)):
            outbound += _scrub_outbound(row, msisdn)
        # The number written in free text anywhere (a citizen signing with it, a PIC quoting it).
        nsn = _significant(msisdn)
        for model, name in _TEXT_COLUMNS:
            field = getattr(model, name)
            for row in model.select().where(field.contains(nsn)):
                new, changed = redact(getattr(row, name), msisdn)
                if changed:
                    setattr(row, name, new)
                    row.save(only=[field])
                    texts += 1
        result = EraseResult(tickets, inbound, outbound, texts)
        detail = result.summary() + (f" reason={reason}" if reason else "")
        record_audit("erase", msisdn, detail, actor=actor, now=now)
    logger.info("event=privacy_erase subject=%s %s", mask_msisdn(msisdn), result.summary())
    return result


def _iso(ts: float | None, tz: tzinfo) -> str | None:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds") if ts is not None else None


def export(msisdn: str, *, tz: tzinfo = timezone.utc, actor: str | None = None, reason: str = "",
           now: float | None = None) -> dict[str, Any]:
    """Everything stored about ``msisdn`` (its tickets, their texts and responses, its SMS both ways). Audit-logged.

    The one output that carries the number in clear: it is the citizen's own data.
    PICs appear by agency (and name, as the response SMS named them), never by Telegram id.
    """
    now = time.time() if now is None else now
    forms = spellings(msisdn)
    with db.database.atomic():
        tickets = list(db.Ticket.select().where(db.Ticket.sender.in_(forms)).order_by(db.Ticket.received_at))
        inbound = list(db.InboundSms.select().where(
            db.InboundSms.sender.in_(forms) | db.InboundSms.sender_raw.in_(forms)).order_by(db.InboundSms.stored_at))
        outbound = list(db.OutboundSms.select().where(
            db.OutboundSms.destination.in_(forms)).order_by(db.OutboundSms.created_at))
        numbers = {t.id: t.number for t in tickets}
        extra = {r.ticket_id for r in inbound + outbound if r.ticket_id and r.ticket_id not in numbers}
        if extra:
            numbers.update({t.id: t.number for t in db.Ticket.select(db.Ticket.id, db.Ticket.number)
                            .where(db.Ticket.id.in_(list(extra)))})
        data: dict[str, Any] = {
            "phone": msisdn,
            "exported_at": _iso(now, tz),
            "controller": "SMS Center LAPOR GUB! Provinsi Jawa Tengah",
            "tickets": [_ticket_dict(t, tz) for t in tickets],
            "inbound_sms": [{
                "ticket": numbers.get(r.ticket_id), "modem": r.modem, "sender": r.sender, "sender_raw": r.sender_raw,
                "text": r.text, "kind": r.kind, "state": r.state, "sent_at": _iso(r.sent_at, tz),
                "received_at": _iso(r.reported_at, tz), "pdu": r.pdu,
            } for r in inbound],
            "outbound_sms": [{
                "ticket": numbers.get(r.ticket_id), "destination": r.destination, "purpose": r.purpose,
                "text": r.text, "status": r.status, "created_at": _iso(r.created_at, tz),
                "sent_at": _iso(r.sent_at, tz),
            } for r in outbound],
        }
        data["counts"] = {k: len(data[k]) for k in ("tickets", "inbound_sms", "outbound_sms")}
        detail = " ".join(f"{k}={v}" for k, v in data["counts"].items()) + (f" reason={reason}" if reason else "")
        record_audit("export", msisdn, detail, actor=actor, now=now)
    logger.info("event=privacy_export subject=%s %s", mask_msisdn(msisdn), detail)
    return data


def _ticket_dict(t: db.Ticket, tz: tzinfo) -> dict[str, Any]:
    categories = db.TicketCategory.select().where(db.TicketCategory.ticket == t.id).order_by(db.TicketCategory.id)
    responses = db.PicResponse.select().where(db.PicResponse.ticket == t.id).order_by(db.PicResponse.created_at)
    return {
        "number": t.number, "sender": t.sender, "channel": t.channel, "kind": t.kind, "status": t.status,
        "text": t.text, "regency": t.regency, "received_at": _iso(t.received_at, tz),
        "updated_at": _iso(t.updated_at, tz), "anonymised_at": _iso(t.anonymised_at, tz),
        "groups": [c.group for c in categories if c.active],
        "responses": [{
            "agency": r.agency, "pic_name": r.pic_name, "action": r.action, "text": r.text,
            "created_at": _iso(r.created_at, tz),
        } for r in responses],
    }


__all__ = [
    "ERASED", "AuditEntry", "EraseResult", "anonymise_closed", "daily_retention", "erase", "export",
    "list_audit", "months_before", "parse_phone", "record_audit", "redact", "spellings",
]


# --------------------------------------------------------------------------
# The commands (``laporgub privacy erase|export``, ``laporgub audit``).


def parse_since(text: str, now: float, tz: tzinfo) -> float | None:
    """``30d``, ``12h``, ``2026-01-31`` (service time zone) or an ISO time -> epoch seconds; None if unreadable."""
    text = text.strip()
    m = re.fullmatch(r"(\d+)\s*([dhm])", text)
    if m:
        return now - int(m.group(1)) * {"d": 86400, "h": 3600, "m": 60}[m.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.timestamp()


def privacy_main(config: Any, args: Any, out: Any, err: Any) -> int:
    """Run one of the commands; 0 done, 1 a database failure, 2 bad arguments (one line saying why)."""
    import json

    tz = config.tz
    msisdn: str | None = None
    since: float | None = None
    if args.command == "audit":
        if args.since:
            since = parse_since(args.since, time.time(), tz)
            if since is None:
                print(f"--since: not a date, time or span (YYYY-MM-DD, ISO time, 30d, 12h): {args.since!r}", file=err)
                return 2
    else:
        msisdn = parse_phone(args.phone)
        if msisdn is None:
            print(f"--phone: not a subscriber phone number: {args.phone!r} (e.g. +628123456789 or 08123456789)",
                  file=err)
            return 2
    try:
        database = db.open_database(config.service.database, create=False)
    except Exception as exc:  # noqa: BLE001 - reported as one line
        print(f"service.database: cannot open: {type(exc).__name__}: {exc}", file=err)
        return 1
    try:
        with database.connection_context():
            if args.command == "audit":
                entries = list_audit(since)
                for entry in entries:
                    print(entry.line(tz), file=out)
                print(f"{len(entries)} audit entr{'y' if len(entries) == 1 else 'ies'}", file=err)
                return 0
            assert msisdn is not None
            if args.action == "erase":
                result = erase(msisdn, reason=args.reason)
                print(f"erased {mask_msisdn(msisdn)}: {result.tickets} ticket(s) anonymised, {result.inbound} inbound "
                      f"SMS, {result.outbound} outbound SMS, {result.texts} text(s) redacted", file=out)
                return 0
            data = export(msisdn, tz=tz, reason=args.reason)
            text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
            if args.out:
                try:
                    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        fh.write(text)
                except OSError as exc:  # the export stays audited: it was produced, not delivered
                    print(f"--out: cannot write {args.out}: {exc.strerror}", file=err)
                    return 1
                print(f"exported {mask_msisdn(msisdn)} to {args.out}: {data['counts']['tickets']} ticket(s), "
                      f"{data['counts']['inbound_sms']} inbound SMS, {data['counts']['outbound_sms']} outbound SMS",
                      file=err)
            else:
                out.write(text)
            return 0
    finally:
        if not database.is_closed():
            database.close()
