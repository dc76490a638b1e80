"""The monthly figures, computed in SQL over the database: the tested pure layer of the report.

:class:`MonthSnapshot` first gathers the month's per-ticket and per-group
facts at the cut-off into two temporary tables (private to the connection;
the service's tables are only read), then each table of the report is one
query that groups and counts them in the database: a month of 100,000
tickets becomes a few hundred result rows, and Python only reshapes those
into the frozen dataclasses below. Only the per-ticket listings (the CSV,
the list of complaints without a response) stream row by row, because they
*are* rows.

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
* **Per agency / per PIC**: an agency/PIC answers for the complaints that
  reach its **duty groups**, the PIC's groups (``pic.groups``) other than
  ``channel``, by the keyword filter or by re-routing. ``channel`` receives
  every complaint by design, so being in it makes nobody responsible for
  answering. A complaint counts for an agency/PIC with duty groups when it
  reached one of them or when the agency/PIC acted on it; responses, closes
  and re-routes count when made by that agency/PIC. An agency/PIC with no
  duty group (only ``channel``, or no longer registered) gets no rate: it
  is listed apart with what it did (:class:`ActionRow`).
* **Stage SLA**: register = registered_at - received_at and filter =
  filtered_at - registered_at over the month's tickets (complaints and
  spam); notify = sent_at - queued_at and deliver = acked_at - sent_at over
  their notifications of kind ``ticket``/``spam``. A stage that has not
  finished counts as not within the limit.
* **Incidents** (several complaints about one event, linked; laporgub/incidents.py):
  the complaints of the month linked to an incident are counted as complaints as
  ever, and apart as **linked reports**; an incident counts once in the month of
  its first report received in it, with **one response time**: from that first
  report to the first response on any of its reports. **Events** = complaints
  not linked + incidents.
* **Conversations** (laporgub/conversations.py): over the month's complaints, the PICs'
  questions to citizens, the citizens' answers by SMS joined to their tickets (not
  complaints of their own), the median time from the PIC's last message before an
  answer to the answer, and the complaints still waiting for the citizen at the
  cut-off. A question is a response as ever: response times keep their meaning.
* Percentiles (median, 90th) interpolate linearly between ranks, as
  PostgreSQL's ``percentile_cont`` and numpy's default do.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

import peewee

from laporgub import db
from laporgub.render import wording
from laporgub.report import sql
from laporgub.report.periods import Month
from laporgub.routing_model import MODEL_REASON
from laporgub.tickets import mask_msisdn
from laporgub.types import GROUP_KEYS, STAGES

logger = logging.getLogger(__name__)

__all__ = [
    "ActionRow",
    "ConversationStats",
    "DayCount",
    "IncidentStats",
    "KeywordCount",
    "MonthSnapshot",
    "MonthlyReport",
    "NO_AGENCY",
    "NO_REGENCY",
    "OpenTicket",
    "ResponseStats",
    "StageSla",
    "StatsRow",
    "TicketRecord",
    "Totals",
    "aggregate",
    "connected",
]

#: Label of complaints that name no regency/city.
NO_REGENCY = wording("report.no_regency")
#: Agency of a PIC action whose PIC has none recorded.
NO_AGENCY = wording("report.no_agency")
#: The group that receives every complaint: being in it makes no agency responsible for answering.
CHANNEL = "channel"
#: Ticket rows the PDF lists; the XLSX and CSV have all of them.
OPEN_LIST_LIMIT = 100

_T = db.Ticket._meta.table_name
_C = db.TicketCategory._meta.table_name
_N = db.Notification._meta.table_name
_P = db.Pic._meta.table_name
_R = db.PicResponse._meta.table_name
_I = db.InboundSms._meta.table_name

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
class IncidentStats:
    """Incidents of a month: how many, how many complaints they linked, and their response (once each).

    Attributes:
        incidents: incidents with reports received in the month.
        linked_reports: complaints of the month linked to one (counted among the complaints too).
        events: complaints not linked plus incidents: the events citizens reported.
        stats: the incidents' response figures, each incident once (``received`` = incidents).
    """

    incidents: int = 0
    linked_reports: int = 0
    events: int = 0
    stats: ResponseStats = EMPTY_STATS


EMPTY_INCIDENTS = IncidentStats()


@dataclass(frozen=True, slots=True)
class ConversationStats:
    """Conversations of a month's complaints (laporgub/conversations.py), up to the cut-off.

    Attributes:
        questions: PIC messages that asked the citizen something (``/tanya``, a reply ending in "?").
        answers: citizens' SMS joined to their ticket as an answer (not counted as complaints).
        median_answer_seconds: from the PIC's last message before an answer to the answer, median.
        waiting: complaints whose question still waits for the citizen (not closed).
    """

    questions: int = 0
    answers: int = 0
    median_answer_seconds: float | None = None
    waiting: int = 0


EMPTY_CONVERSATIONS = ConversationStats()


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One row of a per-group, per-agency, per-PIC or per-regency table.

    Attributes:
        key: group key, agency name, PIC telegram id (as text) or regency.
        label: what people read (group name, PIC name, ...).
        agency: the PIC's agency (PIC rows only).
        stats: the figures.
        groups: the duty groups of an agency or PIC (agency and PIC rows only).
    """

    key: str
    label: str
    stats: ResponseStats
    agency: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionRow:
    """An agency or PIC with no duty group: what it did, and no rate (it answers for no complaint).

    Attributes:
        key: agency name, or PIC telegram id (as text).
        label: agency name or PIC name.
        agency: the PIC's agency (PIC rows only).
        groups: its registered groups (``("channel",)`` for the admin); empty when not, or no
            longer, registered.
        responded: complaints of the month it answered (a response or a close) by the cut-off.
        closed: complaints it closed.
        rerouted: complaints it re-routed.
    """

    key: str
    label: str
    responded: int
    closed: int
    rerouted: int
    agency: str = ""
    groups: tuple[str, ...] = ()


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
    duty_agencies: tuple[str, ...] = ()  # agencies answering for a group it passed through (complaints only)
    incident: str | None = None  # the incident it was linked to ("K12")


@dataclass(frozen=True, slots=True)
class Totals:
    """The month at a glance."""

    stats: ResponseStats
    spam: int
    sms: int
    web: int
    incidents: IncidentStats = EMPTY_INCIDENTS
    conversations: ConversationStats = EMPTY_CONVERSATIONS


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
    agencies: tuple[StatsRow, ...]  # those with a duty group
    pics: tuple[StatsRow, ...]  # those with a duty group
    regencies: tuple[StatsRow, ...]
    days: tuple[DayCount, ...]
    keywords: tuple[KeywordCount, ...]
    open_first: tuple[OpenTicket, ...]  # the oldest OPEN_LIST_LIMIT
    open_count: int
    start: float
    end: float
    agencies_without_duty: tuple[ActionRow, ...] = ()
    pics_without_duty: tuple[ActionRow, ...] = ()


# --------------------------------------------------------------------------- the snapshot

#: Per-ticket facts at the cut-off, one row per ticket received in the window (complaints and spam).
_TICKET_COLUMNS = (
    "id BIGINT, number VARCHAR(24), sender VARCHAR(32), received_at DOUBLE PRECISION, regency VARCHAR(64), "
    "channel VARCHAR(8), is_c INTEGER, first_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, rerouted INTEGER, "
    "register_s DOUBLE PRECISION, filter_s DOUBLE PRECISION, incident BIGINT"
)
_FILL_TICKETS = f"""
INSERT INTO {{t}} (id, number, sender, received_at, regency, channel, is_c, first_at, closed_at, rerouted,
  register_s, filter_s, incident)
SELECT t.id, t.number, t.sender, t.received_at, t.regency, t.channel,
  CASE WHEN t.kind = 'complaint' OR COALESCE(cr.has_reroute, 0) = 1 THEN 1 ELSE 0 END,
  rr.first_at, rr.closed_at, COALESCE(cr.rerouted, 0),
  t.registered_at - t.received_at, t.filtered_at - t.registered_at, t.incident_id
FROM {_T} t
LEFT JOIN (
  SELECT c.ticket_id AS ticket_id, MAX(CASE WHEN c.source = 'reroute' THEN 1 ELSE 0 END) AS has_reroute,
    MAX(CASE WHEN (c.source = 'reroute' AND c.created_at <= :as_of) OR c.removed_at <= :as_of THEN 1 ELSE 0 END)
      AS rerouted
  FROM {_C} c JOIN {_T} t2 ON t2.id = c.ticket_id
  WHERE t2.received_at >= :start AND t2.received_at < :end
  GROUP BY c.ticket_id
) cr ON cr.ticket_id = t.id
LEFT JOIN (
  SELECT r.ticket_id AS ticket_id,
    MIN(CASE WHEN r.action IN {_ANSWER} THEN r.created_at END) AS first_at,
    MIN(CASE WHEN r.action = 'close' THEN r.created_at END) AS closed_at
  FROM {_R} r JOIN {_T} t3 ON t3.id = r.ticket_id
  WHERE t3.received_at >= :start AND t3.received_at < :end AND r.created_at <= :as_of
  GROUP BY r.ticket_id
) rr ON rr.ticket_id = t.id
WHERE t.received_at >= :start AND t.received_at < :end"""

#: Per (complaint, group it passed through): when the group got it and what happened there.
_CATEGORY_COLUMNS = (
    "cat_id BIGINT, ticket_id BIGINT, grp VARCHAR(32), keywords TEXT, start_at DOUBLE PRECISION, "
    "left_group INTEGER, rerouted INTEGER, first_at DOUBLE PRECISION, closed INTEGER, unanswered INTEGER"
)
_IN_GROUP = (
    "(c.source <> 'reroute' OR r.created_at >= c.created_at) "
    "AND (c.removed_at IS NULL OR r.created_at < c.removed_at)"
)
_PLAIN = "c.source <> 'reroute' AND (c.removed_at IS NULL OR c.removed_at > :as_of)"
#: Two statements: a category never re-routed (nearly all) sees every response of its ticket, so it copies
#: the ticket's; only re-routed ones look at each response's time.
_FILL_CATEGORIES = (
    f"""
INSERT INTO {{c}} (cat_id, ticket_id, grp, keywords, start_at, left_group, rerouted, first_at, closed, unanswered)
SELECT c.id, c.ticket_id, c."group", c.keywords, mt.received_at, 0, 0, mt.first_at,
  CASE WHEN mt.closed_at IS NULL THEN 0 ELSE 1 END, CASE WHEN mt.first_at IS NULL THEN 1 ELSE 0 END
FROM {_C} c JOIN {{t}} mt ON mt.id = c.ticket_id AND mt.is_c = 1
WHERE {_PLAIN}""",
    f"""
INSERT INTO {{c}} (cat_id, ticket_id, grp, keywords, start_at, left_group, rerouted, first_at, closed, unanswered)
SELECT c.id, c.ticket_id, c."group", c.keywords,
  CASE WHEN c.source = 'reroute' THEN c.created_at ELSE MIN(mt.received_at) END,
  CASE WHEN c.removed_at IS NOT NULL AND c.removed_at <= :as_of THEN 1 ELSE 0 END,
  1,
  MIN(CASE WHEN r.action IN {_ANSWER} AND {_IN_GROUP} THEN r.created_at END),
  MAX(CASE WHEN r.action = 'close' AND {_IN_GROUP} THEN 1 ELSE 0 END),
  MAX(CASE WHEN mt.first_at IS NULL THEN 1 ELSE 0 END)
FROM {_C} c JOIN {{t}} mt ON mt.id = c.ticket_id AND mt.is_c = 1
LEFT JOIN {_R} r ON r.ticket_id = c.ticket_id AND r.created_at <= :as_of
WHERE NOT ({_PLAIN}) AND (c.source <> 'reroute' OR c.created_at <= :as_of)
GROUP BY c.id, c.ticket_id, c."group", c.keywords, c.source, c.created_at, c.removed_at""",
)

_COUNTER = itertools.count(1)


class MonthSnapshot:
    """The month's per-ticket and per-group facts at the cut-off, in temporary tables.

    Built once with two passes over the database (tickets with their first
    response, close and re-routing; categories with the responses made while
    the ticket was in the group) and then grouped by every table of the
    report. Temporary tables belong to the connection of the thread that
    builds them: use a snapshot in one thread, as a context manager; it drops
    its tables on exit.

    Args:
        database: an open peewee database (the calling thread's connection).
        month: the month reported on.
        tz: the service's time zone.
        as_of: the cut-off (epoch seconds): actions after it are ignored.
        target_seconds: the response target.
        tickets_only: build only the ticket table (enough for :meth:`ticket_records`).
    """

    def __init__(self, database: peewee.Database, month: Month, tz: tzinfo, as_of: float,
                 target_seconds: float, *, tickets_only: bool = False) -> None:
        self.tickets_only = tickets_only
        self.database = database
        self.month = month
        self.tz = tz
        self.as_of = float(as_of)
        self.target_seconds = float(target_seconds)
        self.start, self.end = month.window(tz)
        n = next(_COUNTER)
        self.t = f"rpt_{n}_ticket"
        self.c = f"rpt_{n}_category"
        self.prev_t = f"rpt_{n}_prev_ticket"
        self._created: list[str] = []

    @property
    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "as_of": self.as_of, "target": self.target_seconds}

    def __enter__(self) -> MonthSnapshot:
        try:
            self._fill_tickets(self.t, self.params)
            if self.tickets_only:  # enough for ticket_records()
                return self
            prev_start, prev_end = self.month.previous().window(self.tz)
            self._fill_tickets(self.prev_t, {**self.params, "start": prev_start, "end": prev_end})
            self._create(self.c, _CATEGORY_COLUMNS)
            for statement in _FILL_CATEGORIES:
                self._exec(statement.format(t=self.t, c=self.c), self.params)
            self._exec(f"CREATE INDEX {self.c}_ticket ON {self.c} (ticket_id)", {})
            self._exec(f"CREATE INDEX {self.c}_group ON {self.c} (grp, ticket_id)", {})
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the temporary tables (safe to call twice)."""
        while self._created:
            name = self._created.pop()
            try:
                self._exec(f"DROP TABLE IF EXISTS {name}", {})
            except peewee.DatabaseError as exc:  # the connection is going away anyway
                logger.warning("event=report_temp_drop_failed table=%s error=%s", name, exc)

    def _create(self, name: str, columns: str) -> None:
        self._exec(f"CREATE TEMPORARY TABLE {name} ({columns})", {})
        self._created.append(name)

    def _fill_tickets(self, name: str, params: Mapping[str, Any]) -> None:
        self._create(name, _TICKET_COLUMNS)
        self._exec(_FILL_TICKETS.format(t=name), params)
        self._exec(f"CREATE INDEX {name}_id ON {name} (id)", {})
        self._exec(f"CREATE INDEX {name}_received ON {name} (received_at, id)", {})

    def _exec(self, text: str, params: Mapping[str, Any]) -> None:
        statement, values = sql.bind(self.database, text, params)
        self.database.execute_sql(statement, values)  # type: ignore[no-untyped-call]

    def _query(self, text: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return sql.query(self.database, text, {**self.params, **(params or {})})

    # -- figures -----------------------------------------------------------------------

    def ticket_stats(self, key: str, table: str | None = None,
                     extra: Mapping[str, Any] | None = None) -> dict[Any, ResponseStats]:
        """Ticket-level figures of the complaints, grouped by ``key`` (an expression over the ticket table)."""
        text = f"""
WITH per AS (
  SELECT {key} AS actor,
    CASE WHEN first_at IS NULL THEN 0 ELSE 1 END AS responded,
    {_WAIT.format(first="first_at", start="received_at")} AS wait,
    CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END AS closed,
    CASE WHEN first_at IS NULL THEN 1 ELSE 0 END AS still_open,
    rerouted
  FROM {table or self.t} WHERE is_c = 1
),
{_STATS_TAIL}"""
        return _stats_rows(self._query(text, extra))

    def totals(self, previous: bool = False) -> Totals:
        """The month's (or the month before's) figures at a glance."""
        table = self.prev_t if previous else self.t
        stats = self.ticket_stats("'all'", table).get("all", EMPTY_STATS)
        spam, sms_count, web = self._query(f"""
SELECT SUM(CASE WHEN is_c = 0 THEN 1 ELSE 0 END),
  SUM(CASE WHEN is_c = 1 AND channel <> 'web' THEN 1 ELSE 0 END),
  SUM(CASE WHEN is_c = 1 AND channel = 'web' THEN 1 ELSE 0 END)
FROM {table}""")[0]
        return Totals(stats=stats, spam=int(spam or 0), sms=int(sms_count or 0), web=int(web or 0),
                      incidents=self.incident_stats(table, stats.received),
                      conversations=self.conversation_stats(table))

    def conversation_stats(self, table: str) -> ConversationStats:
        """Questions to citizens, their answers by SMS and the time to them, over the month's complaints."""
        questions = self._query(f"""
SELECT COUNT(*) FROM {_R} r JOIN {table} mt ON mt.id = r.ticket_id AND mt.is_c = 1
WHERE r.question = :yes AND r.created_at <= :as_of""", {"yes": True})[0][0]
        answers = self._query(f"""
SELECT i.ticket_id, i.reported_at FROM {_I} i JOIN {table} mt ON mt.id = i.ticket_id AND mt.is_c = 1
WHERE i.kind = 'answer' AND (i.concat_seq IS NULL OR i.concat_seq = 1) AND i.reported_at <= :as_of""")
        pic = self._query(f"""
SELECT r.ticket_id, r.created_at FROM {_R} r JOIN {table} mt ON mt.id = r.ticket_id AND mt.is_c = 1
WHERE r.action = 'response' AND r.created_at <= :as_of""")
        asked: dict[int, list[float]] = {}
        for ticket_id, at in pic:
            asked.setdefault(int(ticket_id), []).append(float(at))
        waits = []
        for ticket_id, at in answers:
            before = [a for a in asked.get(int(ticket_id), ()) if a <= float(at)]
            if before:
                waits.append(float(at) - max(before))
        waiting = self._query(f"""
SELECT COUNT(*) FROM {_T} t JOIN {table} mt ON mt.id = t.id AND mt.is_c = 1
WHERE t.waiting_since IS NOT NULL AND t.waiting_since <= :as_of AND t.status <> 'closed'""")[0][0]
        return ConversationStats(questions=int(questions or 0), answers=len(answers),
                                 median_answer_seconds=statistics.median(waits) if waits else None,
                                 waiting=int(waiting or 0))

    def incident_stats(self, table: str, complaints: int) -> IncidentStats:
        """The month's incidents, each once: its first report of the month to its first response on any."""
        text = f"""
WITH inc AS (
  SELECT incident AS actor, COUNT(*) AS n, MIN(received_at) AS start_at, MIN(first_at) AS first_at,
    MAX(CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END) AS closed
  FROM {table} WHERE is_c = 1 AND incident IS NOT NULL GROUP BY incident
),
per AS (
  SELECT 'all' AS actor,
    CASE WHEN first_at IS NULL THEN 0 ELSE 1 END AS responded,
    {_WAIT.format(first="first_at", start="start_at")} AS wait,
    closed,
    CASE WHEN first_at IS NULL THEN 1 ELSE 0 END AS still_open,
    0 AS rerouted
  FROM inc
),
{_STATS_TAIL}"""
        stats = _stats_rows(self._query(text)).get("all", EMPTY_STATS)
        linked = int(self._query(f"SELECT COUNT(*) FROM {table} WHERE is_c = 1 AND incident IS NOT NULL")[0][0] or 0)
        return IncidentStats(incidents=stats.received, linked_reports=linked,
                             events=complaints - linked + stats.received, stats=stats)

    def group_stats(self) -> dict[Any, ResponseStats]:
        """Per group: every group a complaint passed through, responses made while it was there."""
        text = f"""
WITH per AS (
  SELECT c.grp AS actor,
    CASE WHEN c.first_at IS NULL THEN 0 ELSE 1 END AS responded,
    {_WAIT.format(first="c.first_at", start="c.start_at")} AS wait,
    c.closed AS closed,
    CASE WHEN c.unanswered = 1 AND c.left_group = 0 THEN 1 ELSE 0 END AS still_open,
    c.rerouted AS rerouted
  FROM {self.c} c
),
{_STATS_TAIL}"""
        return _stats_rows(self._query(text))

    def actor_stats(self, *, actor_expr: str, actor_type: str, members: Sequence[tuple[Any, str]],
                    extra: Mapping[str, Any] | None = None) -> dict[Any, ResponseStats]:
        """Per agency or per PIC: complaints that reached their groups or that they acted on."""
        member_sql, member_params = sql.derived_table(
            [("actor", actor_type), ("grp", "VARCHAR(64)")], members, "mem")
        text = f"""
WITH member AS ({member_sql}),
events AS (
  SELECT m.actor AS actor, c.ticket_id AS ticket_id, c.start_at AS start_at,
    CAST(NULL AS DOUBLE PRECISION) AS first_at, 0 AS closed, 0 AS rerouted
  FROM member m JOIN {self.c} c ON c.grp = m.grp
  UNION ALL
  SELECT {actor_expr}, r.ticket_id, CAST(NULL AS DOUBLE PRECISION),
    CASE WHEN r.action IN {_ANSWER} THEN r.created_at END,
    CASE WHEN r.action = 'close' THEN 1 ELSE 0 END,
    CASE WHEN r.action = 'reroute' THEN 1 ELSE 0 END
  FROM {_R} r JOIN {self.t} mt ON mt.id = r.ticket_id AND mt.is_c = 1
  LEFT JOIN {_P} p ON p.telegram_id = r.pic_telegram_id
  WHERE r.created_at <= :as_of
),
pairs AS (
  SELECT actor, ticket_id, MIN(start_at) AS start_at, MIN(first_at) AS first_at, MAX(closed) AS closed,
    MAX(rerouted) AS rerouted
  FROM events GROUP BY actor, ticket_id
),
per AS (
  SELECT k.actor AS actor,
    CASE WHEN k.first_at IS NULL THEN 0 ELSE 1 END AS responded,
    {_WAIT.format(first="k.first_at", start="COALESCE(k.start_at, mt.received_at)")} AS wait,
    k.closed AS closed,
    CASE WHEN mt.first_at IS NULL THEN 1 ELSE 0 END AS still_open,
    k.rerouted AS rerouted
  FROM pairs k JOIN {self.t} mt ON mt.id = k.ticket_id
),
{_STATS_TAIL}"""
        return _stats_rows(self._query(text, {**member_params, **(extra or {})}))

    def stages(self, limits: Mapping[str, float]) -> tuple[StageSla, ...]:
        """SLA compliance of each stage over the month's tickets and their ticket/spam notifications."""
        def part(stage: str, value: str, source: str) -> str:
            return (f"SELECT '{stage}', COUNT(*), COUNT({value}), "
                    f"SUM(CASE WHEN {value} <= :lim_{stage} THEN 1 ELSE 0 END), MAX({value}) FROM {source}")

        notifications = f"{_N} n JOIN {self.t} mt ON mt.id = n.ticket_id AND n.kind IN ('ticket', 'spam')"
        text = " UNION ALL ".join([
            part("register", "register_s", self.t),
            part("filter", "filter_s", self.t),
            part("notify", "n.sent_at - n.queued_at", notifications),
            part("deliver", "n.acked_at - n.sent_at", notifications),
        ])
        found = {row[0]: row for row in self._query(text, {f"lim_{s}": float(limits[s]) for s in STAGES})}
        result = []
        for stage in STAGES:
            _, total, completed, within, vmax = found.get(stage, (stage, 0, 0, 0, None))
            result.append(StageSla(
                stage=stage, limit_seconds=float(limits[stage]), total=int(total or 0),
                completed=int(completed or 0), within=int(within or 0), max_seconds=_opt(vmax),
            ))
        return tuple(result)

    def days(self) -> tuple[DayCount, ...]:
        """Complaints, responded complaints and spam per local day (the one place dates are bucketed)."""
        days = self.month.days(self.tz)
        buckets, bucket_params = sql.day_buckets(days)
        text = f"""
WITH days AS ({buckets})
SELECT days.day_index,
  SUM(CASE WHEN mt.is_c = 1 THEN 1 ELSE 0 END),
  SUM(CASE WHEN mt.is_c = 1 AND mt.first_at IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN mt.is_c = 0 THEN 1 ELSE 0 END)
FROM days LEFT JOIN {self.t} mt ON mt.received_at >= days.day_start AND mt.received_at < days.day_end
GROUP BY days.day_index ORDER BY days.day_index"""
        counts = {row[0]: row for row in self._query(text, bucket_params)}
        return tuple(
            DayCount(d.date, int(counts[i][1] or 0), int(counts[i][2] or 0), int(counts[i][3] or 0))
            if i in counts else DayCount(d.date, 0, 0, 0)
            for i, d in enumerate(days)
        )

    def keywords(self, limit: int = 20) -> tuple[KeywordCount, ...]:
        """Top (keyword, group) pairs by complaints (the model's reasons are not keywords).

        SQL counts complaints per distinct ``(group, keywords)`` string; the few
        distinct strings are split here. A (ticket, group) pair is unique, so
        each complaint counts once per keyword and group.
        """
        text = f"""
SELECT grp, keywords, COUNT(*) FROM {self.c}
WHERE keywords IS NOT NULL AND keywords <> ''
GROUP BY grp, keywords"""
        counts: dict[tuple[str, str], int] = {}
        for group, keywords, n in self._query(text):
            for word in dict.fromkeys(w.strip() for w in str(keywords).split(",")):
                # A group the learned model chose carries its reason ("model: puskesmas + tutup"), no keyword.
                if word and not word.startswith(MODEL_REASON):
                    counts[(word, group)] = counts.get((word, group), 0) + int(n)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))[:limit]
        return tuple(KeywordCount(keyword=w, group=g, complaints=n) for (w, g), n in ranked)

    def open_count(self) -> int:
        return int(self._query(f"SELECT COUNT(*) FROM {self.t} WHERE is_c = 1 AND first_at IS NULL")[0][0] or 0)

    def registered_pics(self) -> dict[int, _PicInfo]:
        """PICs from the ``pic`` table (mirrored from config.toml); an inactive one has no groups."""
        result: dict[int, _PicInfo] = {}
        for telegram_id, name, agency, groups, active in self._query(
            f"SELECT telegram_id, name, agency, groups, active FROM {_P} ORDER BY telegram_id"
        ):
            member = tuple(g.strip() for g in (groups or "").split(",") if g.strip()) if active else ()
            result[int(telegram_id)] = _PicInfo(int(telegram_id), name, agency or NO_AGENCY, member)
        return result

    def pics(self) -> dict[int, _PicInfo]:
        """PICs from the ``pic`` table plus anyone who acted on the month's complaints."""
        result = self.registered_pics()
        text = f"""
SELECT r.pic_telegram_id, MAX(r.pic_name), MAX(r.agency)
FROM {_R} r JOIN {self.t} mt ON mt.id = r.ticket_id AND mt.is_c = 1
WHERE r.created_at <= :as_of GROUP BY r.pic_telegram_id"""
        for telegram_id, name, agency in self._query(text):
            if int(telegram_id) not in result:
                result[int(telegram_id)] = _PicInfo(int(telegram_id), name or str(telegram_id),
                                                    agency or NO_AGENCY, ())
        return result

    # -- listings (streamed) --------------------------------------------------------------

    def open_tickets(self, limit: int | None = None) -> Iterator[OpenTicket]:
        """The month's complaints without a response at the cut-off, oldest first."""
        limit_sql = f"LIMIT {int(limit)}" if limit is not None else ""
        text = f"""
WITH op AS (
  SELECT id, number, sender, received_at, regency FROM {self.t}
  WHERE is_c = 1 AND first_at IS NULL ORDER BY received_at, id {limit_sql}
)
SELECT op.id, op.number, op.sender, op.received_at, op.regency, c.grp
FROM op LEFT JOIN {self.c} c ON c.ticket_id = op.id AND c.left_group = 0
ORDER BY op.received_at, op.id, c.cat_id"""
        rows = sql.stream(self.database, text, self.params)
        for _, group_rows in itertools.groupby(rows, key=lambda r: r[0]):
            first, *rest = list(group_rows)
            groups = [g for g in [first[5], *(r[5] for r in rest)] if g]
            shown = tuple(g for g in groups if g != "channel") or tuple(groups)
            yield OpenTicket(
                number=first[1], groups=shown, received_at=float(first[3]),
                age_seconds=max(0.0, self.as_of - float(first[3])), sender=mask_msisdn(first[2]),
                regency=first[4],
            )

    def ticket_records(self) -> Iterator[TicketRecord]:
        """Every ticket of the month (complaints and spam) in order of receipt.

        Two ordered streams, merged here: the tickets (one row each) and their
        group rows (several each), so no ticket column is repeated per group.
        """
        tickets = f"""
SELECT mt.id, mt.number, mt.is_c, mt.channel, mt.received_at, mt.regency, mt.rerouted, mt.first_at, mt.closed_at,
  COALESCE(r.agency, p.agency), r.pic_name, mt.sender, mt.register_s, mt.filter_s, mt.incident
FROM {self.t} mt
LEFT JOIN {_R} r ON r.id = (
  SELECT r2.id FROM {_R} r2 WHERE r2.ticket_id = mt.id AND r2.created_at = mt.first_at
    AND r2.action IN {_ANSWER} ORDER BY r2.id LIMIT 1)
LEFT JOIN {_P} p ON p.telegram_id = r.pic_telegram_id
ORDER BY mt.received_at, mt.id"""
        groups = f"""
SELECT mt.id, c."group",
  CASE WHEN c.removed_at IS NOT NULL AND c.removed_at <= :as_of THEN 1 ELSE 0 END
FROM {self.t} mt JOIN {_C} c ON c.ticket_id = mt.id
WHERE c.source <> 'reroute' OR c.created_at <= :as_of
ORDER BY mt.received_at, mt.id, c."group"
"""
        target = self.target_seconds
        agencies_of: dict[str, set[str]] = {}  # duty group -> agencies that answer for it
        for info in self.registered_pics().values():
            for group in info.duty:
                agencies_of.setdefault(group, set()).add(info.agency)
        duty_cache: dict[tuple[str, ...], tuple[str, ...]] = {}

        def duty_agencies(passed: tuple[str, ...]) -> tuple[str, ...]:
            if passed not in duty_cache:
                duty_cache[passed] = tuple(sorted(set().union(*(agencies_of.get(g, ()) for g in passed))))
            return duty_cache[passed]

        group_rows = itertools.groupby(sql.stream(self.database, groups, self.params), key=lambda r: r[0])
        # Both streams share one order and every group row's ticket is in the first stream,
        # so the next pending group rows belong to this ticket or to a later one.
        pending = next(group_rows, None)
        for r in sql.stream(self.database, tickets, self.params):
            rows: list[tuple[Any, ...]] = []
            if pending is not None and pending[0] == r[0]:
                rows = list(pending[1])
                pending = next(group_rows, None)
            first_at, closed_at = _opt(r[7]), _opt(r[8])
            wait = None if first_at is None else max(0.0, first_at - float(r[4]))
            passed = tuple(g for _, g, _ in rows)
            yield TicketRecord(
                number=r[1], kind="pengaduan" if r[2] else "spam", channel=r[3], received_at=float(r[4]),
                regency=r[5], groups=tuple(g for _, g, left in rows if not left),
                passed_groups=passed, rerouted=bool(r[6]), duty_agencies=duty_agencies(passed) if r[2] else (),
                status="ditutup" if closed_at is not None else ("ditanggapi" if first_at is not None else "terbuka"),
                first_response_at=first_at, response_seconds=wait,
                on_target=wait is not None and wait <= target, closed_at=closed_at,
                first_agency=r[9], first_pic=r[10], sender=mask_msisdn(r[11]),
                register_seconds=_opt(r[12]), filter_seconds=_opt(r[13]),
                incident=f"K{int(r[14])}" if r[14] is not None else None,
            )

    # -- everything ------------------------------------------------------------------------

    def report(self, *, timezone_name: str, sla_limits: Mapping[str, float],
               group_names: Mapping[str, str]) -> MonthlyReport:
        """Every figure of the report."""
        by_group = self.group_stats()
        known = [g for g in GROUP_KEYS if g in group_names or g in by_group]
        others = sorted(g for g in by_group if g not in GROUP_KEYS)
        groups = tuple(
            StatsRow(key=g, label=group_names.get(g, g), stats=by_group.get(g, EMPTY_STATS)) for g in known + others
        )

        agencies, agencies_without_duty, pic_rows, pics_without_duty = self.responsibility()
        by_regency = self.ticket_stats("COALESCE(regency, :no_regency)", extra={"no_regency": NO_REGENCY})
        regencies = tuple(
            StatsRow(key=r, label=r, stats=s)
            for r, s in sorted(by_regency.items(), key=lambda kv: (-kv[1].received, kv[0] == NO_REGENCY, kv[0]))
        )
        return MonthlyReport(
            month=self.month, timezone=timezone_name, as_of=self.as_of, target_seconds=self.target_seconds,
            totals=self.totals(), previous=self.totals(previous=True), stages=self.stages(sla_limits),
            groups=groups, agencies=agencies, pics=pic_rows, regencies=regencies, days=self.days(),
            keywords=self.keywords(), open_first=tuple(self.open_tickets(limit=OPEN_LIST_LIMIT)),
            open_count=self.open_count(), start=self.start, end=self.end,
            agencies_without_duty=agencies_without_duty, pics_without_duty=pics_without_duty,
        )

    def responsibility(self) -> tuple[tuple[StatsRow, ...], tuple[ActionRow, ...],
                                      tuple[StatsRow, ...], tuple[ActionRow, ...]]:
        """Per agency and per PIC: (agencies with duty groups, agencies without, the same for PICs).

        Duty groups are a PIC's groups other than ``channel``; an agency's are its PICs'. Rows with
        duty groups carry the full figures; the others only what they did. Agencies and PICs
        registered in the ``pic`` table are listed even when they did nothing; others only when
        they acted on the month's complaints.
        """
        pics = self.pics()
        by_agency = self.actor_stats(
            actor_expr="COALESCE(r.agency, p.agency, :no_agency)", actor_type="VARCHAR(128)",
            members=sorted({(p.agency, g) for p in pics.values() for g in p.duty}),
            extra={"no_agency": NO_AGENCY},
        )
        by_pic = self.actor_stats(
            actor_expr="r.pic_telegram_id", actor_type="BIGINT",
            members=sorted({(p.telegram_id, g) for p in pics.values() for g in p.duty}),
        )
        agency_groups: dict[str, set[str]] = {}
        agency_duty: dict[str, set[str]] = {}
        for p in pics.values():
            if p.groups:
                agency_groups.setdefault(p.agency, set()).update(p.groups)
                agency_duty.setdefault(p.agency, set()).update(p.duty)

        agencies, agencies_without = [], []
        for a in sorted(set(by_agency) | set(agency_groups)):
            stats = by_agency.get(a, EMPTY_STATS)
            if agency_duty.get(a):
                agencies.append(StatsRow(key=a, label=a, stats=stats, groups=_in_order(agency_duty[a])))
            else:
                agencies_without.append(ActionRow(key=a, label=a, responded=stats.responded, closed=stats.closed,
                                                  rerouted=stats.rerouted, groups=_in_order(agency_groups.get(a, ()))))

        def pic_order(pid: int) -> tuple[str, str, int]:
            info = pics.get(pid)
            return (info.agency, info.name, pid) if info else ("", "", pid)

        pic_rows, pics_without = [], []
        for pid in sorted(set(by_pic) | {p.telegram_id for p in pics.values() if p.groups}, key=pic_order):
            info = pics.get(pid)
            name, agency = (info.name, info.agency) if info else (str(pid), NO_AGENCY)
            stats = by_pic.get(pid, EMPTY_STATS)
            if info is not None and info.duty:
                pic_rows.append(StatsRow(key=str(pid), label=name, agency=agency, stats=stats, groups=info.duty))
            else:
                pics_without.append(ActionRow(key=str(pid), label=name, agency=agency, responded=stats.responded,
                                              closed=stats.closed, rerouted=stats.rerouted,
                                              groups=info.groups if info else ()))
        return tuple(agencies), tuple(agencies_without), tuple(pic_rows), tuple(pics_without)


#: Turns a CTE ``per(actor, responded, wait, closed, still_open, rerouted)`` into one row per actor.
_STATS_TAIL = f"""
agg AS (
  SELECT actor, COUNT(*) AS received, SUM(responded) AS responded,
    SUM(CASE WHEN wait <= :target THEN 1 ELSE 0 END) AS on_target,
    SUM(closed) AS closed, SUM(still_open) AS still_open, SUM(rerouted) AS rerouted
  FROM per GROUP BY actor
),
ranked AS (
  SELECT actor, wait AS v, ROW_NUMBER() OVER (PARTITION BY actor ORDER BY wait) - 1 AS i
  FROM per WHERE wait IS NOT NULL
),
pct AS (
  SELECT ranked.actor AS actor,
    {sql.percentile_expr(1, 2, value="ranked.v", index="ranked.i", last="agg.responded - 1")} AS p50,
    {sql.percentile_expr(9, 10, value="ranked.v", index="ranked.i", last="agg.responded - 1")} AS p90
  FROM ranked JOIN agg ON agg.actor = ranked.actor
  GROUP BY ranked.actor
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
            median_seconds=_opt(p50), p90_seconds=_opt(p90),
        )
    return result


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class _PicInfo:
    telegram_id: int
    name: str
    agency: str
    groups: tuple[str, ...]  # registered groups, empty when inactive or unknown

    @property
    def duty(self) -> tuple[str, ...]:
        """The groups whose complaints the PIC answers for: every group but the channel, which gets them all."""
        return tuple(g for g in self.groups if g != CHANNEL)


def _in_order(groups: Iterable[str]) -> tuple[str, ...]:
    """Group keys in the usual order (unknown ones last, by name)."""
    chosen = set(groups)
    return tuple(g for g in GROUP_KEYS if g in chosen) + tuple(sorted(chosen - set(GROUP_KEYS)))


# --------------------------------------------------------------------------- entry points


@contextlib.contextmanager
def connected(database: peewee.Database) -> Iterator[peewee.Database]:
    """Use the calling thread's connection, opening (and afterwards closing) one only if it has none."""
    opened = database.is_closed()
    if opened:
        database.connect()
    try:
        yield database
    finally:
        if opened:
            database.close()


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
        database: a peewee database with LaporGub's schema (the calling thread's connection is used).
        month: the month reported on.
        tz: the service's time zone (month and day boundaries).
        timezone_name: its name, for the report's text.
        as_of: the cut-off in epoch seconds: actions after it are ignored.
        target_seconds: the response target (``[report] response_target_days``).
        sla_limits: ``{stage: seconds}`` from ``[sla]``.
        group_names: ``{group key: name}`` from ``[groups]``.
    """
    with connected(database), MonthSnapshot(database, month, tz, as_of, target_seconds) as snapshot:
        return snapshot.report(timezone_name=timezone_name, sla_limits=sla_limits, group_names=group_names)
