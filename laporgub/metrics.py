"""Every Prometheus metric LaporGub exports, declared in this one place.

Names follow Prometheus conventions (``laporgub_`` prefix, base units,
``_total`` for counters). Label values are bounded: stages, group keys,
destinations, modem names, kinds, error classes; never a phone number, a
ticket number or free text. Every series whose label values are known in
advance exists from start-up at zero (DESIGN.md), so dashboards and alerts
never see a missing series.

The stage histogram's buckets must contain the SLA thresholds from config
(PromQL then reads ``le="9.0"``), so the metrics are built per configuration
in :class:`Metrics`, each set in its own registry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from laporgub import __version__
from laporgub.types import SMS_KINDS, STAGES

logger = logging.getLogger(__name__)

# The *_created series only confuse rate() users and dashboards.
prometheus_client.disable_created_metrics()

#: Default bucket bounds in seconds; the configured SLA thresholds are added.
BASE_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 9, 15, 27, 60, 120, 300, 900)

MODEM_ERRORS: tuple[str, ...] = ("timeout", "at_error", "port_lost", "open_failed", "init_failed", "storage_full")
TELEGRAM_ERRORS: tuple[str, ...] = ("retry_after", "timed_out", "network", "forbidden", "bad_request", "other")


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

    def __init__(self, sla: dict[str, float], destinations: Iterable[str], modems: Iterable[str]) -> None:
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
        self.outbox_pending = Gauge(
            "laporgub_outbox_pending", "Rows waiting in an outbox (notification, sms).", ["outbox"], registry=r
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

        for stage in STAGES:
            self.stage_duration.labels(stage=stage)
            self.sla_seconds.labels(stage=stage).set(sla[stage])
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
            for error in TELEGRAM_ERRORS:
                self.telegram_errors.labels(group=dest, error=error)
        for outbox in ("notification", "sms"):
            self.outbox_pending.labels(outbox=outbox).set(0)

    def observe_group_stage(self, stage: str, group: str, seconds: float) -> None:
        """Record notify/deliver both overall and for the destination group."""
        seconds = max(0.0, seconds)
        self.stage_duration.labels(stage=stage).observe(seconds)
        self.group_stage_duration.labels(stage=stage, group=group).observe(seconds)

    def declare_actor(self, name: str) -> None:
        """Make ``laporgub_actor_restarts_total{actor=name}`` exist at zero."""
        self.actor_restarts.labels(actor=name)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Record one stage duration (negative clock skew counts as 0)."""
        self.stage_duration.labels(stage=stage).observe(max(0.0, seconds))

    def value(self, name: str, **labels: str) -> float | None:
        """Read a sample (tests and ``laporgub status``)."""
        return self.registry.get_sample_value(name, labels)


def start_metrics_server(metrics: Metrics, host: str, port: int) -> object:
    """Serve ``GET /metrics`` on ``host:port`` in a daemon thread; returns the server (has ``shutdown()``)."""
    server, _thread = prometheus_client.start_http_server(port, addr=host, registry=metrics.registry)
    return server
