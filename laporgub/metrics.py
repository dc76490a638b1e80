"""Every Prometheus metric LaporGub exports, declared in this one place.

Names follow Prometheus conventions (``laporgub_`` prefix, base units,
``_total`` for counters). Label values are bounded: stages, group keys,
destinations, modem names, kinds, error classes; never a phone number, a
ticket number or free text. Every series whose label values are known in
advance exists from start-up at zero (docs/sop.md), so dashboards and alerts
never see a missing series.

The stage histogram's buckets must contain the SLA thresholds from config
(PromQL then reads ``le="9.0"``), so the metrics are built per configuration
in :class:`Metrics`, each set in its own registry.

Two kinds of metric live here:

* **in-process** metrics (histograms, event counters, modem gauges), updated
  by the actors as things happen, in ``Metrics.registry``;
* **database-derived** metrics, computed at scrape time by
  :class:`DatabaseCollector` from the tables every hand-off goes through:
  the age of the oldest row of each outbox, tickets without a response,
  PIC responses and time to first response, tickets per regency, coalesced
  and retried notifications, the time of the last inbound SMS. They survive
  restarts and need no actor to remember anything. Time to first response is
  a *gauge* of the median and 90th percentile over the first responses of the
  last 24 hours (plus their count): a histogram cannot be rebuilt from the
  database at every scrape without rescanning every response ever recorded.

``GET /metrics`` serves both (``Metrics.exposition``); ``Metrics.value`` reads
only the in-process ones, so the supervisor's once-a-second checks never
touch the database.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import peewee
import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from laporgub import __version__, db
from laporgub.clock import SYSTEM, Clock
from laporgub.gazetteer import REGENCIES
from laporgub.types import API_CLOSE_REASONS, GROUP_KEYS, SMS_KINDS, SMS_REFUSE_REASONS, STAGES

logger = logging.getLogger(__name__)

# The *_created series only confuse rate() users and dashboards.
prometheus_client.disable_created_metrics()

#: Default bucket bounds in seconds; the configured SLA thresholds are added.
BASE_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 9, 15, 27, 60, 120, 300, 900)

MODEM_ERRORS: tuple[str, ...] = ("timeout", "at_error", "port_lost", "open_failed", "init_failed", "storage_full")
TELEGRAM_ERRORS: tuple[str, ...] = ("retry_after", "timed_out", "network", "forbidden", "bad_request", "other")
#: Outboxes whose backlog is exported.
OUTBOXES: tuple[str, ...] = ("notification", "sms", "webhook")
WEBHOOK_RESULTS: tuple[str, ...] = ("delivered", "failed", "dead")
#: Bounds of the time to a citizen's answer: minutes to the 72 hours of the default window.
CITIZEN_ANSWER_BUCKETS: tuple[float, ...] = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600,
                                             48 * 3600, 72 * 3600)


def stage_buckets(sla: dict[str, float]) -> tuple[float, ...]:
    """Bucket bounds: the defaults plus every SLA threshold."""
    return tuple(sorted(set(BASE_BUCKETS) | {float(v) for v in sla.values()}))


class Metrics:
    """The service's metrics, in a registry of their own.

    Args:
        sla: ``{stage: threshold_seconds}`` from ``[sla]``.
        destinations: group keys plus leader/admin destinations.
        modems: modem names from ``[[modems]]``.
    """

    def __init__(self, sla: dict[str, float], destinations: Iterable[str], modems: Iterable[str],
                 clock: Clock = SYSTEM) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        destinations = tuple(destinations)
        modems = tuple(modems)

        self.stage_duration = Histogram(
            "laporgub_stage_duration_seconds",
            "Time spent in each SLA stage (register, filter, notify, deliver), per SMS/ticket and per group send.",
            ["stage"], buckets=stage_buckets(sla), registry=r,
        )
        self.group_stage_duration = Histogram(
            "laporgub_group_stage_duration_seconds",
            "The notify and deliver stages per destination group (same buckets as the stage histogram).",
            ["stage", "group"], buckets=stage_buckets(sla), registry=r,
        )
        self.end_to_end = Histogram(
            "laporgub_end_to_end_seconds",
            "From the modem reporting the SMS to the Bot API accepting its last group notification.",
            buckets=stage_buckets(sla) + (1800.0, 3600.0), registry=r,
        )
        self.sla_seconds = Gauge(
            "laporgub_sla_seconds", "SLA threshold of each stage, from config.toml [sla].", ["stage"], registry=r
        )
        self.ready = Gauge(
            "laporgub_ready",
            "1 once every actor runs, every modem is initialised and the HTTP API (when configured) listens.",
            registry=r,
        )
        self.config_reload_failures = Counter(
            "laporgub_config_reload_failures", "Reloads (SIGHUP) refused because the new config.toml was invalid.",
            registry=r,
        )
        self.build_info = Gauge("laporgub_build_info", "Build information; always 1.", ["version"], registry=r)
        self.actor_restarts = Counter(
            "laporgub_actor_restarts", "Actors restarted by the supervisor after they died or hung.", ["actor"],
            registry=r,
        )
        self.sms_received = Counter(
            "laporgub_sms_received", "Inbound SMS stored, by modem and kind.", ["modem", "kind"], registry=r
        )
        self.tickets_routed = Counter(
            "laporgub_tickets_routed", "Tickets routed to each group (a ticket may go to several).", ["group"],
            registry=r,
        )
        self.notifications_sent = Counter(
            "laporgub_notifications_sent", "Notifications accepted by the Bot API, per destination.",
            ["group"], registry=r,
        )
        self.telegram_requests = Counter(
            "laporgub_telegram_requests", "Bot API sendMessage requests, per destination.", ["group"], registry=r
        )
        self.telegram_errors = Counter(
            "laporgub_telegram_errors", "Bot API errors per destination and class.", ["group", "error"], registry=r
        )
        # Set every second by the supervisor loop (Service._update_gauges), which reads it back for
        # systemd's STATUS= line; the age of the oldest row comes from DatabaseCollector.
        self.outbox_pending = Gauge(
            "laporgub_outbox_pending",
            "Rows waiting in an outbox: notification (Telegram), sms (outbound, pending or being sent), "
            "webhook (events for the website, pending or being sent).", ["outbox"], registry=r,
        )
        self.outbound_sms_sent = Counter(
            "laporgub_outbound_sms_sent", "Outbound SMS accepted by a modem (+CMGS).", ["modem"], registry=r
        )
        self.modem_up = Gauge(
            "laporgub_modem_up", "1 while the modem is open and initialised.", ["modem"], registry=r
        )
        self.modem_signal = Gauge(
            "laporgub_modem_signal_dbm", "Received signal strength from AT+CSQ, dBm (NaN when unknown).", ["modem"],
            registry=r,
        )
        self.modem_registered = Gauge(
            "laporgub_modem_registered",
            "1 when registered on the network (AT+CREG stat 1 home or 5 roaming), else 0.", ["modem"], registry=r,
        )
        self.modem_registration_status = Gauge(
            "laporgub_modem_registration_status",
            "AT+CREG <stat>: 0 not registered, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming.", ["modem"],
            registry=r,
        )
        self.modem_storage_used = Gauge(
            "laporgub_modem_storage_used", "SMS in the modem's storage (AT+CPMS).", ["modem"], registry=r
        )
        self.modem_storage_total = Gauge(
            "laporgub_modem_storage_total", "Capacity of the modem's SMS storage (AT+CPMS).", ["modem"], registry=r
        )
        self.modem_reconnects = Counter(
            "laporgub_modem_reconnects", "Times a modem was reopened and initialised again.", ["modem"], registry=r
        )
        self.modem_errors = Counter(
            "laporgub_modem_errors", "Modem faults: timeouts, AT errors, lost ports.", ["modem", "error"], registry=r
        )
        self.api_requests = Counter(
            "laporgub_api_requests", "Website API requests answered, by route template and HTTP status.",
            ["route", "code"], registry=r,
        )
        self.incident_reports = Counter(
            "laporgub_incident_reports",
            "Complaints linked to an incident when routed: the second and later reports of one event "
            "(each keeps its ticket and acknowledgement; the groups see one message).", registry=r,
        )
        self.incident_notifications_saved = Counter(
            "laporgub_incident_notifications_saved",
            "Notifications to category groups and leaders not posted because the report joined an incident "
            "(its message was edited instead).", registry=r,
        )
        self.incident_edits = Counter(
            "laporgub_incident_edits",
            "editMessageText requests rewriting an incident's message, per destination (paced, at most one "
            "per incident per [incidents] edit_interval_seconds).", ["group"], registry=r,
        )
        self.citizen_answers = Counter(
            "laporgub_citizen_answers",
            "Citizens' SMS joined to an open ticket as the answer to a PIC's message (no new ticket; "
            "docs/conversations.md).", registry=r,
        )
        self.citizen_answer_seconds = Histogram(
            "laporgub_citizen_answer_seconds",
            "Time from a PIC's last message on a ticket to the citizen's answer by SMS.",
            buckets=CITIZEN_ANSWER_BUCKETS, registry=r,
        )
        self.webhook_deliveries = Counter(
            "laporgub_webhook_deliveries",
            "Webhook delivery attempts per endpoint: delivered, failed (retried later) or dead (given up).",
            ["endpoint", "result"], registry=r,
        )
        self.outbound_sms_refused = Counter(
            "laporgub_outbound_sms_refused",
            "Outbound SMS refused, never sent: not_mobile (not an Indonesian mobile number), number_cap "
            "([sms] max_per_number_per_day), daily_cap ([sms] max_per_day).",
            ["reason"], registry=r,
        )
        self.api_connections_closed = Counter(
            "laporgub_api_connections_closed",
            "API connections the server closed itself: header_timeout, body_timeout (a client too slow to "
            "send its request), connection_limit ([api] max_connections reached: answered 503).",
            ["reason"], registry=r,
        )

        for stage in STAGES:
            self.stage_duration.labels(stage=stage)
            self.sla_seconds.labels(stage=stage).set(sla[stage])
        for reason in SMS_REFUSE_REASONS:
            self.outbound_sms_refused.labels(reason=reason)
        for reason in API_CLOSE_REASONS:
            self.api_connections_closed.labels(reason=reason)
        self.ready.set(0)
        self.build_info.labels(version=__version__).set(1)
        for modem in modems:
            self.modem_up.labels(modem=modem).set(0)
            self.outbound_sms_sent.labels(modem=modem)
            for kind in SMS_KINDS:
                self.sms_received.labels(modem=modem, kind=kind)
            for error in MODEM_ERRORS:
                self.modem_errors.labels(modem=modem, error=error)
            self.modem_reconnects.labels(modem=modem)
            self.modem_signal.labels(modem=modem).set(float("nan"))
            self.modem_registered.labels(modem=modem).set(0)
            self.modem_registration_status.labels(modem=modem).set(4)
            self.modem_storage_used.labels(modem=modem).set(0)
            self.modem_storage_total.labels(modem=modem).set(0)
        for dest in destinations:
            for stage in ("notify", "deliver"):
                self.group_stage_duration.labels(stage=stage, group=dest)
            self.tickets_routed.labels(group=dest)
            self.notifications_sent.labels(group=dest)
            self.telegram_requests.labels(group=dest)
            self.incident_edits.labels(group=dest)
            for error in TELEGRAM_ERRORS:
                self.telegram_errors.labels(group=dest, error=error)
        for outbox in OUTBOXES:
            self.outbox_pending.labels(outbox=outbox).set(0)

        groups = tuple(d for d in destinations if d in GROUP_KEYS)
        self.database = DatabaseCollector(groups=groups, destinations=destinations, clock=clock)
        #: What ``GET /metrics`` serves: the in-process registry plus the database-derived families.
        #: Registering both in one registry also checks that no name is declared twice.
        self.exposition = CollectorRegistry(auto_describe=True)
        self.exposition.register(_RegistryForward(self.registry))
        self.exposition.register(self.database)

    def observe_group_stage(self, stage: str, group: str, seconds: float) -> None:
        """Record notify/deliver both overall and for the destination group."""
        seconds = max(0.0, seconds)
        self.stage_duration.labels(stage=stage).observe(seconds)
        self.group_stage_duration.labels(stage=stage, group=group).observe(seconds)

    def declare_webhooks(self, endpoints: Iterable[str]) -> None:
        """Make ``laporgub_webhook_deliveries_total`` exist at zero for every configured endpoint."""
        for endpoint in endpoints:
            for result in WEBHOOK_RESULTS:
                self.webhook_deliveries.labels(endpoint=endpoint, result=result)

    def declare_actor(self, name: str) -> None:
        """Make ``laporgub_actor_restarts_total{actor=name}`` exist at zero."""
        self.actor_restarts.labels(actor=name)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Record one stage duration (negative clock skew counts as 0)."""
        self.stage_duration.labels(stage=stage).observe(max(0.0, seconds))

    def value(self, name: str, **labels: str) -> float | None:
        """Read an in-process sample (tests, the supervisor); never touches the database."""
        return self.registry.get_sample_value(name, labels)

    def exposition_text(self) -> str:
        """What ``GET /metrics`` answers now (reads the database, like a scrape)."""
        return prometheus_client.generate_latest(self.exposition).decode("utf-8")


def start_metrics_server(metrics: Metrics, host: str, port: int) -> object:
    """Serve ``GET /metrics`` on ``host:port`` in a daemon thread; returns the server (has ``shutdown()``).

    Each request runs in its own short-lived thread, which opens its own
    database connection for :class:`DatabaseCollector` and closes it again.
    """
    server, _thread = prometheus_client.start_http_server(port, addr=host, registry=metrics.exposition)
    return server


# --------------------------------------------------------------------------
# Database-derived metrics, computed at scrape time.

#: Stages whose unfinished items the database can see: a ticket not yet routed (filter) and a
#: ticket notification not yet accepted by the Bot API (notify). ``register`` ends with the
#: commit that makes its row visible and ``deliver`` is one HTTP request, so neither can be seen waiting.
PENDING_STAGES: tuple[str, ...] = ("filter", "notify")
#: Label value for complaints that name no regency/city.
NO_REGENCY = "none"
#: PIC actions that answer the citizen (a re-route is not an answer), as in the monthly report.
ANSWER_ACTIONS: tuple[str, ...] = ("response", "close")
#: Notification kinds the SOP's notify/deliver limits apply to.
SLA_NOTIFICATION_KINDS: tuple[str, ...] = ("ticket", "spam")
#: Window of the time-to-first-response gauges.
FIRST_RESPONSE_WINDOW = 24 * 3600.0
FIRST_RESPONSE_QUANTILES: tuple[float, ...] = (0.5, 0.9)


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """The database's current backlog and open tickets (cheap, indexed queries; read at every scrape).

    Ages are seconds at ``now`` (0 when nothing waits); per-group maps hold every known group.
    """

    now: float
    outbox_pending: Mapping[str, int]
    outbox_oldest_age: Mapping[str, float]
    notifications_pending: Mapping[str, int]  # per destination
    stage_oldest_age: Mapping[str, float]  # PENDING_STAGES
    open_tickets: Mapping[str, int]
    open_oldest_age: Mapping[str, float]
    last_sms_at: float | None
    incidents_open: int = 0
    waiting_for_citizen: int = 0


@dataclass(frozen=True, slots=True)
class DatabaseTotals:
    """Cumulative counts and the last 24 h of first responses (read less often than the backlog)."""

    regency_tickets: Mapping[str, int]
    coalesced: Mapping[str, int]  # per destination
    retried: Mapping[str, int]  # per destination
    pic_responses: Mapping[str, int]  # per group
    first_responses: Mapping[str, tuple[float, ...]]  # per group: sorted seconds, last 24 h


def _age(now: float, since: float | None) -> float:
    return 0.0 if since is None else max(0.0, now - float(since))


def read_state(now: float, groups: Sequence[str], destinations: Sequence[str]) -> DatabaseState:
    """Backlog and open tickets at ``now``; call with a connection open in this thread."""
    N, S, T, C = db.Notification, db.OutboundSms, db.Ticket, db.TicketCategory
    fn = peewee.fn
    n_count, n_oldest = db.tuple_get(N.select(fn.COUNT(N.id), fn.MIN(N.queued_at)).where(N.status == "pending"))
    s_count, s_oldest = db.tuple_get(
        S.select(fn.COUNT(S.id), fn.MIN(S.created_at)).where(S.status.in_(["pending", "sending"]))
    )
    per_dest = {d: 0 for d in destinations}
    for dest, count in db.tuples(N.select(N.destination, fn.COUNT(N.id)).where(N.status == "pending").group_by(
            N.destination)):
        if dest in per_dest:
            per_dest[dest] = int(count)
    W = db.WebhookDelivery
    w_count, w_oldest = db.tuple_get(
        W.select(fn.COUNT(W.id), fn.MIN(W.queued_at)).where(W.status.in_(["pending", "sending"]))
    )
    unrouted = T.select(fn.MIN(T.registered_at)).where(T.filtered_at.is_null()).scalar()
    unsent = N.select(fn.MIN(N.queued_at)).where(
        (N.status == "pending") & N.kind.in_(SLA_NOTIFICATION_KINDS)).scalar()
    open_count = {g: 0 for g in groups}
    open_oldest = {g: 0.0 for g in groups}
    rows = db.tuples(
        T.select(C.group, fn.COUNT(T.id), fn.MIN(T.received_at))
        .join(C, on=(C.ticket == T.id))
        .where((T.status == "open") & (T.kind == "complaint") & (C.active == True))  # noqa: E712
        .group_by(C.group)
    )
    for group, count, oldest in rows:
        if group in open_count:
            open_count[group] = int(count)
            open_oldest[group] = _age(now, oldest)
    last = db.InboundSms.select(db.InboundSms.reported_at).order_by(db.InboundSms.id.desc()).limit(1).scalar()
    if last is None:
        # No SMS yet: count the silence from the day the database was created.
        last = db.SchemaVersion.select(fn.MIN(db.SchemaVersion.applied_at)).scalar()
    incidents_open = db.Incident.select(fn.COUNT(db.Incident.id)).where(db.Incident.status == "open").scalar()
    waiting = T.select(fn.COUNT(T.id)).where(T.waiting_since.is_null(False) & (T.status != "closed")).scalar()
    return DatabaseState(
        incidents_open=int(incidents_open or 0),
        waiting_for_citizen=int(waiting or 0),
        now=now,
        outbox_pending={"notification": int(n_count or 0), "sms": int(s_count or 0), "webhook": int(w_count or 0)},
        outbox_oldest_age={"notification": _age(now, n_oldest), "sms": _age(now, s_oldest),
                           "webhook": _age(now, w_oldest)},
        notifications_pending=per_dest,
        stage_oldest_age={"filter": _age(now, unrouted), "notify": _age(now, unsent)},
        open_tickets=open_count,
        open_oldest_age=open_oldest,
        last_sms_at=None if last is None else float(last),
    )


def _in_group() -> peewee.Expression:
    """A response counts for a group when it was made while the ticket was in it (the report's rule)."""
    C, R = db.TicketCategory, db.PicResponse
    return (((C.source != "reroute") | (R.created_at >= C.created_at))
            & (C.removed_at.is_null() | (R.created_at < C.removed_at)))


# Cumulative counts are kept incrementally: a row counts once it is *settled* (a ticket once
# routed, a notification once sent or given up, any PIC response), and settled rows never
# change. Rows up to the highest id below which every row is settled are added once to a
# base; only the rows above it are counted again at each read. A year of tickets then costs
# a few milliseconds per scrape instead of a second of full-table scans.


def _id_range(column: peewee.Field, after: int, upto: int | None) -> peewee.Expression:
    cond = column > after
    return cond if upto is None else cond & (column <= upto)


def _settled_upto(model: type[db.Ticket] | type[db.Notification], unsettled: peewee.Expression) -> int:
    """The highest id such that every row up to it is settled."""
    first_open = model.select(peewee.fn.MIN(model.id)).where(unsettled).scalar()
    if first_open is not None:
        return int(first_open) - 1
    return int(model.select(peewee.fn.MAX(model.id)).scalar() or 0)


def _tally(keys: Iterable[str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return counts


# The counts below select rows by id range and add them up in Python: the range is a primary
# key scan of the few rows since the last read, which a GROUP BY would make the planner
# trade for a full scan of a group index.


def _regency_counts(after: int, upto: int | None) -> dict[str, int]:
    """Routed complaints per regency (``none`` when no known one is named)."""
    T = db.Ticket
    rows = db.tuples(T.select(T.regency).where(_id_range(T.id, after, upto) & (T.kind == "complaint")
                                               & T.filtered_at.is_null(False)))
    return _tally(name if name in _REGENCY_SET else NO_REGENCY for (name,) in rows)


def _coalesced_counts(after: int, upto: int | None) -> dict[str, int]:
    """Sent notifications that were not the first row of their Telegram message, per destination."""
    N, earlier = db.Notification, db.Notification.alias()
    shared = earlier.select(earlier.id).where(
        (earlier.destination == N.destination) & (earlier.message_id == N.message_id) & (earlier.id < N.id)
        & (earlier.status == "sent"))
    rows = db.tuples(N.select(N.destination).where(_id_range(N.id, after, upto) & (N.status == "sent")
                                                   & (N.message_id > 0) & peewee.fn.EXISTS(shared)))
    return _tally(dest for (dest,) in rows)


def _retried_counts(after: int, upto: int | None) -> dict[str, int]:
    """Every attempt but the one that settled a row (sent or given up) was a retry; attempts only grow."""
    N = db.Notification
    counts: dict[str, int] = {}
    for dest, attempts, status in db.tuples(N.select(N.destination, N.attempts, N.status)
                                            .where(_id_range(N.id, after, upto) & (N.attempts > 0))):
        retries = int(attempts) - (1 if status in ("sent", "failed") else 0)
        if retries > 0:
            counts[dest] = counts.get(dest, 0) + retries
    return counts


def _response_counts(after: int, upto: int | None) -> dict[str, int]:
    """PIC answers per group the ticket was in when the PIC acted (fixed once the response exists)."""
    C, R = db.TicketCategory, db.PicResponse
    rows = db.tuples(R.select(C.group).join(C, on=(C.ticket == R.ticket))
                     .where(_id_range(R.id, after, upto) & R.action.in_(ANSWER_ACTIONS) & _in_group()))
    return _tally(group for (group,) in rows)


_REGENCY_SET = frozenset(REGENCIES)


@dataclass(slots=True)
class _Cumulative:
    """One database-derived counter family, counted incrementally (see above)."""

    count: Callable[[int, int | None], dict[str, int]]
    settled: Callable[[], int]
    base: dict[str, int] = field(default_factory=dict)
    watermark: int = 0

    def read(self) -> dict[str, int]:
        upto = max(self.settled(), self.watermark)
        base = dict(self.base)
        if upto > self.watermark:
            for key, n in self.count(self.watermark, upto).items():
                base[key] = base.get(key, 0) + n
        live = self.count(upto, None)
        self.base, self.watermark = base, upto  # only once every query succeeded
        return {k: base.get(k, 0) + live.get(k, 0) for k in base.keys() | live.keys()}


class TotalsReader:
    """Reads :class:`DatabaseTotals`, keeping the settled part of each counter between reads.

    Use from one thread at a time. A fresh reader counts everything (``read_totals``).
    """

    def __init__(self) -> None:
        self._bound: object = None
        self._reset()

    def _reset(self) -> None:
        T, N, R = db.Ticket, db.Notification, db.PicResponse
        tickets = lambda: _settled_upto(T, T.filtered_at.is_null())  # noqa: E731
        notifications = lambda: _settled_upto(N, N.status == "pending")  # noqa: E731
        responses = lambda: int(R.select(peewee.fn.MAX(R.id)).scalar() or 0)  # noqa: E731 - all settled
        self.regency = _Cumulative(_regency_counts, tickets)
        self.coalesced = _Cumulative(_coalesced_counts, notifications)
        self.retried = _Cumulative(_retried_counts, notifications)
        self.responses = _Cumulative(_response_counts, responses)

    def read(self, now: float, groups: Sequence[str], destinations: Sequence[str]) -> DatabaseTotals:
        if db.database.obj is not self._bound:  # another database: start over
            self._bound = db.database.obj
            self._reset()
        regency = dict.fromkeys((*REGENCIES, NO_REGENCY), 0) | self.regency.read()
        coalesced, retried, responses = self.coalesced.read(), self.retried.read(), self.responses.read()
        return DatabaseTotals(
            regency_tickets=regency,
            coalesced={d: coalesced.get(d, 0) for d in destinations},
            retried={d: retried.get(d, 0) for d in destinations},
            pic_responses={g: responses.get(g, 0) for g in groups},
            first_responses=_first_responses(now, groups),
        )


def read_totals(now: float, groups: Sequence[str], destinations: Sequence[str]) -> DatabaseTotals:
    """Cumulative counts since the database began (counting everything), and first responses of the last 24 h."""
    return TotalsReader().read(now, groups, destinations)


def _first_responses(now: float, groups: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """Per group, sorted seconds from receipt (or re-routing into the group) to the first response, last 24 h."""
    T, C, R = db.Ticket, db.TicketCategory, db.PicResponse
    since = now - FIRST_RESPONSE_WINDOW
    recent = R.alias()
    first_at = peewee.fn.MIN(R.created_at)
    rows = db.tuples(
        R.select(C.group, C.source, C.created_at, T.received_at, first_at)
        .join(C, on=(C.ticket == R.ticket))
        .join(T, on=(T.id == C.ticket))
        .where(R.action.in_(ANSWER_ACTIONS) & _in_group()
               & C.ticket.in_(recent.select(recent.ticket).where(recent.created_at >= since)))
        .group_by(C.id, C.group, C.source, C.created_at, T.received_at)
        .having(first_at >= since)
    )
    waits: dict[str, list[float]] = {g: [] for g in groups}
    for group, source, entered_at, received_at, first in rows:
        if group in waits:
            start = entered_at if source == "reroute" else received_at
            waits[group].append(max(0.0, float(first) - float(start)))
    return {g: tuple(sorted(v)) for g, v in waits.items()}


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values``, interpolating between ranks (NaN when empty)."""
    if not values:
        return math.nan
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


class _RegistryForward(Collector):
    """Serves another registry's metrics from the exposition registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


class DatabaseCollector(Collector):
    """Computes the database-derived metrics when Prometheus scrapes.

    Runs in the scraping thread (one short-lived thread per request of the
    metrics HTTP server): it opens a connection of its own through the
    ``db.database`` proxy and closes it again, or uses the one the calling
    thread already holds. Reads are cached: the backlog for ``state_interval``
    seconds and the cumulative counts (kept incrementally by a
    :class:`TotalsReader`) for ``totals_interval`` seconds, so several
    Prometheus servers scraping often cost the database no more. While
    the database cannot be read (not opened yet, locked, gone),
    ``laporgub_database_up`` is 0 and the derived families carry no samples:
    a missing value rather than a wrong zero.

    Args:
        groups: the configured group keys (``group`` label of the per-group families).
        destinations: every notification destination (group keys, ``leader-<n>``, ``admin``).
        state_interval: seconds a backlog reading is reused.
        totals_interval: seconds the cumulative counts are reused.
        clock: wall time, epoch seconds (the service's clock; tests pass their own).
    """

    def __init__(self, groups: Iterable[str], destinations: Iterable[str], *, state_interval: float = 1.0,
                 totals_interval: float = 15.0, clock: Callable[[], float] = SYSTEM) -> None:
        self.groups = tuple(groups)
        self.destinations = tuple(destinations)
        self.state_interval = state_interval
        self.totals_interval = totals_interval
        self.clock = clock
        self._lock = threading.Lock()
        self._state: DatabaseState | None = None
        self._totals: DatabaseTotals | None = None
        self._totals_reader = TotalsReader()
        self._state_read_at = -math.inf
        self._totals_read_at = -math.inf
        self._up = False
        self._warned = False
        self._read_seconds = 0.0

    # -- reading ------------------------------------------------------------------

    def refresh(self) -> None:
        """Read what is due from the database (at most one reader at a time)."""
        with self._lock:
            now = self.clock()
            want_state = now - self._state_read_at >= self.state_interval
            want_totals = now - self._totals_read_at >= self.totals_interval
            if not (want_state or want_totals):
                return
            started = time.monotonic()
            try:
                with _connection():
                    if want_state:
                        self._state = read_state(now, self.groups, self.destinations)
                        self._state_read_at = now
                    if want_totals:
                        self._totals = self._totals_reader.read(now, self.groups, self.destinations)
                        self._totals_read_at = now
                if not self._up:
                    logger.info("event=metrics_database_readable")
                self._up = True
            except Exception as exc:
                if self._up or not self._warned:
                    logger.warning("event=metrics_database_read_failed error=%s", exc)
                    self._warned = True
                self._up = False
                self._state, self._totals = None, None
                self._state_read_at = self._totals_read_at = -math.inf
            self._read_seconds = time.monotonic() - started

    # -- the families ---------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        return [*self._health(None), *self._families(None, None)]

    def collect(self) -> Iterable[Metric]:
        self.refresh()
        with self._lock:
            state, totals = (self._state, self._totals) if self._up else (None, None)
            health = (self._up, self._read_seconds)
        return [*self._health(health), *self._families(state, totals)]

    @staticmethod
    def _health(reading: tuple[bool, float] | None) -> list[Metric]:
        up = GaugeMetricFamily("laporgub_database_up",
                               "1 if the last scrape could read the database, else 0 (then the "
                               "database-derived series are missing).")
        seconds = GaugeMetricFamily("laporgub_database_read_seconds",
                                    "Time the last scrape spent reading the database-derived metrics.")
        if reading is not None:
            up.add_metric([], 1.0 if reading[0] else 0.0)
            seconds.add_metric([], reading[1])
        return [up, seconds]

    def _families(self, s: DatabaseState | None, t: DatabaseTotals | None) -> Iterator[Metric]:
        oldest = GaugeMetricFamily("laporgub_outbox_oldest_pending_age_seconds",
                                   "Age of the oldest row waiting in an outbox (0 when empty).", labels=["outbox"])
        per_dest = GaugeMetricFamily("laporgub_notifications_pending",
                                     "Telegram notifications waiting, per destination.", labels=["group"])
        stage_age = GaugeMetricFamily("laporgub_stage_oldest_pending_age_seconds",
                                      "Age of the oldest item inside a stage right now: a ticket not yet "
                                      "routed (filter), a ticket notification not yet accepted by the Bot API "
                                      "(notify); 0 when none waits. Above laporgub_sla_seconds = a breach in "
                                      "progress.", labels=["stage"])
        open_tickets = GaugeMetricFamily("laporgub_open_tickets",
                                         "Complaints without any PIC response (status open), per group they are in.",
                                         labels=["group"])
        open_age = GaugeMetricFamily("laporgub_open_ticket_oldest_age_seconds",
                                     "Age of the oldest complaint without a PIC response, per group (0 when none).",
                                     labels=["group"])
        incidents_open = GaugeMetricFamily("laporgub_incidents_open",
                                           "Incidents that still take reports (several complaints about one event, "
                                           "linked; docs/incidents.md).")
        waiting = GaugeMetricFamily("laporgub_tickets_waiting_for_citizen",
                                    "Open tickets whose PIC asked the citizen something (/tanya, a reply ending "
                                    "in '?') and that wait for the answer by SMS.")
        last_sms = GaugeMetricFamily("laporgub_last_sms_received_timestamp_seconds",
                                     "When the last inbound SMS was reported by a modem (UNIX time); before the "
                                     "first SMS, when the database was created.")
        regency = CounterMetricFamily("laporgub_tickets_by_regency",
                                      "Complaints routed, by the regency/city they name (one of the 35 of "
                                      "Central Java, or none).", labels=["regency"])
        coalesced = CounterMetricFamily("laporgub_notifications_coalesced",
                                        "Notifications that went out inside a Telegram message shared with an "
                                        "earlier notification (rows minus messages), per destination.",
                                        labels=["group"])
        retried = CounterMetricFamily("laporgub_notifications_retried",
                                      "Notification send attempts that failed and were retried (429 "
                                      "retry_after, timeouts, network errors, Forbidden, BadRequest), per "
                                      "destination.", labels=["group"])
        responses = CounterMetricFamily("laporgub_pic_responses",
                                        "PIC responses and closes, counted for each group the ticket was in when "
                                        "the PIC acted.", labels=["group"])
        first = GaugeMetricFamily("laporgub_first_response_seconds",
                                  "Time from receipt (or re-routing into the group) to the first PIC response, "
                                  "median and 90th percentile over first responses of the last 24 h, per group "
                                  "(NaN when none).", labels=["group", "quantile"])
        first_count = GaugeMetricFamily("laporgub_first_responses_24h",
                                        "First PIC responses in the last 24 h, per group (the sample behind "
                                        "laporgub_first_response_seconds).", labels=["group"])
        if s is not None:
            for outbox in OUTBOXES:
                oldest.add_metric([outbox], s.outbox_oldest_age[outbox])
            for dest in self.destinations:
                per_dest.add_metric([dest], s.notifications_pending[dest])
            for stage in PENDING_STAGES:
                stage_age.add_metric([stage], s.stage_oldest_age[stage])
            for group in self.groups:
                open_tickets.add_metric([group], s.open_tickets[group])
                open_age.add_metric([group], s.open_oldest_age[group])
            if s.last_sms_at is not None:
                last_sms.add_metric([], s.last_sms_at)
            incidents_open.add_metric([], s.incidents_open)
            waiting.add_metric([], s.waiting_for_citizen)
        if t is not None:
            for name, count in t.regency_tickets.items():
                regency.add_metric([name], count)
            for dest in self.destinations:
                coalesced.add_metric([dest], t.coalesced[dest])
                retried.add_metric([dest], t.retried[dest])
            for group in self.groups:
                responses.add_metric([group], t.pic_responses[group])
                waits = t.first_responses[group]
                first_count.add_metric([group], len(waits))
                for q in FIRST_RESPONSE_QUANTILES:
                    first.add_metric([group, str(q)], quantile(waits, q))
        yield from (oldest, per_dest, stage_age, open_tickets, open_age, last_sms, incidents_open, waiting, regency,
                    coalesced, retried, responses, first, first_count)


@contextlib.contextmanager
def _connection() -> Iterator[None]:
    """A connection for this thread: the one it holds already, else a new one, closed on exit."""
    if db.database.obj is None:
        raise RuntimeError("database not opened yet")
    opened = db.database.is_closed()
    if opened:
        db.database.connect()
    try:
        yield
    finally:
        if opened and not db.database.is_closed():
            db.database.close()
