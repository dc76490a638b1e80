"""The monthly figures, computed in SQL over the database: the tested pure layer of the report.

:func:`aggregate` reads; it never writes. Each table of the report is one
query that groups and counts in the database (a month of 100,000 tickets
becomes a few hundred result rows); Python only reshapes the results into the
frozen dataclasses below. Only the per-ticket listings (the CSV, the list of
complaints without a response) stream row by row, because they *are* rows.

Definitions (``docs/report.md`` explains them to readers):

* A ticket belongs to the month in which it was **received** (``received_at``,
  local time of ``[service] timezone``). Responses are counted whenever they
  came, up to the cut-off ``as_of`` (the moment the report is built), so a
  complaint of the 31st answered on the 1st counts as answered, with its real
  response time.
* **Complaints** are tickets of kind ``complaint``, plus suspected spam that a
  PIC re-routed into a group (a human decided it is a complaint). Other spam
  tickets are only counted, as ``spam``.
* A **response** is a PIC action ``response`` or ``close`` (closing answers the
  citizen too); ``reroute`` is not a response. Time to first response runs
  from ``received_at`` to the first response.
* **Closed**: a ``close`` action exists. **Still open**: no response at all (the
  ticket status ``open``). **Re-routed**: the ticket left a group (its
  category row was removed) or entered one by re-routing.
* **Per group**, a ticket counts once in every group it passed through (its
  ``ticket_category`` rows, active or not). A response counts for a group
  when it was made while the ticket was in that group; for a group the
  ticket entered by re-routing, the time runs from the re-routing.
* **Per agency / per PIC**, a ticket counts when it reached a group of the
  agency's/PIC's (``pic.groups``) or when the agency/PIC acted on it;
  responses, closes and re-routes count when made by that agency/PIC.
* **Stage SLA**: register = registered_at - received_at and filter =
  filtered_at - registered_at over the month's tickets (complaints and
  spam); notify = sent_at - queued_at and deliver = acked_at - sent_at over
  their notifications of kind ``ticket``/``spam``. A stage that has not
  finished counts as not within the limit.
* Percentiles (median, 90th) interpolate linearly between ranks, as
  PostgreSQL's ``percentile_cont`` and numpy's default do.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

import peewee

from laporgub import db
from laporgub.report import sql
from laporgub.report.periods import Month
from laporgub.tickets import mask_msisdn
from laporgub.types import GROUP_KEYS, STAGES

__all__ = [
    "DayCount",
    "KeywordCount",
    "MonthlyReport",
    "NO_AGENCY",
    "NO_REGENCY",
    "OpenTicket",
    "ResponseStats",
    "StageSla",
    "StatsRow",
    "TicketRecord",
    "aggregate",
    "open_tickets",
    "ticket_records",
]

#: Label of complaints that name no regency/city.
NO_REGENCY = "(tidak disebut)"
#: Agency of a PIC action whose PIC has none recorded.
NO_AGENCY = "(tanpa instansi)"
#: Ticket rows the PDF lists; the XLSX and CSV have all of them.
OPEN_LIST_LIMIT = 100

_T = db.Ticket._meta.table_name
_C = db.TicketCategory._meta.table_name
_N = db.Notification._meta.table_name
_P = db.Pic._meta.table_name
_R = db.PicResponse._meta.table_name

#: Actions that answer the citizen.
_ANSWER = "('response', 'close')"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ResponseStats:
    """Response figures of a set of complaints (the month, a group, an agency, ...)."""

    received: int
    responded: int
    on_target: int
    closed: int
    still_open: int
    rerouted: int
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def share_responded(self) -> float | None:
        """Responded / received (None when nothing was received)."""
        return self.responded / self.received if self.received else None

    @property
    def share_on_target(self) -> float | None:
        """Responded within the target / received."""
        return self.on_target / self.received if self.received else None


EMPTY_STATS = ResponseStats(0, 0, 0, 0, 0, 0, None, None)


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One row of a per-group, per-agency, per-PIC or per-regency table.

    Attributes:
        key: group key, agency name, PIC telegram id (as text) or regency.
        label: what people read (group name, PIC name, ...).
        agency: the PIC's agency (PIC rows only).
        stats: the figures.
    """

    key: str
    label: str
    stats: ResponseStats
    agency: str = ""


@dataclass(frozen=True, slots=True)
class StageSla:
    """SLA compliance of one stage over the month.

    Attributes:
        total: measurements expected (tickets, or notifications).
        completed: those with both timestamps.
        within: completed within the limit (``duration <= limit``).
    """

    stage: str
    limit_seconds: float
    total: int
    completed: int
    within: int
    median_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None

    @property
    def share_within(self) -> float | None:
        return self.within / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class DayCount:
    """Tickets received on one local day."""

    date: date
    complaints: int
    responded: int
    spam: int


@dataclass(frozen=True, slots=True)
class KeywordCount:
    """How many complaints of a group matched a keyword."""

    keyword: str
    group: str
    complaints: int


@dataclass(frozen=True, slots=True)
class OpenTicket:
    """A complaint still without a response at the cut-off."""

    number: str
    groups: tuple[str, ...]
    received_at: float
    age_seconds: float
    sender: str  # masked
    regency: str | None


@dataclass(frozen=True, slots=True)
class Totals:
    """The month at a glance."""

    stats: ResponseStats
    spam: int
    sms: int
    web: int


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    """Everything the report shows, as plain values (safe to pass between threads)."""

    month: Month
    timezone: str
    as_of: float
    target_seconds: float
    totals: Totals
    previous: Totals
    stages: tuple[StageSla, ...]
    groups: tuple[StatsRow, ...]
    agencies: tuple[StatsRow, ...]
    pics: tuple[StatsRow, ...]
    regencies: tuple[StatsRow, ...]
    days: tuple[DayCount, ...]
    keywords: tuple[KeywordCount, ...]
    open_first: tuple[OpenTicket, ...]  # the oldest OPEN_LIST_LIMIT
    open_count: int
    start: float
    end: float


# --------------------------------------------------------------------------- the queries

#: The month's tickets with their state at the cut-off: one row per ticket.
_MONTH_TICKETS = f"""
mt_all AS MATERIALIZED (
  SELECT t.id AS id, t.received_at AS received_at, t.regency AS regency, t.channel AS channel,
    CASE WHEN t.kind = 'complaint' OR EXISTS (
        SELECT 1 FROM {_C} c0 WHERE c0.ticket_id = t.id AND c0.source = 'reroute') THEN 1 ELSE 0 END AS is_c,
    (SELECT MIN(r.created_at) FROM {_R} r
      WHERE r.ticket_id = t.id AND r.action IN {_ANSWER} AND r.created_at <= :as_of) AS first_at,
    (SELECT MIN(r.created_at) FROM {_R} r
      WHERE r.ticket_id = t.id AND r.action = 'close' AND r.created_at <= :as_of) AS closed_at,
    CASE WHEN EXISTS (SELECT 1 FROM {_C} c1 WHERE c1.ticket_id = t.id
        AND ((c1.source = 'reroute' AND c1.created_at <= :as_of) OR c1.removed_at <= :as_of)) THEN 1 ELSE 0 END
      AS rerouted
  FROM {_T} t
  WHERE t.received_at >= :start AND t.received_at < :end
),
mt AS (SELECT * FROM mt_all WHERE is_c = 1)"""

#: Turns a CTE ``per(actor, responded, wait, closed, still_open, rerouted)`` into one row per actor.
_STATS_TAIL = f"""
agg AS (
  SELECT actor, COUNT(*) AS received, SUM(responded) AS responded,
    SUM(CASE WHEN wait <= :target THEN 1 ELSE 0 END) AS on_target,
    SUM(closed) AS closed, SUM(still_open) AS still_open, SUM(rerouted) AS rerouted
  FROM per GROUP BY actor
),
ranked AS (
  SELECT actor, wait AS v, ROW_NUMBER() OVER (PARTITION BY actor ORDER BY wait) - 1 AS i,
    COUNT(*) OVER (PARTITION BY actor) - 1 AS m
  FROM per WHERE wait IS NOT NULL
),
pct AS (
  SELECT actor, {sql.percentile_expr(1, 2)} AS p50, {sql.percentile_expr(9, 10)} AS p90
  FROM ranked GROUP BY actor
)
SELECT agg.actor, agg.received, agg.responded, agg.on_target, agg.closed, agg.still_open, agg.rerouted,
  pct.p50, pct.p90
FROM agg LEFT JOIN pct ON pct.actor = agg.actor
ORDER BY agg.actor"""

_WAIT = "CASE WHEN {first} IS NULL THEN NULL WHEN {first} < {start} THEN 0 ELSE {first} - {start} END"


def _stats_rows(rows: Sequence[tuple[Any, ...]]) -> dict[Any, ResponseStats]:
    result = {}
    for actor, received, responded, on_target, closed, still_open, rerouted, p50, p90 in rows:
        result[actor] = ResponseStats(
            received=int(received), responded=int(responded or 0), on_target=int(on_target or 0),
            closed=int(closed or 0), still_open=int(still_open or 0), rerouted=int(rerouted or 0),
            median_seconds=None if p50 is None else float(p50), p90_seconds=None if p90 is None else float(p90),
        )
    return result


def _ticket_stats(database: peewee.Database, key: str, params: Mapping[str, Any]) -> dict[Any, ResponseStats]:
    """Ticket-level figures grouped by ``key`` (an expression over ``mt``)."""
    text = f"""
WITH {_MONTH_TICKETS},
per AS (
  SELECT {key} AS actor,
    CASE WHEN first_at IS NULL THEN 0 ELSE 1 END AS responded,
    {_WAIT.format(first="first_at", start="received_at")} AS wait,
    CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END AS closed,
    CASE WHEN first_at IS NULL THEN 1 ELSE 0 END AS still_open,
    rerouted
  FROM mt
),
{_STATS_TAIL}"""
    return _stats_rows(sql.query(database, text, params))


def _group_stats(database: peewee.Database, params: Mapping[str, Any]) -> dict[Any, ResponseStats]:
    """Per group: every group a complaint passed through, responses made while it was there."""
    window = (
        "r.ticket_id = c.ticket_id AND r.created_at <= :as_of "
        "AND (c.source <> 'reroute' OR r.created_at >= c.created_at) "
        "AND (c.removed_at IS NULL OR r.created_at < c.removed_at)"
    )
    text = f"""
WITH {_MONTH_TICKETS},
gc AS (
  SELECT c."group" AS grp, mt.first_at AS any_first_at,
    CASE WHEN c.source = 'reroute' THEN c.created_at ELSE mt.received_at END AS start_at,
    CASE WHEN c.removed_at IS NOT NULL AND c.removed_at <= :as_of THEN 1 ELSE 0 END AS left_group,
    CASE WHEN c.source = 'reroute' OR (c.removed_at IS NOT NULL AND c.removed_at <= :as_of) THEN 1 ELSE 0 END
      AS rerouted,
    (SELECT MIN(r.created_at) FROM {_R} r WHERE {window} AND r.action IN {_ANSWER}) AS first_at,
    (SELECT COUNT(*) FROM {_R} r WHERE {window} AND r.action = 'close') AS closes
  FROM {_C} c JOIN mt ON mt.id = c.ticket_id
  WHERE c.source <> 'reroute' OR c.created_at <= :as_of
),
per AS (
  SELECT grp AS actor,
    CASE WHEN first_at IS NULL THEN 0 ELSE 1 END AS responded,
    {_WAIT.format(first="first_at", start="start_at")} AS wait,
    CASE WHEN closes > 0 THEN 1 ELSE 0 END AS closed,
    CASE WHEN any_first_at IS NULL AND left_group = 0 THEN 1 ELSE 0 END AS still_open,
    rerouted
  FROM gc
),
{_STATS_TAIL}"""
    return _stats_rows(sql.query(database, text, params))


def _actor_stats(
    database: peewee.Database, params: Mapping[str, Any], *, actor_expr: str, actor_type: str,
    members: Sequence[tuple[Any, str]],
) -> dict[Any, ResponseStats]:
    """Per agency or per PIC: complaints that reached their groups or that they acted on."""
    member_sql, member_params = sql.derived_table([("actor", actor_type), ("grp", "VARCHAR(64)")], members, "mem")
    text = f"""
WITH {_MONTH_TICKETS},
member AS ({member_sql}),
reach AS (
  SELECT m.actor AS actor, c.ticket_id AS ticket_id,
    MIN(CASE WHEN c.source = 'reroute' THEN c.created_at ELSE mt.received_at END) AS start_at
  FROM member m JOIN {_C} c ON c."group" = m.grp JOIN mt ON mt.id = c.ticket_id
  WHERE c.source <> 'reroute' OR c.created_at <= :as_of
  GROUP BY m.actor, c.ticket_id
),
acts AS (
  SELECT {actor_expr} AS actor, r.ticket_id AS ticket_id,
    MIN(CASE WHEN r.action IN {_ANSWER} THEN r.created_at END) AS first_at,
    MAX(CASE WHEN r.action = 'close' THEN 1 ELSE 0 END) AS closed,
    MAX(CASE WHEN r.action = 'reroute' THEN 1 ELSE 0 END) AS rerouted
  FROM {_R} r JOIN mt ON mt.id = r.ticket_id LEFT JOIN {_P} p ON p.telegram_id = r.pic_telegram_id
  WHERE r.created_at <= :as_of
  GROUP BY 1, 2
),
pairs AS (SELECT actor, ticket_id FROM reach UNION SELECT actor, ticket_id FROM acts),
per AS (
  SELECT k.actor AS actor,
    CASE WHEN a.first_at IS NULL THEN 0 ELSE 1 END AS responded,
    {_WAIT.format(first="a.first_at", start="COALESCE(rc.start_at, mt.received_at)")} AS wait,
    COALESCE(a.closed, 0) AS closed,
    CASE WHEN mt.first_at IS NULL THEN 1 ELSE 0 END AS still_open,
    COALESCE(a.rerouted, 0) AS rerouted
  FROM pairs k JOIN mt ON mt.id = k.ticket_id
  LEFT JOIN reach rc ON rc.actor = k.actor AND rc.ticket_id = k.ticket_id
  LEFT JOIN acts a ON a.actor = k.actor AND a.ticket_id = k.ticket_id
),
{_STATS_TAIL}"""
    return _stats_rows(sql.query(database, text, {**params, **member_params}))


def _totals(database: peewee.Database, params: Mapping[str, Any]) -> Totals:
    stats = _ticket_stats(database, "'all'", params).get("all", EMPTY_STATS)
    text = f"""
WITH {_MONTH_TICKETS}
SELECT SUM(CASE WHEN is_c = 0 THEN 1 ELSE 0 END),
  SUM(CASE WHEN is_c = 1 AND channel = 'web' THEN 0 WHEN is_c = 1 THEN 1 ELSE 0 END),
  SUM(CASE WHEN is_c = 1 AND channel = 'web' THEN 1 ELSE 0 END)
FROM mt_all"""
    spam, sms_count, web = sql.query(database, text, params)[0]
    return Totals(stats=stats, spam=int(spam or 0), sms=int(sms_count or 0), web=int(web or 0))


def _stages(database: peewee.Database, params: Mapping[str, Any], limits: Mapping[str, float]) -> tuple[StageSla, ...]:
    text = f"""
WITH d AS (
  SELECT 'register' AS stage, t.registered_at - t.received_at AS v
    FROM {_T} t WHERE t.received_at >= :start AND t.received_at < :end
  UNION ALL
  SELECT 'filter', t.filtered_at - t.registered_at
    FROM {_T} t WHERE t.received_at >= :start AND t.received_at < :end
  UNION ALL
  SELECT 'notify', n.sent_at - n.queued_at
    FROM {_N} n JOIN {_T} t ON t.id = n.ticket_id
    WHERE n.kind IN ('ticket', 'spam') AND t.received_at >= :start AND t.received_at < :end
  UNION ALL
  SELECT 'deliver', n.acked_at - n.sent_at
    FROM {_N} n JOIN {_T} t ON t.id = n.ticket_id
    WHERE n.kind IN ('ticket', 'spam') AND t.received_at >= :start AND t.received_at < :end
),
lim AS (
  SELECT 'register' AS stage, CAST(:lim_register AS DOUBLE PRECISION) AS s
  UNION ALL SELECT 'filter', CAST(:lim_filter AS DOUBLE PRECISION)
  UNION ALL SELECT 'notify', CAST(:lim_notify AS DOUBLE PRECISION)
  UNION ALL SELECT 'deliver', CAST(:lim_deliver AS DOUBLE PRECISION)
),
agg AS (
  SELECT d.stage AS stage, COUNT(*) AS total, COUNT(d.v) AS completed,
    SUM(CASE WHEN d.v <= lim.s THEN 1 ELSE 0 END) AS within, MAX(d.v) AS vmax
  FROM d JOIN lim ON lim.stage = d.stage GROUP BY d.stage
),
ranked AS (
  SELECT stage, v, ROW_NUMBER() OVER (PARTITION BY stage ORDER BY v) - 1 AS i,
    COUNT(*) OVER (PARTITION BY stage) - 1 AS m
  FROM d WHERE v IS NOT NULL
),
pct AS (SELECT stage, {sql.percentile_expr(1, 2)} AS p50, {sql.percentile_expr(9, 10)} AS p90
  FROM ranked GROUP BY stage)
SELECT agg.stage, agg.total, agg.completed, agg.within, pct.p50, pct.p90, agg.vmax
FROM agg LEFT JOIN pct ON pct.stage = agg.stage"""
    stage_params = {**params, **{f"lim_{s}": float(limits[s]) for s in STAGES}}
    found = {row[0]: row for row in sql.query(database, text, stage_params)}
    result = []
    for stage in STAGES:
        _, total, completed, within, p50, p90, vmax = found.get(stage, (stage, 0, 0, 0, None, None, None))
        result.append(StageSla(
            stage=stage, limit_seconds=float(limits[stage]), total=int(total or 0), completed=int(completed or 0),
            within=int(within or 0), median_seconds=_opt(p50), p90_seconds=_opt(p90), max_seconds=_opt(vmax),
        ))
    return tuple(result)


def _days(database: peewee.Database, params: Mapping[str, Any], month: Month, tz: tzinfo) -> tuple[DayCount, ...]:
    days = month.days(tz)
    buckets, bucket_params = sql.day_buckets(days)
    text = f"""
WITH {_MONTH_TICKETS},
days AS ({buckets})
SELECT days.day_index,
  SUM(CASE WHEN mt_all.is_c = 1 THEN 1 ELSE 0 END),
  SUM(CASE WHEN mt_all.is_c = 1 AND mt_all.first_at IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN mt_all.is_c = 0 THEN 1 ELSE 0 END)
FROM days LEFT JOIN mt_all ON mt_all.received_at >= days.day_start AND mt_all.received_at < days.day_end
GROUP BY days.day_index ORDER BY days.day_index"""
    counts = {row[0]: row for row in sql.query(database, text, {**params, **bucket_params})}
    return tuple(
        DayCount(d.date, int(counts[i][1] or 0), int(counts[i][2] or 0), int(counts[i][3] or 0))
        if i in counts else DayCount(d.date, 0, 0, 0)
        for i, d in enumerate(days)
    )


def _keywords(database: peewee.Database, params: Mapping[str, Any], limit: int = 20) -> tuple[KeywordCount, ...]:
    """Top (keyword, group) pairs by complaints.

    SQL counts complaints per distinct ``(group, keywords)`` string; the few
    distinct strings are split here. A (ticket, group) pair is unique, so each
    complaint counts once per keyword and group.
    """
    text = f"""
WITH {_MONTH_TICKETS}
SELECT c."group", c.keywords, COUNT(*)
FROM {_C} c JOIN mt ON mt.id = c.ticket_id
WHERE c.keywords IS NOT NULL AND c.keywords <> ''
GROUP BY c."group", c.keywords"""
    counts: dict[tuple[str, str], int] = {}
    for group, keywords, n in sql.query(database, text, params):
        for word in dict.fromkeys(w.strip() for w in str(keywords).split(",")):
            if word:
                counts[(word, group)] = counts.get((word, group), 0) + int(n)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))[:limit]
    return tuple(KeywordCount(keyword=w, group=g, complaints=n) for (w, g), n in ranked)


def _open_count(database: peewee.Database, params: Mapping[str, Any]) -> int:
    text = f"WITH {_MONTH_TICKETS} SELECT COUNT(*) FROM mt WHERE first_at IS NULL"
    return int(sql.query(database, text, params)[0][0] or 0)


def open_tickets(
    database: peewee.Database, month: Month, tz: tzinfo, as_of: float, limit: int | None = None
) -> Iterator[OpenTicket]:
    """The month's complaints without a response at ``as_of``, oldest first (streamed)."""
    start, end = month.window(tz)
    params = {"start": start, "end": end, "as_of": as_of}
    limit_sql = f"LIMIT {int(limit)}" if limit is not None else ""
    text = f"""
WITH {_MONTH_TICKETS},
op AS (SELECT id, received_at FROM mt WHERE first_at IS NULL ORDER BY received_at, id {limit_sql})
SELECT t.id, t.number, t.sender, t.received_at, t.regency, c."group"
FROM op JOIN {_T} t ON t.id = op.id
LEFT JOIN {_C} c ON c.ticket_id = t.id AND (c.removed_at IS NULL OR c.removed_at > :as_of)
  AND (c.source <> 'reroute' OR c.created_at <= :as_of)
ORDER BY t.received_at, t.id, c.id"""
    rows = sql.stream(database, text, params)
    for _, group_rows in itertools.groupby(rows, key=lambda r: r[0]):
        first, *rest = list(group_rows)
        groups = [g for g in [first[5], *(r[5] for r in rest)] if g]
        shown = tuple(g for g in groups if g != "channel") or tuple(groups)
        yield OpenTicket(
            number=first[1], groups=shown, received_at=float(first[3]),
            age_seconds=max(0.0, as_of - float(first[3])), sender=mask_msisdn(first[2]), regency=first[4],
        )


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """One row of the per-ticket CSV."""

    number: str
    kind: str  # pengaduan | spam
    channel: str
    received_at: float
    regency: str | None
    groups: tuple[str, ...]  # at the cut-off
    passed_groups: tuple[str, ...]  # every group it passed through
    rerouted: bool
    status: str  # terbuka | ditanggapi | ditutup
    first_response_at: float | None
    response_seconds: float | None
    on_target: bool
    closed_at: float | None
    first_agency: str | None
    first_pic: str | None
    sender: str  # masked
    register_seconds: float | None
    filter_seconds: float | None


def ticket_records(
    database: peewee.Database, month: Month, tz: tzinfo, as_of: float, target_seconds: float
) -> Iterator[TicketRecord]:
    """Every ticket of the month (complaints and spam) in order of receipt, streamed."""
    start, end = month.window(tz)
    params = {"start": start, "end": end, "as_of": as_of}
    text = f"""
WITH {_MONTH_TICKETS}
SELECT t.id, t.number, mt_all.is_c, t.channel, t.received_at, t.regency, mt_all.rerouted,
  mt_all.first_at, mt_all.closed_at,
  (SELECT COALESCE(r.agency, p.agency) FROM {_R} r LEFT JOIN {_P} p ON p.telegram_id = r.pic_telegram_id
    WHERE r.ticket_id = t.id AND r.action IN {_ANSWER} AND r.created_at <= :as_of
    ORDER BY r.created_at, r.id LIMIT 1) AS agency,
  (SELECT r.pic_name FROM {_R} r
    WHERE r.ticket_id = t.id AND r.action IN {_ANSWER} AND r.created_at <= :as_of
    ORDER BY r.created_at, r.id LIMIT 1) AS pic,
  t.sender, t.registered_at - t.received_at, t.filtered_at - t.registered_at,
  c."group",
  CASE WHEN c.removed_at IS NOT NULL AND c.removed_at <= :as_of THEN 1 ELSE 0 END,
  CASE WHEN c.source = 'reroute' AND c.created_at > :as_of THEN 1 ELSE 0 END
FROM mt_all JOIN {_T} t ON t.id = mt_all.id
LEFT JOIN {_C} c ON c.ticket_id = t.id
ORDER BY t.received_at, t.id, c.id"""
    for _, group_rows in itertools.groupby(sql.stream(database, text, params), key=lambda r: r[0]):
        rows = list(group_rows)
        r = rows[0]
        passed = tuple(row[14] for row in rows if row[14] and not row[16])
        current = tuple(row[14] for row in rows if row[14] and not row[15] and not row[16])
        first_at, closed_at = _opt(r[7]), _opt(r[8])
        wait = None if first_at is None else max(0.0, first_at - float(r[4]))
        yield TicketRecord(
            number=r[1], kind="pengaduan" if r[2] else "spam", channel=r[3], received_at=float(r[4]),
            regency=r[5], groups=current, passed_groups=passed, rerouted=bool(r[6]),
            status="ditutup" if closed_at is not None else ("ditanggapi" if first_at is not None else "terbuka"),
            first_response_at=first_at, response_seconds=wait,
            on_target=wait is not None and wait <= target_seconds, closed_at=closed_at,
            first_agency=r[9], first_pic=r[10], sender=mask_msisdn(r[11]),
            register_seconds=_opt(r[12]), filter_seconds=_opt(r[13]),
        )


@contextlib.contextmanager
def _connected(database: peewee.Database) -> Iterator[None]:
    """Use the calling thread's connection, opening (and afterwards closing) one only if it has none."""
    opened = database.is_closed()
    if opened:
        database.connect()
    try:
        yield
    finally:
        if opened:
            database.close()


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


# --------------------------------------------------------------------------- PICs and agencies


@dataclass(frozen=True, slots=True)
class _PicInfo:
    telegram_id: int
    name: str
    agency: str
    groups: tuple[str, ...]


def _pics(database: peewee.Database, params: Mapping[str, Any]) -> dict[int, _PicInfo]:
    """PICs from the ``pic`` table (mirrored from config.toml) plus anyone who acted on the month's tickets."""
    result: dict[int, _PicInfo] = {}
    for telegram_id, name, agency, groups, active in sql.query(
        database, f"SELECT telegram_id, name, agency, groups, active FROM {_P} ORDER BY telegram_id", {}
    ):
        member = tuple(g.strip() for g in (groups or "").split(",") if g.strip()) if active else ()
        result[int(telegram_id)] = _PicInfo(int(telegram_id), name, agency or NO_AGENCY, member)
    text = f"""
WITH {_MONTH_TICKETS}
SELECT r.pic_telegram_id, MAX(r.pic_name), MAX(r.agency)
FROM {_R} r JOIN mt ON mt.id = r.ticket_id
WHERE r.created_at <= :as_of GROUP BY r.pic_telegram_id"""
    for telegram_id, name, agency in sql.query(database, text, params):
        if int(telegram_id) not in result:
            result[int(telegram_id)] = _PicInfo(int(telegram_id), name or str(telegram_id), agency or NO_AGENCY, ())
    return result


# --------------------------------------------------------------------------- entry point


def aggregate(
    database: peewee.Database,
    month: Month,
    *,
    tz: tzinfo,
    timezone_name: str,
    as_of: float,
    target_seconds: float,
    sla_limits: Mapping[str, float],
    group_names: Mapping[str, str],
) -> MonthlyReport:
    """Compute every figure of the report on ``month`` as of ``as_of``.

    Args:
        database: an open peewee database with LaporGub's schema (called from the thread that owns it).
        month: the month reported on.
        tz: the service's time zone (month and day boundaries).
        timezone_name: its name, for the report's text.
        as_of: the cut-off in epoch seconds: actions after it are ignored.
        target_seconds: the response target (``[report] response_target_days``).
        sla_limits: ``{stage: seconds}`` from ``[sla]``.
        group_names: ``{group key: name}`` from ``[groups]``.
    """
    start, end = month.window(tz)
    params = {"start": start, "end": end, "as_of": as_of, "target": float(target_seconds)}
    prev_start, prev_end = month.previous().window(tz)
    prev_params = {**params, "start": prev_start, "end": prev_end}

    with _connected(database):
        totals = _totals(database, params)
        previous = _totals(database, prev_params)
        stages = _stages(database, params, sla_limits)

        by_group = _group_stats(database, params)
        known = [g for g in GROUP_KEYS if g in group_names or g in by_group]
        others = sorted(g for g in by_group if g not in GROUP_KEYS)
        groups = tuple(
            StatsRow(key=g, label=group_names.get(g, g), stats=by_group.get(g, EMPTY_STATS)) for g in known + others
        )

        pics = _pics(database, params)
        agency_expr = "COALESCE(r.agency, p.agency, :no_agency)"
        agency_members = sorted({(p.agency, g) for p in pics.values() for g in p.groups})
        by_agency = _actor_stats(
            database, {**params, "no_agency": NO_AGENCY}, actor_expr=agency_expr, actor_type="VARCHAR(128)",
            members=agency_members,
        )
        agencies = tuple(
            StatsRow(key=a, label=a, stats=by_agency.get(a, EMPTY_STATS))
            for a in sorted(set(by_agency) | {p.agency for p in pics.values() if p.groups})
        )
        pic_members = sorted({(p.telegram_id, g) for p in pics.values() for g in p.groups})
        by_pic = _actor_stats(
            database, params, actor_expr="r.pic_telegram_id", actor_type="BIGINT", members=pic_members,
        )
        pic_rows = tuple(
            StatsRow(key=str(pid), label=pics[pid].name if pid in pics else str(pid),
                     agency=pics[pid].agency if pid in pics else NO_AGENCY, stats=by_pic.get(pid, EMPTY_STATS))
            for pid in sorted(set(by_pic) | {p.telegram_id for p in pics.values() if p.groups},
                              key=lambda i: (pics[i].agency if i in pics else "", pics[i].name if i in pics else "", i))
        )

        by_regency = _ticket_stats(database, f"COALESCE(regency, '{NO_REGENCY}')", params)
        regencies = tuple(
            StatsRow(key=r, label=r, stats=s)
            for r, s in sorted(by_regency.items(), key=lambda kv: (-kv[1].received, kv[0] == NO_REGENCY, kv[0]))
        )
        days = _days(database, params, month, tz)
        keywords = _keywords(database, params)
        open_count = _open_count(database, params)
        open_first = tuple(open_tickets(database, month, tz, as_of, limit=OPEN_LIST_LIMIT))

    return MonthlyReport(
        month=month, timezone=timezone_name, as_of=as_of, target_seconds=float(target_seconds),
        totals=totals, previous=previous, stages=stages, groups=groups, agencies=agencies, pics=pic_rows,
        regencies=regencies, days=days, keywords=keywords, open_first=open_first, open_count=open_count,
        start=start, end=end,
    )
