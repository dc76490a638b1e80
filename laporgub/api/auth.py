"""API keys: creation (shown once), storage as a hash, lookup, scopes, revocation; and per-key rate limits.

A key is ``lg_`` + 43 URL-safe characters from :func:`secrets.token_urlsafe`
(256 random bits). Only its SHA-256 is stored. A fast hash is enough here and
a slow password hash (bcrypt, argon2) would buy nothing: those exist to make
guessing *low-entropy* human passwords expensive, while a 256-bit random key
cannot be guessed however fast the hash; and a fast hash lets every request be
checked with one indexed lookup instead of 100 ms of CPU.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from laporgub import db
from laporgub.clock import SYSTEM

PREFIX = "lg_"
SCOPES: tuple[str, ...] = ("submit", "read", "read:personal", "admin")
#: What each scope lets a key do besides itself: read:personal is read plus clear numbers; admin is everything.
IMPLIED: dict[str, frozenset[str]] = {
    "submit": frozenset({"submit"}),
    "read": frozenset({"read"}),
    "read:personal": frozenset({"read", "read:personal"}),
    "admin": frozenset(SCOPES),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key's id, name and effective scopes (a snapshot)."""

    key_id: int
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An API key as ``laporgub api-key list`` shows it (never the key itself)."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: float
    revoked_at: float | None
    last_used_at: float | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def effective_scopes(scopes: str) -> frozenset[str]:
    result: set[str] = set()
    for scope in scopes.split():
        result |= IMPLIED.get(scope, frozenset())
    return frozenset(result)


class KeyNameInUse(ValueError):
    """Raised when a new key would share its name with an active key (rotate that one instead)."""

    def __init__(self, active: KeyInfo) -> None:
        super().__init__(
            f"a key named {active.name!r} is active (id {active.id}, {active.prefix}…); names of active keys are "
            f"unique. To replace it: `laporgub api-key rotate {active.id}` (a new key with the same name and "
            f"scopes; the old one works until `laporgub api-key revoke {active.id}`)")
        self.active = active


def create_key(name: str, scopes: list[str] | tuple[str, ...], now: float | None = None, *,
               _rotating: bool = False) -> tuple[KeyInfo, str]:
    """Create a key; returns its description and the key (the only time it exists in clear).

    Raises:
        KeyNameInUse: an active key has that name (only :func:`rotate` makes a second one).
        ValueError: an unknown scope, no scope, or an empty name.
    """
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; one of {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError("give at least one --scope")
    if not name.strip() or len(name) > 64:
        raise ValueError("the name must be 1 to 64 characters")
    if not _rotating:
        active = db.ApiKey.get_or_none((db.ApiKey.name == name.strip()) & db.ApiKey.revoked_at.is_null())
        if active is not None:
            raise KeyNameInUse(_info(active))
    key = PREFIX + secrets.token_urlsafe(32)
    now = SYSTEM.time() if now is None else now
    ordered = [s for s in SCOPES if s in scopes]
    row = db.ApiKey.create(name=name.strip(), key_hash=hash_key(key), prefix=key[:10], scopes=" ".join(ordered),
                           created_at=now)
    return _info(row), key


def _info(row: db.ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.prefix, tuple(row.scopes.split()), row.created_at, row.revoked_at,
                   row.last_used_at)


def list_keys() -> list[KeyInfo]:
    return [_info(r) for r in db.ApiKey.select().order_by(db.ApiKey.id)]


def find_key(ref: str) -> KeyInfo | None:
    """The key ``ref`` names: its id (``3`` or ``#3``, as ``api-key list`` shows it) or its prefix (``lg_AbCdEfG``).

    A name is not a reference: names are not unique over time (a rotated key keeps its name).
    """
    ref = ref.strip().rstrip("…")
    A = db.ApiKey
    if ref.lstrip("#").isdigit():
        row = A.get_or_none(A.id == int(ref.lstrip("#")))
    elif ref.startswith(PREFIX) and len(ref) >= 6:
        rows = list(A.select().where(A.prefix.startswith(ref[:10])).limit(2))
        row = rows[0] if len(rows) == 1 else None
    else:
        row = None
    return _info(row) if row is not None else None


def keys_named(name: str) -> list[KeyInfo]:
    """Every key (active or revoked) with this name, oldest first."""
    return [_info(r) for r in db.ApiKey.select().where(db.ApiKey.name == name).order_by(db.ApiKey.id)]


def revoke(ref: str, now: float | None = None) -> KeyInfo | None:
    """Revoke the one key ``ref`` names (id or prefix, see :func:`find_key`); None if there is no such active key."""
    info = find_key(ref)
    if info is None or info.revoked_at is not None:
        return None
    now = SYSTEM.time() if now is None else now
    db.ApiKey.update(revoked_at=now).where((db.ApiKey.id == info.id) & db.ApiKey.revoked_at.is_null()).execute()
    return find_key(str(info.id))


def rotate(ref: str, now: float | None = None) -> tuple[KeyInfo, str] | None:
    """A new key with the name and scopes of the active key ``ref``; the old one stays valid until revoked.

    The website switches to the new key, then ``revoke`` retires the old one: no moment without a working key.
    """
    old = find_key(ref)
    if old is None or old.revoked_at is not None:
        return None
    return create_key(old.name, old.scopes, now, _rotating=True)


#: last_used_at is written at most this often per key (a write per request would serialise reads).
_TOUCH_INTERVAL = 60.0


def authenticate(key: str, now: float | None = None) -> Principal | None:
    """The principal of a presented key, or None (unknown or revoked). Needs a connection in this thread."""
    if not key.startswith(PREFIX) or len(key) > 200:
        return None
    row = db.ApiKey.get_or_none(db.ApiKey.key_hash == hash_key(key))
    if row is None or row.revoked_at is not None:
        return None
    now = SYSTEM.time() if now is None else now
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_INTERVAL:
        try:
            db.ApiKey.update(last_used_at=now).where(db.ApiKey.id == row.id).execute()
        except peewee.OperationalError:
            pass  # a busy database must not fail a read; the next request tries again
    return Principal(row.id, row.name, effective_scopes(row.scopes))


class RateLimiter:
    """A token bucket per API key: ``per_minute`` requests a minute, bursts up to ``per_minute``.

    In memory, per service instance: with several instances behind one proxy each
    enforces its own budget (docs/api.md). Thread-safe.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int) -> float:
        """Spend one request of ``key_id``: 0.0 if allowed, else the seconds until one is."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate
