"""Copy a LaporGub database, e.g. from SQLite to PostgreSQL (``laporgub db copy``, laporgub/cli/db.py).

Every table is copied in foreign-key order with its primary keys, so references
stay intact, then PostgreSQL's id sequences are moved past the copied ids and the
row count of every table is compared. Rows are *upserted* by primary key: a run
that was interrupted, or a second run after the service wrote more rows to the
source, copies what is missing and refreshes what changed, so it is safe to run
again. Stop the service before the last run: rows deleted from the source in
between are not deleted from the target, and only a quiet source gives a
consistent copy.

Refused: a target whose schema is newer than this release (a downgrade), the
source itself as target, and a target holding different rows under the same
unique keys (the copy stops; nothing is half-written per batch).

Not copied: ``schema_version`` (the target migrates itself) and ``lease`` (which
instance plays which role is runtime state of the old installation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee

from laporgub import db

logger = logging.getLogger(__name__)

#: Rows per read and per target transaction (short transactions; memory bounded).
BATCH = 500
#: Runtime state of one installation, not data.
SKIPPED = (db.SchemaVersion, db.Lease)


class CopyRefused(Exception):
    """Raised when the copy must not start or cannot go on (its message says why)."""


@dataclass(frozen=True, slots=True)
class TableResult:
    """One table's copy: rows in the source and the target afterwards, rows written by this run."""

    table: str
    source: int
    target: int
    written: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


#: peewee's topological sort of models (missing from its stubs).
_sort_models: Callable[[list[type[db.BaseModel]]], list[type[db.BaseModel]]] = (
    peewee.sort_models  # type: ignore[attr-defined]
)


def models_in_order() -> list[type[db.BaseModel]]:
    """Every copied model, parents before children."""
    return [m for m in _sort_models(list(db.MODELS)) if m not in SKIPPED]


def _schema_version(database: peewee.Database) -> int:
    with database.connection_context():
        if not database.table_exists(db.SchemaVersion._meta.table_name):
            return 0
        with database.bind_ctx([db.SchemaVersion]):
            return int(db.SchemaVersion.select(peewee.fn.MAX(db.SchemaVersion.version)).scalar() or 0)


def _open(url: str, *, create: bool) -> peewee.Database:
    """Open and migrate ``url`` (what the service would do at start); refuses a newer schema.

    ``create``: the target may be a new SQLite file; the source must exist (a typo is not an empty database).
    """
    if not create:
        db.require_existing(url)
    database = db.make_database(url)
    version = _schema_version(database)
    if version > db.SCHEMA_VERSION:
        raise CopyRefused(f"{safe_url(url)} has schema version {version}, newer than this release "
                          f"({db.SCHEMA_VERSION}): upgrade LaporGub first")
    return db.open_database(url)


def safe_url(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        creds, _, host = rest.partition("@")
        rest = creds.split(":", 1)[0] + ":***@" + host if ":" in creds else rest
    return scheme + sep + rest


def copy_database(source_url: str, target_url: str, *, batch: int = BATCH,
                  progress: Callable[[str], None] | None = None) -> list[TableResult]:
    """Copy every table of ``source_url`` into ``target_url``; return the per-table counts.

    Raises:
        CopyRefused: the target is newer, is the source, or holds conflicting rows.
    """
    if source_url == target_url:
        raise CopyRefused("source and target are the same database")
    say = progress or (lambda _line: None)
    db.require_existing(source_url, key="--from")
    target = _open(target_url, create=True)  # first: a newer target is refused before the source is touched
    source = _open(source_url, create=False)
    if isinstance(source, peewee.SqliteDatabase) and isinstance(target, peewee.SqliteDatabase) \
            and source.database == target.database:
        raise CopyRefused("source and target are the same database")
    results = []
    try:
        source.connect(reuse_if_open=True)
        target.connect(reuse_if_open=True)
        _warn_unknown_tables(source, say)
        for model in models_in_order():
            written = _copy_table(model, source, target, batch)
            _reset_sequence(model, target)
            with source.bind_ctx([model]):
                n_source = model.select().count()
            with target.bind_ctx([model]):
                n_target = model.select().count()
            result = TableResult(model._meta.table_name, n_source, n_target, written)
            results.append(result)
            say(f"{result.table:<20} source={n_source:<8} target={n_target:<8} written={written:<8} "
                f"{'ok' if result.ok else 'MISMATCH'}")
    finally:
        for database in (source, target):
            if not database.is_closed():
                database.close()
        db.database.initialize(None)
    return results


def _copy_table(model: type[db.BaseModel], source: peewee.Database, target: peewee.Database, batch: int) -> int:
    pk = model._meta.primary_key
    assert pk is not False  # every copied table has a primary key
    fields = [f for f in model._meta.sorted_fields if f is not pk]
    written = 0
    last: Any = None
    while True:
        with source.bind_ctx([model]):
            query = model.select().order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            rows = list(db.dicts(query))
        if not rows:
            return written
        last = rows[-1][pk.name]
        with target.bind_ctx([model]):  # a query binds its database when built: build it here
            insert = model.insert_many(rows)
            if fields:
                insert = insert.on_conflict(conflict_target=[pk], preserve=fields)
            else:
                insert = insert.on_conflict_ignore()
            try:
                with target.atomic():
                    insert.execute()
            except peewee.IntegrityError as exc:
                raise CopyRefused(
                    f"{model._meta.table_name}: the target holds other rows under the same keys "
                    f"(was the service already running on it?): {str(exc).splitlines()[0]}") from exc
        written += len(rows)


def _reset_sequence(model: type[db.BaseModel], target: peewee.Database) -> None:
    """Move PostgreSQL's id sequence past the copied ids (inserts with explicit ids do not)."""
    pk = model._meta.primary_key
    if not isinstance(target, peewee.PostgresqlDatabase) or not isinstance(pk, peewee.AutoField):
        return
    table = model._meta.table_name
    target.execute_sql(
        f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{pk.column_name}"), 1), '
        f'MAX("{pk.column_name}") IS NOT NULL) FROM "{table}"',
        (table, pk.column_name),
    )


def _warn_unknown_tables(source: peewee.Database, say: Callable[[str], None]) -> None:
    known = {m._meta.table_name for m in db.MODELS}
    extra = sorted(set(source.get_tables()) - known - {"ticket_change_counter"})
    if extra:
        say(f"note: tables not copied (not LaporGub's): {', '.join(extra)}")
