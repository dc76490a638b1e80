"""Wiring: start everything in dependency order, stop in reverse, in one place.

Start order (downstream first, so nothing is told to an actor that is not
there yet): database and metrics, Telegram gateway, one GroupDispatcher per
destination, the Responder (PICs' replies and commands) and the Monitor
(follow-up reminders, escalation, digests), KeywordFilter, TicketRegistry,
then the ModemReaders. Stop order
is the reverse: intake first, the registry commits what it holds, then the
rest (Mopidy's ``_app/server.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from laporgub import db
from laporgub.actors._base import Directory, Scheduler
from laporgub.actors.dispatcher import GroupDispatcher
from laporgub.actors.keyword_filter import KeywordFilter
from laporgub.actors.modem import ModemReader
from laporgub.actors.monitor import Monitor
from laporgub.actors.registry import TicketRegistry
from laporgub.actors.responder import Responder
from laporgub.config import Config, Secret
from laporgub.intake import Intake, build_classifier
from laporgub.messages import NotificationsQueued
from laporgub.metrics import Metrics, start_metrics_server
from laporgub.outbox import ADMIN, Alerts, destinations, outbound_pending_count, pending_count
from laporgub.render import Renderer
from laporgub.sdnotify import Notifier
from laporgub.supervisor import ChildSpec, Supervisor
from laporgub.telegram_gateway import TelegramGateway

logger = logging.getLogger(__name__)

#: SIGTERM to exit: the whole stop must fit in this (DESIGN: within 10 s).
STOP_BUDGET = 8.0


class Service:
    """The whole LaporGub service in one process.

    Args:
        config: the validated configuration.
        token: the bot token.
        metrics_server: start the ``/metrics`` endpoint (tests may skip it).
        clock: epoch seconds for follow-up monitoring (tests pass a simulated clock).
    """

    def __init__(self, config: Config, token: Secret, *, metrics_server: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.token = token
        self.want_metrics_server = metrics_server
        self.directory = Directory()
        self.metrics = Metrics(config.sla.as_dict(), destinations(config), [m.name for m in config.modems])
        self.supervisor = Supervisor(self.directory, self.metrics, hang_timeout=config.service.actor_hang_seconds)
        self.scheduler: Scheduler | None = None
        self.gateway: TelegramGateway | None = None
        self._metrics_server: Any = None
        self.ready = threading.Event()
        self.started_at = time.monotonic()
        self.notifier = Notifier()

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        """Open everything and start the actors; raises a LaporgubError subclass on a startup failure."""
        config = self.config
        if self.want_metrics_server and config.metrics.listen is not None:
            listen = config.metrics.listen
            self._metrics_server = start_metrics_server(self.metrics, listen.host, listen.port)
            logger.info("event=metrics_listening listen=%s", listen)
        db.open_database(config.service.database)
        self._sync_pics()
        self.scheduler = Scheduler()
        self.gateway = TelegramGateway(config.telegram, self.token)
        self.gateway.start()

        renderer = Renderer(config)
        classifier = build_classifier(config)
        intake = Intake(config, classifier, renderer)
        common = {"metrics": self.metrics, "directory": self.directory, "scheduler": self.scheduler}
        alerts = Alerts(config.telegram.admin_chat_id, renderer.html,
                        lambda: self.directory.tell(f"dispatcher:{ADMIN}", NotificationsQueued(ADMIN)))
        gateway = self.gateway

        for dest, chat_id in destinations(config).items():
            tg = config.telegram
            interval = tg.group_interval_seconds if chat_id < 0 else tg.private_interval_seconds
            self.supervisor.start_child(ChildSpec(
                f"dispatcher:{dest}",
                _starter(GroupDispatcher, destination=dest, chat_id=chat_id, interval=interval, gateway=gateway,
                         renderer=renderer, alerts=alerts, **common),
            ))
        actors = {"directory": self.directory, "scheduler": self.scheduler}
        self.supervisor.start_child(ChildSpec(
            "responder", _starter(Responder, config=config, gateway=gateway, **actors), stop_timeout=3.0))
        self.supervisor.start_child(ChildSpec(
            "monitor", _starter(Monitor, config=config, clock=self.clock, **actors)))
        self.supervisor.start_child(ChildSpec(
            "filter", _starter(KeywordFilter, config=config, classifier=classifier, **common)))
        self.supervisor.start_child(ChildSpec(
            "registry", _starter(TicketRegistry, intake=intake, **common), stop_timeout=STOP_BUDGET / 2))
        for modem in config.modems:
            self.supervisor.start_child(ChildSpec(
                f"modem:{modem.name}", _starter(ModemReader, config=modem, alerts=alerts, **common), stop_timeout=3.0))
        logger.info("event=service_started actors=%s modems=%s", len(self.supervisor.children), len(config.modems))
        self._update_ready()

    def _sync_pics(self) -> None:
        """Mirror ``[[pics]]`` into the database (who may act on tickets, for reports)."""
        now = time.time()
        with db.database.connection_context(), db.database.atomic():
            ids = [p.telegram_id for p in self.config.pics]
            for pic in self.config.pics:
                fields = {"name": pic.name, "agency": pic.agency, "surat_tugas": pic.surat_tugas,
                          "groups": ",".join(pic.groups), "admin": pic.admin, "active": True, "updated_at": now}
                if db.Pic.update(**fields).where(db.Pic.telegram_id == pic.telegram_id).execute() == 0:
                    db.Pic.create(telegram_id=pic.telegram_id, **fields)
            db.Pic.update(active=False, updated_at=now).where(db.Pic.telegram_id.not_in(ids or [0])).execute()

    # -- run -------------------------------------------------------------------

    def run(self, should_exit: threading.Event, on_tick: Callable[[], None] | None = None) -> None:
        """Supervise until ``should_exit`` is set (the main thread's loop)."""
        while not should_exit.wait(1.0):
            # A hung actor blocks this round (up to the ping timeout): no WATCHDOG=1 meanwhile,
            # so systemd restarts a service whose actors stopped answering.
            healthy = self.supervisor.check()
            self._update_ready()
            self._update_gauges()
            if self.ready.is_set():
                summary = self.health_summary()
                self.notifier.ready(summary)
                self.notifier.status(summary)
                if healthy:
                    self.notifier.healthy()
            if on_tick is not None:
                on_tick()

    def health_summary(self) -> str:
        """One line for ``systemctl status`` (STATUS=)."""
        up = sum(1 for m in self.config.modems if self.metrics.value("laporgub_modem_up", modem=m.name) == 1.0)
        pending = self.metrics.value("laporgub_outbox_pending", outbox="notification") or 0
        sms = self.metrics.value("laporgub_outbox_pending", outbox="sms") or 0
        state = "ready" if self.metrics.value("laporgub_ready") == 1.0 else "degraded"
        return (f"{state}: modems {up}/{len(self.config.modems)} up, "
                f"{int(pending)} notification(s) and {int(sms)} SMS waiting")

    def modems_up(self) -> bool:
        return all(
            self.metrics.value("laporgub_modem_up", modem=m.name) == 1.0 for m in self.config.modems
        )

    def _update_ready(self) -> None:
        ready = self.supervisor.all_alive() and self.modems_up()
        self.metrics.ready.set(1 if ready else 0)
        if ready and not self.ready.is_set():
            self.ready.set()
            logger.info("event=service_ready startup_seconds=%.2f", time.monotonic() - self.started_at)

    def _update_gauges(self) -> None:
        try:
            with db.database.connection_context():
                self.metrics.outbox_pending.labels(outbox="notification").set(pending_count())
                self.metrics.outbox_pending.labels(outbox="sms").set(outbound_pending_count())
        except Exception as exc:
            logger.warning("event=gauge_update_failed error=%s", exc)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every actor runs and every modem is initialised."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._update_ready()
            if self.ready.is_set():
                return True
            time.sleep(0.05)
        return False

    # -- stop ------------------------------------------------------------------

    def stop(self) -> None:
        """Stop in reverse order within the stop budget; safe to call twice."""
        deadline = time.monotonic() + STOP_BUDGET
        logger.info("event=service_stopping")
        self.notifier.stopping()
        self.metrics.ready.set(0)
        self.supervisor.stop_all(deadline)
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        leftovers = [ref for ref in pykka.ActorRegistry.get_all()]
        if leftovers:
            # Stuck in I/O past the stop budget (daemon threads: they do not hold the exit).
            logger.error("event=actors_left_running count=%s", len(leftovers))
            try:
                pykka.ActorRegistry.stop_all(block=True, timeout=max(0.1, deadline - time.monotonic()))
            except pykka.Timeout:
                pass
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server = None
        if not db.database.is_closed():
            db.database.close()
        logger.info("event=service_stopped")


def _starter(cls: type[pykka.ThreadingActor], **kwargs: Any) -> Callable[[], pykka.ActorRef[Any]]:
    def start() -> pykka.ActorRef[Any]:
        return cls.start(**kwargs)

    return start
