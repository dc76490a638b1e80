"""A web complaint into the same pipeline as an SMS: ticket, idempotency, and who to tell afterwards.

Plain functions over the database. :func:`submit` commits, in one
transaction, the ticket (through :meth:`Intake.register_web`, so the
acknowledgement SMS and the ``ticket.created`` webhook are the same as for an
SMS), what the web form carried beyond the text, and the ``Idempotency-Key``.
The caller then tells the keyword filter, as the registry does for an SMS.

The request hash stored with an ``Idempotency-Key`` covers the reporter's
number and name, so it is an HMAC-SHA256 under a secret kept outside the
database (:func:`laporgub.privacy.read_hash_key`): a copy of the database alone
cannot confirm a guessed number against it (a plain SHA-256 fell to brute force
in seconds, the ticket number giving away four digits). An erasure drops it
(``erased``); a repeat of that key then gets its ticket without a comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

import peewee

from laporgub import db
from laporgub.intake import Intake
from laporgub.masking import mask_msisdn
from laporgub.privacy import ERASED_HASH
from laporgub.render import wording
from laporgub.types import TicketId

logger = logging.getLogger(__name__)


class IdempotencyConflict(Exception):
    """Raised when an ``Idempotency-Key`` is reused with a different request."""


@dataclass(frozen=True, slots=True)
class WebComplaintData:
    """A validated web complaint (from ``POST /api/v1/complaints`` or Open311)."""

    text: str
    phone: str | None = None  # E.164
    name: str | None = None
    category_hint: str | None = None
    location: str | None = None

    def request_hash(self, key: bytes) -> str:
        """HMAC-SHA256 of the fields under ``key`` (hex): equal for an equal request, useless without the key."""
        if not key:
            raise ValueError("request hashes need a key")
        fields = {"text": self.text, "phone": self.phone, "name": self.name, "category_hint": self.category_hint,
                  "location": self.location}
        body = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()
        return hmac.new(key, body, hashlib.sha256).hexdigest()

    def ticket_text(self) -> str:
        """The ticket's text: what the citizen wrote, then the location and hint, which PICs read
        in Telegram and the keyword filter routes by (a regency in the location reaches kabkota)."""
        extra = []
        if self.location:
            extra.append(wording("api.location", location=self.location))
        if self.category_hint:
            extra.append(wording("api.category", category=self.category_hint))
        return self.text if not extra else self.text + "\n" + "\n".join(extra)


@dataclass(frozen=True, slots=True)
class Submitted:
    """The outcome of a submit; ``created`` is False for a repeated ``Idempotency-Key``."""

    ticket_id: TicketId
    ticket_number: str
    kind: str
    created: bool
    outbound_queued: bool = False


def submit(intake: Intake, data: WebComplaintData, api_key_id: int | None, idempotency_key: str | None,
           now: float | None = None, *, hash_key: bytes) -> Submitted:
    """Register a web complaint once per idempotency key. Needs a connection in this thread.

    Args:
        hash_key: the request-hash secret (:func:`laporgub.privacy.read_hash_key`).

    Raises:
        IdempotencyConflict: the key was used before for a different complaint.
    """
    now = intake.clock.time() if now is None else now
    digest = data.request_hash(hash_key)
    try:
        with db.database.atomic():
            if idempotency_key is not None:
                earlier = _earlier(api_key_id, idempotency_key, digest)
                if earlier is not None:
                    return earlier
            reg = intake.register_web(data.ticket_text(), data.phone, now)
            db.WebComplaint.create(ticket=reg.ticket_id, api_key=api_key_id, text=data.text,
                                   reporter_name=data.name, category_hint=data.category_hint,
                                   location=data.location, created_at=now)
            if idempotency_key is not None:
                db.IdempotencyKey.create(api_key=api_key_id, key=idempotency_key, request_hash=digest,
                                         ticket=reg.ticket_id, created_at=now)
    except peewee.IntegrityError:
        # The same key committed by a concurrent request (another thread or instance): ours rolled back.
        if idempotency_key is None:
            raise
        earlier = _earlier(api_key_id, idempotency_key, digest)
        if earlier is None:
            raise
        return earlier
    logger.info("event=ticket_registered ticket=%s kind=%s channel=web sender=%s", reg.ticket_number, reg.kind,
                mask_msisdn(data.phone))
    return Submitted(reg.ticket_id, reg.ticket_number, reg.kind, True, reg.outbound_queued)


def _earlier(api_key_id: int | None, key: str, digest: str) -> Submitted | None:
    row = (db.IdempotencyKey.select(db.IdempotencyKey, db.Ticket)
           .join(db.Ticket, on=(db.IdempotencyKey.ticket == db.Ticket.id))
           .where((db.IdempotencyKey.api_key == api_key_id) & (db.IdempotencyKey.key == key)).first())
    if row is None:
        return None
    if row.request_hash not in (digest, ERASED_HASH):
        raise IdempotencyConflict(key)
    return Submitted(TicketId(row.ticket.id), row.ticket.number, row.ticket.kind, False)
