"""The little SQL the report needs beyond peewee's query builder, kept portable (SQLite and PostgreSQL).

Everything dialect-sensitive about the report lives in this module:

* placeholders: queries are written with ``:name`` and bound positionally in
  the driver's style (``?`` for sqlite3, ``%s`` for psycopg);
* no ``%`` operator or ``LIKE '%'`` in the text (psycopg would read it as a
  placeholder), no ``CAST(x AS INTEGER)`` (it truncates on SQLite but rounds
  on PostgreSQL), no ``group_concat``/``string_agg``, no ``percentile_cont``
  (PostgreSQL only): percentiles are computed with window functions;
* date bucketing (:func:`day_buckets`) is a join against the month's local
  day boundaries computed in Python from the time zone, so no
  ``strftime``/``date_trunc``/``AT TIME ZONE`` is needed and DST-free WIB
  and any other zone are handled alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import peewee

from laporgub.report.periods import Day

__all__ = ["bind", "day_buckets", "derived_table", "percentile_expr", "query", "stream"]

_NAME_RE = re.compile(r":([a-z_][a-z0-9_]*)")


def bind(db: peewee.Database, text: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Turn ``:name`` placeholders into the driver's positional ones, in order of appearance."""
    if "%" in text:
        raise ValueError("report SQL must not contain '%' (psycopg placeholders)")
    values: list[Any] = []

    def repl(match: re.Match[str]) -> str:
        values.append(params[match.group(1)])
        return db.param

    return _NAME_RE.sub(repl, text), values


def query(db: peewee.Database, text: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run a read-only query and return all rows (for aggregates: a few rows per group)."""
    sql, values = bind(db, text, params)
    return list(db.execute_sql(sql, values).fetchall())  # type: ignore[no-untyped-call]


def stream(db: peewee.Database, text: str, params: Mapping[str, Any], batch: int = 2000) -> Iterator[tuple[Any, ...]]:
    """Run a query and yield its rows in batches (per-ticket listings: memory stays bounded)."""
    sql, values = bind(db, text, params)
    cursor = db.execute_sql(sql, values)  # type: ignore[no-untyped-call]
    try:
        while True:
            rows = cursor.fetchmany(batch)
            if not rows:
                return
            yield from rows
    finally:
        cursor.close()


def derived_table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]],
                  prefix: str) -> tuple[str, dict[str, Any]]:
    """A small literal table as ``SELECT ... UNION ALL SELECT ...`` with typed, bound values.

    Args:
        columns: ``(name, sql_type)`` pairs, e.g. ``("grp", "VARCHAR(64)")``.
        rows: the values, one sequence per row (keep it small: a month's days, PIC memberships).
        prefix: unique prefix for the parameter names.

    Returns:
        The SQL of a subquery (without parentheses) and its parameters.
    """
    params: dict[str, Any] = {}
    selects = []
    for r, row in enumerate(rows):
        parts = []
        for c, ((name, sql_type), value) in enumerate(zip(columns, row)):
            key = f"{prefix}_{r}_{c}"
            params[key] = value
            parts.append(f"CAST(:{key} AS {sql_type}) AS {name}")
        selects.append("SELECT " + ", ".join(parts))
    if not selects:
        nulls = ", ".join(f"CAST(NULL AS {sql_type}) AS {name}" for name, sql_type in columns)
        return f"SELECT {nulls} WHERE 1 = 0", params
    return " UNION ALL ".join(selects), params


def day_buckets(days: Sequence[Day], prefix: str = "day") -> tuple[str, dict[str, Any]]:
    """The month's local days as a table ``(day_index, day_start, day_end)``.

    This is the one place dates are bucketed: join ``ts >= day_start AND ts <
    day_end`` to count per local (WIB) calendar day.
    """
    return derived_table(
        [("day_index", "INTEGER"), ("day_start", "DOUBLE PRECISION"), ("day_end", "DOUBLE PRECISION")],
        [(i, d.start, d.end) for i, d in enumerate(days)],
        prefix,
    )


def percentile_expr(num: int, den: int, value: str = "v", index: str = "i", last: str = "m") -> str:
    """An aggregate expression for the ``num/den`` percentile by linear interpolation.

    Over rows ranked ``i = 0..m`` by ``value`` within a group (``m`` = count - 1),
    this is PostgreSQL's ``percentile_cont`` and numpy's default: the value at
    position ``h = m * num / den``, interpolated between ``floor(h)`` and
    ``floor(h) + 1``. Integer division and ``a - (a / b) * b`` for the remainder
    are exact on both SQLite and PostgreSQL.
    """
    pos = f"(({last}) * {num})"
    lo = f"({pos} / {den})"
    rem = f"({pos} - {lo} * {den})"
    return (
        f"SUM(CASE WHEN {index} = {lo} THEN {value} * ({den} - {rem}) "
        f"WHEN {index} = {lo} + 1 THEN {value} * {rem} ELSE 0 END) / {den}.0"
    )
