"""Incremental sync of tickets: the change sequence and the opaque cursor.

Why a change sequence and not ``(updated_at, id)``: ``updated_at`` is taken from
the writer's clock before its transaction commits, so a row can become visible
*after* a reader already moved its cursor past that time (a slow transaction, a
wait for SQLite's write lock, two instances with clocks apart). A reader paging
by ``updated_at`` would skip it for ever. ``ticket.change_seq`` is set by the
database itself, on every insert and update of a ticket, to a number greater
than that of every change committed before: on SQLite an ``AFTER
INSERT/UPDATE`` trigger, on PostgreSQL a deferred constraint trigger on a
one-row counter. That is storage schema (migration 2), so it lives in
laporgub/db.py (``install_change_seq``, with why each hands numbers out in
commit order); this module only reads it.

So a reader that saw change *n* has seen every change below *n*, and paging
by ``change_seq > cursor`` neither skips nor repeats a ticket (a ticket changed
again while a client pages is served again, with its new state, later).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import peewee

from laporgub import db

#: Page size of ``GET /api/v1/tickets`` when the client names none, and the most it may ask for.
DEFAULT_PAGE = 100
MAX_PAGE = 500

#: The column, for queries (it is not a model field on purpose: see the module docstring).
CHANGE_SEQ = peewee.SQL("change_seq")


#: A cursor's position is a change number: a BIGINT on PostgreSQL, a 64-bit integer on SQLite. A larger
#: one cannot be ours (and would overflow the query), nor a time past any datetime (year 9999).
MAX_POSITION = 2**63 - 1
MAX_SINCE = 1e12


class CursorError(ValueError):
    """Raised when a cursor was not made by this server (or was altered)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a client's sync stands: the last change served, and the ``updated_since`` it started with."""

    after: int
    since: float | None = None

    def encode(self) -> str:
        raw = json.dumps({"v": 1, "a": self.after, "s": self.since}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw)
            after, since = data["a"], data["s"]
            if data.get("v") != 1 or isinstance(after, bool) or not isinstance(after, int) or \
                    not 0 <= after <= MAX_POSITION:
                raise ValueError
            if since is not None and (isinstance(since, bool) or not isinstance(since, (int, float))
                                      or not math.isfinite(since) or abs(since) > MAX_SINCE):
                raise ValueError
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise CursorError("not a cursor this server returned") from None
        return cls(after=after, since=None if since is None else float(since))


@dataclass(frozen=True, slots=True)
class Page:
    """One page of changed tickets: their ids in change order, and the cursor to continue from."""

    ticket_ids: tuple[int, ...]
    cursor: Cursor
    more: bool


def changed_tickets(cursor: Cursor, limit: int) -> Page:
    """Tickets changed after ``cursor`` (and updated at or after its ``since``), in commit order."""
    query = (
        db.Ticket.select(db.Ticket.id, CHANGE_SEQ.alias("seq"))
        .where(CHANGE_SEQ > cursor.after)
        .order_by(CHANGE_SEQ)
        .limit(limit + 1)
    )
    if cursor.since is not None:
        query = query.where(db.Ticket.updated_at >= cursor.since)
    rows = list(db.tuples(query))
    more = len(rows) > limit
    rows = rows[:limit]
    after = rows[-1][1] if rows else cursor.after
    return Page(tuple(r[0] for r in rows), Cursor(after=int(after), since=cursor.since), more)


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """A read transaction that sees one committed state for all its queries.

    A page and the rows it serves must come from the same state: else a ticket
    changed between the two reads is served with its newer version now and again
    on the next page. SQLite (WAL): a deferred transaction reads one snapshot and
    takes no write lock. PostgreSQL: REPEATABLE READ.
    """
    database = db.database.obj
    if isinstance(database, peewee.SqliteDatabase):
        with database.atomic(lock_type="DEFERRED"):
            yield
        return
    with database.atomic():
        database.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def latest_change() -> int:
    """The highest change number committed so far (0 for an empty database)."""
    return int(db.Ticket.select(peewee.fn.MAX(CHANGE_SEQ)).scalar() or 0)
