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
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import peewee

from laporgub import db, pdu
from laporgub.clock import SYSTEM
from laporgub.masking import ascii_digits, mask_msisdn, mask_text, national_digits, number_runs

if TYPE_CHECKING:
    from laporgub.config import Config

logger = logging.getLogger(__name__)

#: Stands where the number was (raw PDU, outbound destination): not a PDU, never sent anywhere.
ERASED = "ERASED"
#: Stands where a web complaint's request hash was: a repeat of its Idempotency-Key gets the same
#: ticket without a comparison (laporgub/api/complaints.py).
ERASED_HASH = "erased"
SERVICE_ACTOR = "service"
#: Rows changed per transaction, so a big backlog does not hold the write lock for long.
BATCH = 500


# --------------------------------------------------------------------------
# The number and its spellings.


def _significant(msisdn: str) -> str:
    """The digits every spelling contains: ``+628123456789`` -> ``8123456789``."""
    digits = national_digits(msisdn)
    return digits[1:] if msisdn.startswith("+62") else digits


def spellings(msisdn: str) -> list[str]:
    """Forms in which the number may have been stored as an address: E.164, without '+', national."""
    forms = {msisdn, msisdn.lstrip("+"), national_digits(msisdn)}
    return sorted(forms, key=len, reverse=True)


def pdu_forms(msisdn: str) -> list[str]:
    """How the number can sit inside a raw PDU (hex): as an address in semi-octets, or as text digits.

    Addresses (originator, service centre) are swapped BCD from an octet boundary: the
    international digits (TOA 0x91) or the national ones (0x81), searched by their whole
    octets (an odd last digit shares its octet with the ``F`` filler). Digits sent as UCS2 or
    8-bit text are searched too. Digits inside 7-bit packed text depend on their bit offset and
    are not searched: such a PDU decodes, and its decoded text is what the sweep reads.
    """
    forms: list[str] = []
    for digits in dict.fromkeys((msisdn.lstrip("+"), national_digits(msisdn))):
        even = digits[: len(digits) // 2 * 2]
        forms.append(pdu.encode_semi_octets(even).hex().upper())
        forms.append(digits.encode("utf-16-be").hex().upper())
        forms.append(digits.encode("ascii").hex().upper())
    return forms


def pdu_holds(pdu_hex: str | None, forms: list[str]) -> bool:
    """Whether a stored PDU holds one of :func:`pdu_forms` (an already erased one holds nothing)."""
    if not pdu_hex or pdu_hex == ERASED:
        return False
    text = "".join(pdu_hex.split()).upper()
    return any(form in text for form in forms)


@overload
def redact(text: str, msisdn: str) -> tuple[str, bool]: ...


@overload
def redact(text: str | None, msisdn: str) -> tuple[str | None, bool]: ...


def redact(text: str | None, msisdn: str) -> tuple[str | None, bool]:
    """``text`` with every spelling of the number replaced by its masked form; and whether anything changed.

    Spellings are found with the broad pattern every output is masked by (:func:`laporgub.masking.number_runs`:
    any separators, ``+62``/``62``/``0`` or none, letters touching), not by a fixed list: a run of digits
    whose digits contain the number's significant digits loses them, with the prefix written before them.
    """
    if not text:
        return text, False
    nsn = _significant(msisdn)
    if nsn not in ascii_digits(text):  # cheap and never wrong: a run's digits are a substring of these
        return text, False
    masked = mask_msisdn(msisdn)
    indonesian = msisdn.startswith("+62")
    out: list[str] = []
    last = 0
    for run in number_runs(text):
        at = run.digits.find(nsn)
        while at >= 0:
            first, final = at, at + len(nsn) - 1
            if indonesian:
                for prefix in ("0062", "62", "0"):
                    if run.digits[:first].endswith(prefix):
                        first -= len(prefix)
                        break
            start = run.start if first == 0 else run.positions[first]
            end = run.end if final == len(run.digits) - 1 else run.positions[final] + 1
            if start >= last:
                out.append(text[last:start])
                out.append(masked)
                last = end
            at = run.digits.find(nsn, final + 1)
    if not out:
        return text, False
    out.append(text[last:])
    new = "".join(out)
    return new, new != text


# --------------------------------------------------------------------------
# The request-hash key.

#: The systemd credential (``LoadCredential=request_hash_key:...``) read first.
HASH_KEY_CREDENTIAL = "request_hash_key"


def read_hash_key(privacy: Any, token: str, environ: Mapping[str, str] | None = None) -> tuple[bytes, str]:
    """The secret that keys stored request hashes, and where it came from.

    Order: the systemd credential ``request_hash_key`` (``$CREDENTIALS_DIRECTORY``), then
    ``[privacy] hash_key_env``, then ``hash_key_file`` (a relative name is a credential name).
    Without any, a key derived from the bot token (HMAC with a fixed label: the token
    itself is not recoverable from it, and it lives outside the database too); a dedicated
    key lets the token be rotated without changing the hashes of pending idempotency keys.

    Raises:
        ConfigError: a configured source is missing or empty (naming the key).
    """
    from laporgub.config import ConfigError, exposed_secret_file

    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / HASH_KEY_CREDENTIAL).is_file():
        value = (Path(cred_dir) / HASH_KEY_CREDENTIAL).read_bytes().strip()
        if value:
            return value, "credential"
    if getattr(privacy, "hash_key_env", None):
        value = env.get(privacy.hash_key_env, "").strip().encode()
        if not value:
            raise ConfigError([f"privacy.hash_key_env: environment variable {privacy.hash_key_env} is not set "
                               "or empty"])
        return value, "hash_key_env"
    if getattr(privacy, "hash_key_file", None):
        file = Path(privacy.hash_key_file)
        exposed = exposed_secret_file("privacy.hash_key_file", file) if file.is_absolute() else None
        if not file.is_absolute() and cred_dir:
            file = Path(cred_dir) / file
        if exposed:
            raise ConfigError([exposed])
        try:
            value = file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError([f"privacy.hash_key_file: cannot read {privacy.hash_key_file}: "
                               f"{exc.strerror or exc}"]) from None
        if not value:
            raise ConfigError([f"privacy.hash_key_file: {privacy.hash_key_file} is empty"])
        return value, "hash_key_file"
    return hmac.new(token.encode(), b"laporgub request-hash key v1", hashlib.sha256).digest(), "derived"


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
        at=SYSTEM.time() if now is None else now,
        actor=actor or current_actor(),
        action=action,
        subject=mask_msisdn(msisdn) if msisdn else None,
        detail=mask_text(detail),  # a --reason may quote a number
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
    for out in db.OutboundSms.select().where(db.OutboundSms.ticket == ticket.id):
        if out.destination != ERASED:
            outbound += _scrub_outbound(out, msisdn or out.destination)
    if msisdn:
        ticket.text, _ = redact(ticket.text, msisdn)
        for response in db.PicResponse.select().where(db.PicResponse.ticket == ticket.id):
            text, changed = redact(response.text, msisdn)
            if changed:
                response.text = text
                response.save()
    # A web complaint's reporter name goes with the number (location, hint and text: the number redacted).
    for web in db.WebComplaint.select().where(db.WebComplaint.ticket == ticket.id):
        web.reporter_name = None
        if msisdn:
            web.text, _ = redact(web.text, msisdn)
            web.location, _ = redact(web.location, msisdn)
            web.category_hint, _ = redact(web.category_hint, msisdn)
        web.save()
    # The request hash covered the number (and the name): a guess could be confirmed against it.
    db.IdempotencyKey.update(request_hash=ERASED_HASH).where(db.IdempotencyKey.ticket == ticket.id).execute()
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
        for out in db.OutboundSms.select().where(
            db.OutboundSms.ticket.is_null() & (db.OutboundSms.created_at < before)
            & (db.OutboundSms.destination != ERASED) & db.OutboundSms.status.in_(("sent", "failed"))
        ):
            _scrub_outbound(out, out.destination)
    return total


def daily_retention(config: Config, now: float) -> int | None:
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
        if db.is_sqlite():
            # The anonymised rows' old versions out of the WAL too (secure_delete zeroed them in the pages);
            # on PostgreSQL autovacuum reclaims them (an erasure request vacuums at once: see erase()).
            purge_freed([])
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
    pdus: int = 0
    hashes: int = 0
    #: What became of the freed pages: "checkpointed", "vacuumed", or why not (see :func:`purge_freed`).
    purged: str = ""

    def summary(self) -> str:
        return (f"tickets={self.tickets} inbound_sms={self.inbound} outbound_sms={self.outbound} "
                f"texts_redacted={self.texts} pdus_erased={self.pdus} hashes_dropped={self.hashes}")


#: Columns the sweep leaves alone: hashes and PDUs are handled by what they were made from
#: (a PDU by its semi-octets, a hash dropped with its source), identifiers cannot hold a number.
_NOT_SWEPT: frozenset[tuple[str, str]] = frozenset({
    ("inbound_sms", "pdu"), ("inbound_sms", "dedupe_key"), ("idempotency_key", "request_hash"),
    ("api_key", "key_hash"), ("api_key", "prefix"), ("ticket", "number"), ("ticket", "day"), ("ticket", "four"),
    ("webhook_delivery", "ticket_number"), ("webhook_delivery", "event_id"),
})
#: Rows read per query while sweeping.
SWEEP_BATCH = 2000


def swept_columns() -> list[tuple[type[db.BaseModel], peewee.Field]]:
    """Every text column of every table that can hold a number someone typed: all of them, but :data:`_NOT_SWEPT`.

    Derived from the models, so a column added later is swept without anyone remembering to list it.
    """
    columns: list[tuple[type[db.BaseModel], peewee.Field]] = []
    for model in db.MODELS:
        for field in model._meta.sorted_fields:
            if not isinstance(field, (peewee.CharField, peewee.TextField)) or field.primary_key:
                continue
            if (model._meta.table_name, field.column_name) in _NOT_SWEPT:
                continue
            columns.append((model, field))
    return columns


def _redact_json(payload: str, msisdn: str) -> tuple[str, bool]:
    """A webhook body with the number redacted from every string in it (escapes read as JSON reads them)."""
    try:
        data = json.loads(payload)
    except ValueError:
        new, changed = redact(payload, msisdn)
        return new or "", changed

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, msisdn)[0]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    cleaned = walk(data)
    if cleaned == data:
        return payload, False
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"), sort_keys=True), True


def _sweep(msisdn: str) -> dict[tuple[type[db.BaseModel], str], list[int]]:
    """Read every swept column and PDU; the ids of rows that hold the number, per (table, column).

    Read outside the write transaction, in batches, so a full scan never holds the write lock.
    """
    nsn = _significant(msisdn)
    forms = pdu_forms(msisdn)
    found: dict[tuple[type[db.BaseModel], str], list[int]] = {}
    targets: list[tuple[type[db.BaseModel], peewee.Field]] = [*swept_columns(), (db.InboundSms, db.InboundSms.pdu)]
    for model, field in targets:
        pk = model._meta.primary_key
        after: Any = None
        while True:
            query = model.select(pk, field).where(field.is_null(False)).order_by(pk).limit(SWEEP_BATCH)
            if after is not None:
                query = query.where(pk > after)
            rows = list(db.tuples(query))
            for key, value in rows:
                if field is db.InboundSms.pdu:
                    hit = pdu_holds(value, forms)
                elif field is db.WebhookDelivery.payload:
                    hit = nsn in ascii_digits(value) and _redact_json(value, msisdn)[1]
                else:
                    hit = isinstance(value, str) and nsn in ascii_digits(value) and redact(value, msisdn)[1]
                if hit:
                    found.setdefault((model, field.name), []).append(key)
            if len(rows) < SWEEP_BATCH:
                break
            after = rows[-1][0]
    return found


def erase(msisdn: str, *, actor: str | None = None, reason: str = "", now: float | None = None,
          purge: bool = True) -> EraseResult:
    """Remove every stored form of ``msisdn``; texts stay, with the number redacted. Idempotent; audit-logged.

    1. Rows addressed from or to the number lose it (tickets, SMS both ways, the web reporter's name).
    2. Every text column of every table (:func:`swept_columns`) is read and every spelling the broad
       pattern finds is masked; webhook bodies are read as JSON; raw PDUs are searched for the number
       in semi-octets (:func:`pdu_forms`).
    3. An inbound SMS whose text or PDU held the number loses its PDU and the PDU's hash; a web
       complaint that held it loses its request hash.
    4. With ``purge``, the freed pages are overwritten (:func:`purge_freed`): the database file, its
       WAL and a backup taken afterwards hold no trace.
    """
    now = SYSTEM.time() if now is None else now
    forms = spellings(msisdn)
    tickets = inbound = outbound = 0
    with db.database.atomic():
        for ticket in db.Ticket.select().where(db.Ticket.sender.in_(forms)):
            i, o = _scrub_ticket(ticket, now)
            tickets, inbound, outbound = tickets + 1, inbound + i, outbound + o
        for row in db.InboundSms.select().where(db.InboundSms.sender.in_(forms) | db.InboundSms.sender_raw.in_(forms)):
            inbound += _scrub_inbound(row, msisdn)
        for out in db.OutboundSms.select().where(db.OutboundSms.destination.in_(forms)):
            outbound += _scrub_outbound(out, msisdn)
    found = _sweep(msisdn)
    texts = pdus = hashes = 0
    with db.database.atomic():
        inbound_rows: set[int] = set()
        web_tickets: set[int] = set()
        for (model, name), ids in found.items():
            field = getattr(model, name)
            pk = model._meta.primary_key
            for key in ids:
                found_row = model.get_or_none(pk == key)
                if found_row is None:
                    continue
                if model is db.InboundSms:
                    inbound_rows.add(key)
                    if name == "pdu":
                        continue
                if isinstance(found_row, db.WebComplaint):
                    web_tickets.add(found_row.ticket_id)
                value = getattr(found_row, name)
                if model is db.WebhookDelivery and name == "payload":
                    new, changed = _redact_json(value, msisdn)
                else:
                    new, changed = redact(value, msisdn)
                if changed:
                    model.update({field: new}).where(pk == key).execute()
                    texts += 1
        for row in db.InboundSms.select().where(db.InboundSms.id.in_(list(inbound_rows) or [0])):
            if row.pdu != ERASED:
                db.InboundSms.update(pdu=ERASED, dedupe_key=f"erased-{row.id}").where(
                    db.InboundSms.id == row.id).execute()
                pdus += 1
        if web_tickets:
            hashes = db.IdempotencyKey.update(request_hash=ERASED_HASH).where(
                db.IdempotencyKey.ticket.in_(list(web_tickets)) & (db.IdempotencyKey.request_hash != ERASED_HASH)
            ).execute()
        result = EraseResult(tickets, inbound, outbound, texts, pdus, hashes)
        detail = result.summary() + (f" reason={reason}" if reason else "")
        record_audit("erase", msisdn, detail, actor=actor, now=now)
    if purge:
        result = replace(result, purged=purge_freed(_touched_tables(found, tickets, inbound, outbound)))
    logger.info("event=privacy_erase subject=%s %s purged=%s", mask_msisdn(msisdn), result.summary(),
                result.purged or "-")
    return result


def _touched_tables(found: dict[tuple[type[db.BaseModel], str], list[int]], tickets: int, inbound: int,
                    outbound: int) -> list[str]:
    tables = {model._meta.table_name for model, _name in found}
    if tickets:
        tables |= {"ticket", "inbound_sms", "outbound_sms", "pic_response", "web_complaint", "idempotency_key"}
    if inbound:
        tables.add("inbound_sms")
    if outbound:
        tables.add("outbound_sms")
    tables.add("audit_log")
    return sorted(tables)


def purge_freed(tables: list[str], attempts: int = 50) -> str:
    """Overwrite what updates and deletes left behind, so the files hold no old version of a row.

    SQLite: every connection runs with ``secure_delete`` (freed space is zeroed as it is freed), and
    a ``TRUNCATE`` checkpoint copies the WAL into the database file and empties the WAL, where the
    old pages otherwise stay until overwritten. A reader in the middle of a transaction delays it:
    retried for about 5 s. PostgreSQL: ``VACUUM FULL`` of the touched tables rewrites them (and their
    indexes) into new files, so no dead row version is left in a page; it locks each table for the
    moment of the rewrite; ``ANALYZE`` and a vacuum of ``pg_statistic`` replace the planner's
    samples of the columns. The server's WAL and its archives keep old versions until they are
    recycled, as backups do (docs/privacy.md).

    Returns:
        ``checkpointed``, ``vacuumed``, or a short reason why the purge was incomplete.
    """
    database = db.database.obj
    if isinstance(database, peewee.SqliteDatabase):
        for _ in range(attempts):
            busy, _log, _done = database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return "checkpointed"
            time.sleep(0.1)
        logger.warning("event=privacy_checkpoint_busy tables=%s", ",".join(tables))
        return "checkpoint incomplete (a reader held the WAL; the next checkpoint completes it)"
    # VACUUM FULL keeps the row versions a transaction may still see ("recently dead"): wait until
    # no transaction older than the erase runs, as the SQLite branch waits for a reader to leave the
    # WAL. Older means a transaction id or a snapshot's xmin before this mark, taken after the erase
    # committed. Every database counts: a snapshot's xmin is the oldest transaction running on the
    # whole server, so a long transaction in another database gives new snapshots here (the
    # vacuum's own among them) an xmin from before the erase. A transaction holds the horizon by
    # its snapshot (backend_xmin) or, between two statements of one that wrote, by its own id
    # alone (backend_xid). A role that may not see other roles' sessions sees only its own.
    mark = database.execute_sql("SELECT txid_current()").fetchone()[0]
    waited_in_vain = True
    for _ in range(attempts * 6):  # about 30 s: a loaded machine's slowest transaction
        older = database.execute_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND ((backend_xid IS NOT NULL AND age(backend_xid) > age((%s::bigint %% 4294967296)::text::xid)) "
            "OR (backend_xmin IS NOT NULL AND age(backend_xmin) > age((%s::bigint %% 4294967296)::text::xid)))",
            (mark, mark)).fetchone()[0]
        if not older:
            waited_in_vain = False
            break
        time.sleep(0.1)
    if waited_in_vain:
        logger.warning("event=privacy_vacuum_waited_in_vain tables=%s", ",".join(tables))
    known = {m._meta.table_name for m in db.MODELS}
    for table in tables:
        if table in known:
            # ANALYZE too: the planner's statistics (pg_statistic) keep sample values of each column.
            database.execute_sql(f'VACUUM (FULL, ANALYZE) "{table}"')
    try:
        # The replaced statistics rows are dead tuples of pg_statistic: gone once it is vacuumed (the
        # database owner may; a user who may not gets a warning, and autovacuum does it later).
        database.execute_sql("VACUUM pg_catalog.pg_statistic")
    except peewee.DatabaseError as exc:
        logger.warning("event=privacy_statistics_not_vacuumed error=%s", exc)
    if waited_in_vain:
        return "vacuum incomplete (a transaction open since before the erase may keep old row versions until " \
               "the next vacuum)"
    return "vacuumed"


def _iso(ts: float | None, tz: tzinfo) -> str | None:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds") if ts is not None else None


def export(msisdn: str, *, tz: tzinfo = timezone.utc, actor: str | None = None, reason: str = "",
           now: float | None = None) -> dict[str, Any]:
    """Everything stored about ``msisdn`` (its tickets, their texts and responses, its SMS both ways). Audit-logged.

    The one output that carries the number in clear: it is the citizen's own data.
    PICs appear by agency (and name, as the response SMS named them), never by Telegram id.
    """
    now = SYSTEM.time() if now is None else now
    forms = spellings(msisdn)
    with db.database.atomic():
        tickets = list(db.Ticket.select().where(db.Ticket.sender.in_(forms)).order_by(db.Ticket.received_at))
        inbound = list(db.InboundSms.select().where(
            db.InboundSms.sender.in_(forms) | db.InboundSms.sender_raw.in_(forms)).order_by(db.InboundSms.stored_at))
        outbound = list(db.OutboundSms.select().where(
            db.OutboundSms.destination.in_(forms)).order_by(db.OutboundSms.created_at))
        numbers: dict[int | None, str] = {t.id: t.number for t in tickets}
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
        "web": [{"reporter_name": w.reporter_name, "category_hint": w.category_hint, "location": w.location,
                 "text": w.text} for w in db.WebComplaint.select().where(db.WebComplaint.ticket == t.id)],
        "responses": [{
            "agency": r.agency, "pic_name": r.pic_name, "action": r.action, "text": r.text,
            "created_at": _iso(r.created_at, tz),
        } for r in responses],
    }


__all__ = [
    "ERASED", "AuditEntry", "EraseResult", "anonymise_closed", "daily_retention", "erase", "export",
    "list_audit", "months_before", "record_audit", "redact", "spellings",
]
