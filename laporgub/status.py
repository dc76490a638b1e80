"""``laporgub status``: the last hour in a terminal, for an admin without Grafana.

Reads the database (SLA per stage over the last hour, backlog, complaints
without a response) and the running service's metrics endpoint (ready,
version, modems, Telegram errors and restarts since start). It only reads:
the database is opened without migrating, the service is not disturbed.

Stage SLA over the last hour uses the monthly report's definitions:
register = ``registered_at - received_at`` and filter = ``filtered_at -
registered_at`` over the tickets received in the hour; notify = ``sent_at -
queued_at`` over the ticket notifications queued in the hour; deliver =
``acked_at - sent_at`` over those sent in the hour. An item still waiting
counts as a breach once it is past the limit and is left out before.

Exit status: 0 when nothing needs attention, 1 when something does (listed
at the end: a breach in the hour, a modem down, the service unreachable or
not ready, a stuck outbox), so it can run from cron or a health check.
"""

from __future__ import annotations

import logging
import math
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

import peewee
from prometheus_client.parser import text_string_to_metric_families

from laporgub import db
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config
from laporgub.metrics import OUTBOXES, SLA_NOTIFICATION_KINDS, DatabaseState, quantile, read_state
from laporgub.outbox import destinations
from laporgub.types import GROUP_KEYS, SMS_KINDS, STAGES

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


# -- formatting ------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """``0.013 s``, ``35 s``, ``4 min``, ``1 h 5 min``, ``3 d 2 h``."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 10:
        return f"{seconds:.3g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _limit(seconds: float) -> str:
    return f"{seconds:g} s"


def _table(out: IO[str], header: Iterable[str], rows: list[list[str]], align: str) -> None:
    header = list(header)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [c.ljust(w) if a == "<" else c.rjust(w) for c, w, a in zip(cells, widths, align)]
        return "  " + "  ".join(parts).rstrip()

    print(line(header), file=out)
    for r in rows:
        print(line(r), file=out)


# -- the view ------------------------------------------------------------------------------


def status_main(config: Config, out: IO[str], metrics_url: str | None = None, *, now: float | None = None,
                clock: Clock = SYSTEM) -> int:
    """Print the status of the last hour; return 0 if nothing needs attention, else 1.

    Args:
        config: the validated configuration (database, [sla], groups, modems).
        out: where to print.
        metrics_url: the service's ``/metrics``; default from ``[metrics] listen``.
        now: epoch seconds (default: the clock's).
        clock: the clock to read when ``now`` is not given.
    """
    now = clock.time() if now is None else now
    attention: list[str] = []
    tz = config.tz
    start = datetime.fromtimestamp(now - WINDOW, tz)
    end = datetime.fromtimestamp(now, tz)
    print(f"LaporGub status · last hour {start:%Y-%m-%d %H:%M}-{end:%H:%M} {end:%Z}", file=out)

    # -- the running service ---------------------------------------------------------
    url = metrics_url or default_metrics_url(config)
    metrics = scrape(url) if url else Scrape(ok=False, error="[metrics] listen is not set")
    if metrics.ok:
        ready = "ready" if metrics.ready == 1 else "NOT READY"
        print(f"Service: {ready} · version {metrics.version or '?'} · {url}", file=out)
        if metrics.ready != 1:
            attention.append("the service is running but not ready (an actor or a modem is not up)")
    else:
        where = url or "no metrics endpoint"
        print(f"Service: not reachable at {where} ({metrics.error}); figures below come from the database only",
              file=out)
        attention.append(f"the service's metrics endpoint is not reachable ({where})")

    # -- the database ------------------------------------------------------------------
    try:
        figures, state, received = _read_database(config, now)
    except Exception as exc:
        print(f"\nDatabase: cannot read {config.service.database}: {exc}", file=out)
        attention.append("the database cannot be read")
        _print_modems(out, config, metrics, attention)
        _print_attention(out, attention)
        return 1

    print("\nSLA, last hour (from the database)", file=out)
    rows = []
    for f in figures:
        share = "-" if f.share is None else f"{f.share:.1%}"
        waiting = state.stage_oldest_age.get(f.stage)
        rows.append([f.stage, _limit(f.limit), str(f.events), str(f.within), share,
                     duration(quantile(f.durations, 0.95)), duration(f.durations[-1] if f.durations else None),
                     "-" if waiting is None else ("0" if waiting == 0 else duration(waiting))])
        if f.events > f.within:
            attention.append(f"{f.stage}: {f.events - f.within} of {f.events} over the {_limit(f.limit)} limit "
                             "in the last hour")
    _table(out, ["stage", "limit", "events", "within", "share", "p95", "max", "oldest waiting"], rows, "<>>>>>>>")

    total = sum(received.values())
    kinds = [k for k in (*SMS_KINDS, "part", "other") if received.get(k)]
    detail = ", ".join(f"{k} {received[k]}" for k in kinds)
    print(f"\nSMS received, last hour: {total}" + (f" ({detail})" if detail else ""), file=out)

    print("\nBacklog", file=out)
    rows = []
    for outbox in OUTBOXES:
        n, age = state.outbox_pending[outbox], state.outbox_oldest_age[outbox]
        rows.append([outbox, f"{n} waiting", f"oldest {duration(age)}" if n else ""])
        if n and age > STUCK_SECONDS * (1 if outbox == "notification" else 4):
            attention.append(f"outbox {outbox}: the oldest row has waited {duration(age)}")
    _table(out, ["outbox", "rows", ""], rows, "<><")
    per_destination = {d: n for d, n in state.notifications_pending.items() if n}
    if per_destination:
        print("  notifications waiting per destination: "
              + ", ".join(f"{d} {n}" for d, n in per_destination.items()), file=out)

    _print_modems(out, config, metrics, attention)
    _print_telegram(out, metrics)

    print("\nComplaints without a PIC response", file=out)
    groups = [g for g in GROUP_KEYS if g in config.groups]
    rows = [[g, config.group_name(g), str(state.open_tickets[g]),
             duration(state.open_oldest_age[g]) if state.open_tickets[g] else "-"] for g in groups]
    _table(out, ["group", "name", "open", "oldest"], rows, "<<>>")
    escalate = config.followup.escalate_hours * 3600
    late = [g for g in groups if g != "channel" and escalate > 0 and state.open_oldest_age[g] > escalate]
    if late:
        attention.append(f"complaints unanswered for more than {config.followup.escalate_hours:g} h in: "
                         + ", ".join(late))

    _print_attention(out, attention)
    return 1 if attention else 0


def _read_database(config: Config, now: float) -> tuple[list[StageFigures], DatabaseState, dict[str, int]]:
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


def _print_modems(out: IO[str], config: Config, metrics: Scrape, attention: list[str]) -> None:
    print("\nModems (from the metrics endpoint)", file=out)
    if not metrics.ok:
        print("  unknown: the service is not reachable", file=out)
        return
    rows = []
    for modem in config.modems:
        name = modem.name
        up = metrics.value("laporgub_modem_up", modem=name)
        stat = metrics.value("laporgub_modem_registration_status", modem=name)
        signal = metrics.value("laporgub_modem_signal_dbm", modem=name)
        used = metrics.value("laporgub_modem_storage_used", modem=name)
        capacity = metrics.value("laporgub_modem_storage_total", modem=name)
        errors = sum(v for labels, v in metrics.values("laporgub_modem_errors_total") if labels.get("modem") == name)
        network = CREG.get(int(stat), "?") if stat is not None and not math.isnan(stat) else "?"
        rows.append([
            name, "up" if up == 1 else "DOWN", network,
            "-" if signal is None or math.isnan(signal) else f"{signal:g} dBm",
            f"{used or 0:g}/{capacity or 0:g}", f"{errors:g}",
        ])
        if up != 1:
            attention.append(f"modem {name} is down")
        elif stat is not None and int(stat) not in (1, 5):
            attention.append(f"modem {name} is not registered on the network ({network})")
    _table(out, ["modem", "state", "network", "signal", "SIM storage", "errors since start"], rows, "<<<>>>")


def _print_telegram(out: IO[str], metrics: Scrape) -> None:
    if not metrics.ok:
        return
    errors: dict[str, float] = {}
    for labels, v in metrics.values("laporgub_telegram_errors_total"):
        if v:
            errors[labels.get("error", "?")] = errors.get(labels.get("error", "?"), 0) + v
    restarts = {labels.get("actor", "?"): v for labels, v in metrics.values("laporgub_actor_restarts_total") if v}
    sent = sum(v for _l, v in metrics.values("laporgub_notifications_sent_total"))
    line = f"\nTelegram since start: {sent:g} notifications sent"
    line += ("; errors: " + ", ".join(f"{k} {v:g}" for k, v in sorted(errors.items()))) if errors else "; no errors"
    print(line, file=out)
    if restarts:
        print("Actor restarts since start: " + ", ".join(f"{k} {v:g}" for k, v in sorted(restarts.items())),
              file=out)


def _print_attention(out: IO[str], attention: list[str]) -> None:
    if attention:
        print("\nAttention:", file=out)
        for item in attention:
            print(f"  - {item}", file=out)
    else:
        print("\nNothing needs attention.", file=out)


def main(argv: list[str] | None = None) -> int:
    """``python -m laporgub.status --config FILE [--metrics-url URL]`` (also ``laporgub status``)."""
    import argparse
    import sys

    from laporgub.config import default_config_path, load_config
    from laporgub.exceptions import ConfigError

    parser = argparse.ArgumentParser(prog="laporgub status", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=default_config_path())
    parser.add_argument("--metrics-url", default=None, help="the service's /metrics (default: from [metrics] listen)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    return status_main(config, sys.stdout, args.metrics_url)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
