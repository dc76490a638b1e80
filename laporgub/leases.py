"""Several instances on one database: who this instance is, and leases on roles only one may play.

A *lease* (table ``lease``) names a role that one instance at a time plays:

``dispatch:<destination>``
    sending the notification outbox of one Telegram chat. One sender per chat keeps
    Telegram's 20-messages-a-minute-per-group pacing global, not per instance.
``getupdates``
    polling Telegram's getUpdates (the Bot API allows one consumer) and sending the
    bot's answers in chats.

The holder renews its lease while it plays the role (every third of the lease time);
an instance that dies stops renewing, and another takes the role over once the lease
expired. Independently of leases every outbox row is *claimed* before it is sent
(``claimed_by``/``claimed_at``, ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; see
outbox.py), so even an instance that lost its lease while stalled never sends a row another
instance is sending.

Times are the instances' wall clocks (the service's :class:`~laporgub.clock.Clock`): keep them in NTP sync; a skew
shorter than the lease's safety margin is harmless.

Instance ids: ``[service] instance`` or, by default, ``<hostname>:<pid>``. Two live
instances must never share an id. A restarted instance on the same host recovers at
once what its dead predecessor held (its pid is gone, or it had the same configured
name); a dead instance elsewhere is taken over when its leases and claims expire.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable

import peewee

from laporgub import db
from laporgub.clock import SYSTEM

logger = logging.getLogger(__name__)

#: Default lease time: a dead holder's role is taken over within this many seconds.
LEASE_SECONDS = 15.0
#: Default claim time of an outbox row: a dead sender's in-flight rows are sent again after this.
CLAIM_SECONDS = 120.0
#: The holder treats its lease as lost this long before it expires (clock skew, a slow commit).
SAFETY_MARGIN = 0.2  # of the lease time

_instance: str | None = None
_lease_seconds = LEASE_SECONDS
_claim_seconds = CLAIM_SECONDS


def default_instance() -> str:
    """``<hostname>:<pid>``: unique among live processes."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def configure(instance: str | None = None, lease_seconds: float | None = None,
              claim_seconds: float | None = None) -> str:
    """Set this process's instance id and lease times (the service calls it once at start)."""
    global _instance, _lease_seconds, _claim_seconds
    _instance = instance or default_instance()
    if lease_seconds is not None:
        _lease_seconds = lease_seconds
    if claim_seconds is not None:
        _claim_seconds = claim_seconds
    return _instance


def instance_id() -> str:
    """This process's instance id (configured, or ``<hostname>:<pid>``)."""
    return _instance or default_instance()


def lease_seconds() -> float:
    return _lease_seconds


def claim_seconds() -> float:
    return _claim_seconds


# --------------------------------------------------------------------------
# The lease table.


def acquire(name: str, holder: str, seconds: float, now: float) -> float | None:
    """Take or renew the lease ``name`` for ``holder``; return its expiry, or None if another holds it.

    One statement decides (an upsert whose update applies only when the lease is ours or
    expired), so two instances racing for a free lease cannot both win.
    """
    lease = db.Lease
    expires = now + seconds
    with db.database.atomic():
        (
            lease.insert(name=name, holder=holder, acquired_at=now, renewed_at=now, expires_at=expires)
            .on_conflict(
                conflict_target=[lease.name],
                update={
                    lease.acquired_at: peewee.Case(None, [(lease.holder == holder, lease.acquired_at)], now),
                    lease.holder: holder, lease.renewed_at: now, lease.expires_at: expires,
                },
                where=(lease.holder == holder) | (lease.expires_at < now),
            )
            .execute()
        )
        row = lease.select(lease.holder, lease.expires_at).where(lease.name == name).first()
    if row is None or row.holder != holder:
        return None
    return float(row.expires_at)


def release(name: str, holder: str) -> bool:
    """Give the lease up (a clean stop): another instance may take it at once."""
    return bool(db.Lease.delete().where((db.Lease.name == name) & (db.Lease.holder == holder)).execute())


def holders(prefix: str = "") -> dict[str, tuple[str, float]]:
    """Current leases: name -> (holder, expires_at)."""
    query = db.Lease.select()
    if prefix:
        query = query.where(db.Lease.name.startswith(prefix))
    return {r.name: (r.holder, r.expires_at) for r in query}


class LeaseKeeper:
    """One actor's view of one lease: ask :meth:`held` before doing the role's work.

    Runs in the owning actor's thread (it uses that thread's connection). Renews when a
    third of the lease time has passed, and says the lease is lost :data:`SAFETY_MARGIN`
    before it expires, so the next holder never overlaps a holder that believes it holds.

    Args:
        name: the lease, e.g. ``dispatch:kesehatan``.
        holder: the instance id (default: this process's).
        seconds: the lease time (default: ``[service] lease_seconds``).
        clock: wall time in epoch seconds (the service's clock).
    """

    def __init__(self, name: str, holder: str | None = None, seconds: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.name = name
        self.holder = holder or instance_id()
        self.seconds = seconds if seconds is not None else lease_seconds()
        self.clock = clock or SYSTEM
        self._expires = 0.0
        self._renewed = 0.0
        self._held = False

    @property
    def retry_in(self) -> float:
        """How long a non-holder waits before looking again."""
        return max(0.2, self.seconds / 3)

    def held(self, *, renew: bool = False) -> bool:
        """Whether this instance plays the role now; takes a free lease, renews a held one when due.

        A database error counts as "not held" (and is logged): better idle than twice.
        """
        now = self.clock()
        if (self._held and not renew and now - self._renewed < self.seconds / 3
                and now < self._expires - self.seconds * SAFETY_MARGIN):
            return True
        try:
            expires = acquire(self.name, self.holder, self.seconds, now)
        except Exception as exc:
            logger.warning("event=lease_check_failed lease=%s error=%s", self.name, exc)
            expires = None
            if self._held and now < self._expires - self.seconds * SAFETY_MARGIN:
                return True  # still ours by the last renewal; try again on the next call
        was = self._held
        self._held = expires is not None
        if self._held:
            self._expires, self._renewed = float(expires), now  # type: ignore[arg-type]
            if not was:
                logger.info("event=lease_acquired lease=%s instance=%s", self.name, self.holder)
        elif was:
            logger.warning("event=lease_lost lease=%s instance=%s", self.name, self.holder)
        return self._held

    def release(self) -> None:
        """Give the lease up if held (clean stop); never raises."""
        if not self._held:
            return
        self._held = False
        try:
            release(self.name, self.holder)
            logger.info("event=lease_released lease=%s instance=%s", self.name, self.holder)
        except Exception as exc:
            logger.warning("event=lease_release_failed lease=%s error=%s", self.name, exc)


# --------------------------------------------------------------------------
# A restarted instance takes back what its dead predecessor held.


def _locally_dead(holder: str, me: str, host: str) -> bool:
    """Whether ``holder`` is a dead process of this host, or us.

    ``holder`` is an instance id, maybe ``<id>/<modem>`` (outbound SMS), or
    ``<host>:<pid>:<random>`` (webhook claims made before they took the instance id).
    """
    ident = holder.split("/", 1)[0]
    if ident == me:
        return True  # the same configured name: a previous life (two live instances never share one)
    parts = ident.split(":")
    if len(parts) < 2 or parts[0] != host or not parts[1].isdigit():
        return False
    pid = parts[1]
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive (another user's process)
    return False


def recover_local(me: str | None = None) -> dict[str, int]:
    """Expire leases and release outbox claims of dead instances of this host (at start-up).

    Returns how many leases and claimed rows per table were freed.
    """
    me = me or instance_id()
    host = socket.gethostname()[:40]
    freed: dict[str, int] = {}
    tables: list[tuple[str, type[db.BaseModel], peewee.Field, dict[str, object]]] = [
        ("lease", db.Lease, db.Lease.holder, {}),
        ("notification", db.Notification, db.Notification.claimed_by, {"claimed_by": None, "claimed_at": None}),
        ("chat_reply", db.ChatReply, db.ChatReply.claimed_by, {"claimed_by": None, "claimed_at": None}),
        ("outbound_sms", db.OutboundSms, db.OutboundSms.claimed_by,
         {"claimed_by": None, "claimed_at": None, "status": "pending"}),
        ("webhook_delivery", db.WebhookDelivery, db.WebhookDelivery.claimed_by,
         {"claimed_by": None, "claimed_at": None, "status": "pending"}),
    ]
    for label, model, column, reset in tables:
        query = model.select(column).where(column.is_null(False)).distinct()
        if label != "lease":
            query = query.where(model.status.in_(["pending", "sending"]))  # type: ignore[attr-defined]
        dead = [getattr(r, column.name) for r in query if _locally_dead(getattr(r, column.name), me, host)]
        if not dead:
            continue
        if label == "lease":
            n = db.Lease.delete().where(db.Lease.holder.in_(dead)).execute()
        else:
            where = column.in_(dead) & model.status.in_(["pending", "sending"])  # type: ignore[attr-defined]
            n = model.update(**reset).where(where).execute()
        if n:
            freed[label] = n
            logger.info("event=recovered_from_dead_instance table=%s rows=%s holders=%s", label, n,
                        ",".join(sorted(set(dead)))[:300])
    return freed


# --------------------------------------------------------------------------
# Outbox rows.


#: The outboxes (tables of rows claimed by a sender).
Outbox = type[db.Notification] | type[db.OutboundSms] | type[db.WebhookDelivery] | type[db.ChatReply]


def claim_rows(model: Outbox, due: peewee.Expression, holder: str, now: float, limit: int,
               set_status: str | None = None) -> list[int]:
    """Claim up to ``limit`` due rows of an outbox for ``holder``, oldest first; their ids.

    A row is free when nobody claimed it, we did, or the claim is older than
    ``[service] claim_seconds`` (its sender died). One short transaction: on PostgreSQL
    ``SELECT ... FOR UPDATE SKIP LOCKED`` then ``UPDATE``, so instances claiming at the same
    moment get disjoint rows without waiting on each other; on SQLite the ``BEGIN IMMEDIATE``
    transaction already serialises writers, and the ``UPDATE`` repeats the condition.
    """
    claimed_by = model.claimed_by
    claimed_at = model.claimed_at
    free = claimed_by.is_null() | (claimed_by == holder) | (claimed_at < now - claim_seconds())
    fields: dict[str, object] = {"claimed_by": holder, "claimed_at": now}
    if set_status is not None:
        fields["status"] = set_status
    pk = model.id
    if db.is_sqlite() and not model.select(pk).where(due & free).limit(1).exists():
        return []  # an idle look takes no write lock (SQLite has one for the whole file)
    with db.database.atomic():
        query = model.select(pk).where(due & free).order_by(pk).limit(limit)
        if not db.is_sqlite():
            query = query.for_update(skip_locked=True)
        ids = [row.id for row in query]
        if ids:
            model.update(**fields).where(pk.in_(ids) & due & free).execute()
    return ids
