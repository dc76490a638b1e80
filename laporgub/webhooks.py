"""Signed webhooks for the website: the durable outbox, signing, claims, retries, replay.

Plain functions over the database, no threads; the WebhookSender actor
(``laporgub/actors/webhooks.py``) drives them.

* :func:`ticket_event` is called by the code that changes a ticket (intake,
  routing, the PICs' responses), inside the transaction of that change, so an
  event exists exactly when its change committed. Without ``[[api.webhooks]]``
  it does nothing.
* Each event is one row per endpoint (``WebhookDelivery``), with an event id
  shared by the endpoints, for the receiver's idempotency.
* A row is sent only when every earlier row of the same ticket for the same
  endpoint was delivered or given up: events of one ticket arrive in order.
* Claims carry a lease (``claimed_by``/``claimed_at``): two instances on one
  PostgreSQL never send a row at the same time, and a dead instance's claim is
  taken over after :data:`LEASE_SECONDS`.
* A failed attempt is retried after ``initial_backoff_seconds``, doubling up to
  ``max_backoff_seconds``; after ``dead_after_hours`` the row is ``dead``.
  ``laporgub webhooks replay`` puts rows back in the queue.

Signature (docs/api.md): ``X-LaporGub-Signature: sha256=<hex>``, the
HMAC-SHA256 with the endpoint's secret over ``"<timestamp>.<body>"``, where
timestamp is ``X-LaporGub-Timestamp`` (UNIX seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import peewee

from laporgub import db, leases
from laporgub.clock import SYSTEM
from laporgub.config import Config, WebhookConfig

logger = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = ("ticket.created", "ticket.routed", "ticket.rerouted", "ticket.responded", "ticket.closed")
#: A claimed row whose sender died is taken over after this many seconds (the default of
#: ``[service] claim_seconds``, which applies; see leases.py).
LEASE_SECONDS = leases.CLAIM_SECONDS
#: Receivers should refuse a signature whose timestamp is further than this from their clock.
SIGNATURE_TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "X-LaporGub-Signature"
TIMESTAMP_HEADER = "X-LaporGub-Timestamp"
EVENT_ID_HEADER = "X-LaporGub-Event-Id"
EVENT_HEADER = "X-LaporGub-Event"


def iso(epoch: float | None) -> str | None:
    """UTC ISO 8601 with a ``Z`` (what webhook payloads carry)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------
# Writing events (inside the caller's transaction).


def ticket_event(config: Config, ticket: db.Ticket, event: str, data: dict[str, object] | None = None,
                 now: float | None = None) -> str | None:
    """Queue ``event`` of ``ticket`` for every configured endpoint; the event id, or None without webhooks.

    Call inside the transaction that made the change. The payload is fixed now
    (the ticket's state as of this event) and carries no personal data: the
    citizen's number only masked, and numbers inside ``data`` texts (a PIC's
    reply) masked by :func:`laporgub.masking.mask_text` before the row is written.
    """
    hooks = config.api.webhooks
    if not hooks:
        return None
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    now = SYSTEM.time() if now is None else now
    event_id = str(uuid.uuid4())
    body = json.dumps(
        {"id": event_id, "type": event, "created_at": iso(now), "ticket": _ticket_snapshot(ticket),
         "data": _masked(data or {})},
        ensure_ascii=False, separators=(",", ":"), sort_keys=True,
    )
    db.WebhookDelivery.insert_many([
        {"event_id": event_id, "endpoint": hook.name, "event": event, "ticket_number": ticket.number,
         "payload": body, "created_at": now, "queued_at": now, "next_attempt_at": now}
        for hook in hooks
    ]).execute()
    return event_id


def _masked(value: Any) -> Any:
    """``value`` with every string in it through :func:`laporgub.masking.mask_text`."""
    from laporgub.masking import mask_text

    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


def outgoing_body(payload: str) -> str:
    """The body to POST: the stored payload, masked once more if it holds a number (a row queued by an older
    release, before payloads were masked when written); unchanged, byte for byte, otherwise."""
    try:
        body = json.loads(payload)
    except ValueError:
        return payload  # not ours to judge: bodies are written as JSON
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return payload
    data = _masked(body["data"])  # the texts; ids and times are not free text
    if data == body["data"]:
        return payload
    return json.dumps({**body, "data": data}, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _ticket_snapshot(ticket: db.Ticket) -> dict[str, object]:
    from laporgub.tickets import mask_msisdn

    groups = [
        c.group for c in db.TicketCategory.select(db.TicketCategory.group)
        .where((db.TicketCategory.ticket == ticket.id) & db.TicketCategory.active)
        .order_by(db.TicketCategory.id)
    ]
    return {
        "number": ticket.number, "channel": ticket.channel, "kind": ticket.kind, "status": ticket.status,
        "groups": groups, "regency": ticket.regency,
        "reporter_phone": mask_msisdn(ticket.sender) if ticket.sender else None,
        "received_at": iso(ticket.received_at), "updated_at": iso(ticket.updated_at),
    }


# --------------------------------------------------------------------------
# Signing.


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-LaporGub-Signature`` value: ``sha256=`` + hex HMAC-SHA256 over ``b"<timestamp>." + body``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, signature: str, timestamp: str, body: bytes, *, now: float | None = None,
           tolerance: float = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps (replayed requests)."""
    try:
        age = abs((SYSTEM.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def headers(secret: str, event_id: str, event: str, body: bytes, now: float) -> dict[str, str]:
    """Every header of one delivery attempt (a fresh timestamp and signature per attempt)."""
    timestamp = str(int(now))
    return {
        "Content-Type": "application/json",
        "User-Agent": "LaporGub-Webhooks/1",
        EVENT_ID_HEADER: event_id,
        EVENT_HEADER: event,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


# --------------------------------------------------------------------------
# Claiming and settling.


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed row, ready to send (a snapshot)."""

    id: int
    event_id: str
    endpoint: str
    event: str
    ticket_number: str
    payload: str
    attempts: int
    queued_at: float


def _blocked_by_earlier() -> peewee.Function:
    """An earlier row of the same ticket and endpoint is still unsettled."""
    W, earlier = db.WebhookDelivery, db.WebhookDelivery.alias("earlier")
    unsettled = earlier.select(earlier.id).where(
        (earlier.endpoint == W.endpoint) & (earlier.ticket_number == W.ticket_number) & (earlier.id < W.id)
        & earlier.status.in_(["pending", "sending"])
    )
    return peewee.fn.EXISTS(unsettled)


def claim_due(claimer: str, now: float, endpoints: Iterable[str], limit: int = 10) -> list[Delivery]:
    """Claim due rows of ``endpoints`` that head their ticket's queue; expired claims are taken over."""
    W = db.WebhookDelivery
    due = ((W.status == "pending") & (W.next_attempt_at <= now)) | (
        (W.status == "sending") & (W.claimed_at < now - leases.claim_seconds()))
    ids = leases.claim_rows(W, due & W.endpoint.in_(list(endpoints)) & ~_blocked_by_earlier(), claimer, now, limit,
                            set_status="sending")
    rows = W.select().where(W.id.in_(ids) & (W.claimed_by == claimer) & (W.status == "sending")).order_by(W.id)
    return [Delivery(row.id, row.event_id, row.endpoint, row.event, row.ticket_number, row.payload, row.attempts,
                     row.queued_at) for row in rows]


def mark_delivered(delivery_id: int, claimer: str, status: int, now: float) -> bool:
    """Settle a row the receiver accepted (2xx); False if our claim was lost meanwhile."""
    W = db.WebhookDelivery
    return bool(
        W.update(status="delivered", delivered_at=now, attempts=W.attempts + 1, last_status=status,
                 last_error=None, claimed_by=None, claimed_at=None)
        .where((W.id == delivery_id) & (W.status == "sending") & (W.claimed_by == claimer))
        .execute()
    )


def backoff(attempts: int, hook: WebhookConfig) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones (1 -> initial, doubling, capped)."""
    return min(hook.max_backoff_seconds, hook.initial_backoff_seconds * 2 ** max(0, attempts - 1))


def mark_failed(delivery: Delivery, claimer: str, hook: WebhookConfig, error: str, status: int | None,
                now: float) -> str:
    """Put a failed row back with backoff, or give it up once ``dead_after_hours`` passed; the new status."""
    W = db.WebhookDelivery
    attempts = delivery.attempts + 1
    dead = now - delivery.queued_at >= hook.dead_after_hours * 3600
    new_status = "dead" if dead else "pending"
    W.update(
        status=new_status, attempts=attempts, last_status=status, last_error=error[:500],
        next_attempt_at=now + backoff(attempts, hook), claimed_by=None, claimed_at=None,
    ).where((W.id == delivery.id) & (W.status == "sending") & (W.claimed_by == claimer)).execute()
    return new_status


def release_claims(claimer: str) -> int:
    """Give back what this instance claimed but did not settle (a clean stop)."""
    W = db.WebhookDelivery
    return W.update(status="pending", claimed_by=None, claimed_at=None).where(
        (W.status == "sending") & (W.claimed_by == claimer)).execute()


def next_due(endpoints: Iterable[str]) -> float | None:
    """When the earliest pending row is due (epoch seconds), or None."""
    W = db.WebhookDelivery
    return W.select(peewee.fn.MIN(W.next_attempt_at)).where(
        (W.status == "pending") & W.endpoint.in_(list(endpoints))).scalar()


def replay(since: float, endpoint: str | None = None, now: float | None = None) -> int:
    """Queue again every event created at or after ``since`` (delivered or dead), keeping its event id.

    Rows being sent right now are left alone. Returns how many rows were queued again.
    """
    W = db.WebhookDelivery
    now = SYSTEM.time() if now is None else now
    query = W.update(status="pending", attempts=0, next_attempt_at=now, queued_at=now, claimed_by=None,
                     claimed_at=None, last_error=None).where(
        (W.created_at >= since) & W.status.in_(["delivered", "dead"]))
    if endpoint is not None:
        query = query.where(W.endpoint == endpoint)
    return query.execute()


def counts() -> dict[str, int]:
    """Rows per status, for ``laporgub webhooks status`` and the outbox gauge."""
    W = db.WebhookDelivery
    return {s: int(n) for s, n in db.tuples(W.select(W.status, peewee.fn.COUNT(W.id)).group_by(W.status))}
