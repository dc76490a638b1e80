"""What ``laporgub status`` shows, read: the last hour for an admin without Grafana.

Reads the database (SLA per stage over the last hour, backlog, complaints
without a response) and the running service's metrics endpoint (ready,
version, modems, Telegram errors and restarts since start). It only reads:
the database is opened without migrating, the service is not disturbed.
The command that prints it is laporgub/cli/status.py.

Stage SLA over the last hour uses the monthly report's definitions:
register = ``registered_at - received_at`` and filter = ``filtered_at -
registered_at`` over the tickets received in the hour; notify = ``sent_at -
queued_at`` over the ticket notifications queued in the hour; deliver =
``acked_at - sent_at`` over those sent in the hour. An item still waiting
counts as a breach once it is past the limit and is left out before.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import peewee
from prometheus_client.parser import text_string_to_metric_families

from laporgub import db
from laporgub.config import Config
from laporgub.metrics import SLA_NOTIFICATION_KINDS, DatabaseState, read_state
from laporgub.outbox import destinations
from laporgub.types import GROUP_KEYS, STAGES

logger = logging.getLogger(__name__)

WINDOW = 3600.0
#: An outbox row older than this needs a look (alerts.rules.yml's LaporgubOutboxStuck for notifications).
STUCK_SECONDS = 900.0
CREG = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}


@dataclass(frozen=True, slots=True)
class StageFigures:
    """One stage over the window: finished events, how many within the limit, and late items still waiting."""

    stage: str
    limit: float
    durations: tuple[float, ...]  # sorted, finished events
    within: int
    late_waiting: int  # unfinished and already past the limit (breaches)

    @property
    def events(self) -> int:
        return len(self.durations) + self.late_waiting

    @property
    def share(self) -> float | None:
        return self.within / self.events if self.events else None


@dataclass(slots=True)
class Scrape:
    """What the metrics endpoint said (only what the status shows)."""

    ok: bool
    error: str = ""
    ready: float | None = None
    version: str | None = None
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def values(self, name: str) -> list[tuple[dict[str, str], float]]:
        return self.samples.get(name, [])

    def value(self, name: str, **labels: str) -> float | None:
        for sample_labels, v in self.values(name):
            if all(sample_labels.get(k) == val for k, val in labels.items()):
                return v
        return None


# -- reading ------------------------------------------------------------------------


def stage_figures(now: float, limits: dict[str, float], window: float = WINDOW) -> list[StageFigures]:
    """SLA figures per stage over ``[now - window, now]``; needs a connection in this thread."""
    since = now - window
    T, N = db.Ticket, db.Notification
    pairs: dict[str, list[tuple[float, float | None]]] = {s: [] for s in STAGES}
    for received, registered, filtered in db.tuples(T.select(T.received_at, T.registered_at, T.filtered_at).where(
            T.received_at >= since)):
        pairs["register"].append((received, registered))
        pairs["filter"].append((registered, filtered))
    for queued, sent in db.tuples(N.select(N.queued_at, N.sent_at).where(
            (N.queued_at >= since) & N.kind.in_(SLA_NOTIFICATION_KINDS) & (N.status != "failed"))):
        pairs["notify"].append((queued, sent))
    for sent, acked in db.tuples(N.select(N.sent_at, N.acked_at).where(
            (N.sent_at >= since) & N.kind.in_(SLA_NOTIFICATION_KINDS) & N.acked_at.is_null(False))):
        pairs["deliver"].append((sent, acked))
    result = []
    for stage in STAGES:
        limit = limits[stage]
        done = sorted(max(0.0, end - start) for start, end in pairs[stage] if end is not None)
        late = sum(1 for start, end in pairs[stage] if end is None and now - start > limit)
        result.append(StageFigures(stage, limit, tuple(done), sum(1 for d in done if d <= limit), late))
    return result


def sms_received(now: float, window: float = WINDOW) -> dict[str, int]:
    """Inbound SMS of the window per kind (``part`` = multipart pieces still waiting for the rest)."""
    S = db.InboundSms
    counts: dict[str, int] = {}
    for kind, state, n in db.tuples(S.select(S.kind, S.state, peewee.fn.COUNT(S.id)).where(
            S.reported_at >= now - window).group_by(S.kind, S.state)):
        key = kind or ("undecodable" if state == "undecodable" else "part" if state == "part" else "other")
        counts[key] = counts.get(key, 0) + int(n)
    return counts


def default_metrics_url(config: Config) -> str | None:
    """``http://host:port/metrics`` from ``[metrics] listen`` (a wildcard address means this host)."""
    listen = config.metrics.listen
    if listen is None or listen.port == 0:
        return None
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen.host, listen.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{listen.port}/metrics"


def scrape(url: str, timeout: float = 3.0) -> Scrape:
    """Fetch and parse the metrics endpoint; never raises."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode("utf-8")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Scrape(ok=False, error=str(reason))
    result = Scrape(ok=True)
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                result.samples.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    except ValueError as exc:
        return Scrape(ok=False, error=f"not a Prometheus exposition: {exc}")
    result.ready = result.value("laporgub_ready")
    for labels, _v in result.values("laporgub_build_info"):
        result.version = labels.get("version")
    return result


def read_database(config: Config, now: float) -> tuple[list[StageFigures], DatabaseState, dict[str, int]]:
    """Stage figures, the database state and the SMS received, for the window ending at ``now`` (reads only)."""
    url = config.service.database
    db.require_existing(url)
    # Bound without migrating: the status only reads, whatever the schema version.
    db.database.initialize(db.make_database(url))
    with db.database.connection_context():
        groups = [g for g in GROUP_KEYS if g in config.groups]
        state = read_state(now, groups, list(destinations(config)))
        figures = stage_figures(now, config.sla.as_dict())
        received = sms_received(now)
    return figures, state, received
