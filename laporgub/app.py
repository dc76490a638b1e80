"""Wiring: start everything in dependency order, stop in reverse, in one place.

Start order (downstream first, so nothing is told to an actor that is not
there yet): database and metrics, Telegram gateway, one GroupDispatcher per
destination, the Responder (PICs' replies and commands) and the Monitor
(follow-up reminders, escalation, digests), KeywordFilter, TicketRegistry,
the WebhookSender and the ApiServer (website API: it tells the filter), then
the ModemReaders. Stop order
is the reverse: intake first, the registry commits what it holds, then the
rest (Mopidy's ``_app/server.py``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Concatenate, ParamSpec

import peewee
import pykka

from laporgub import actor_names, db, leases
from laporgub.actors._base import Directory, Scheduler
from laporgub.actors.api_server import ApiServer, ApiStatus
from laporgub.actors.dispatcher import GroupDispatcher
from laporgub.actors.keyword_filter import KeywordFilter
from laporgub.actors.modem import ModemReader
from laporgub.actors.monitor import Monitor
from laporgub.actors.registry import TicketRegistry
from laporgub.actors.reporter import ReportGenerator
from laporgub.actors.responder import Responder
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config, ConfigError, ModemConfig, Secret, load_config
from laporgub.exceptions import RegistryError
from laporgub.intake import Intake, build_classifier
from laporgub.messages import NotificationsQueued
from laporgub.metrics import Metrics, start_metrics_server
from laporgub.outbox import ADMIN, Alerts, destinations, outbound_pending_count, pending_count
from laporgub.render import Renderer, wording
from laporgub.sdnotify import Notifier
from laporgub.smsguard import SmsGuard
from laporgub.supervisor import ChildSpec, Supervisor
from laporgub.telegram_gateway import TelegramGateway

logger = logging.getLogger(__name__)

#: SIGTERM to exit: the whole stop must fit in this (docs/sop.md: within 10 s).
STOP_BUDGET = 8.0

_P = ParamSpec("_P")


class Service:
    """The whole LaporGub service in one process.

    Args:
        config: the validated configuration.
        token: the bot token.
        metrics_server: start the ``/metrics`` endpoint (tests may skip it).
        clock: the one clock everything in the service reads (wall and monotonic time);
            tests pass one pinned to an awkward date.
    """

    def __init__(self, config: Config, token: Secret, *, metrics_server: bool = True,
                 clock: Clock | Callable[[], float] = SYSTEM) -> None:
        self.config = config
        self.clock = clock if isinstance(clock, Clock) else _WallClock(clock)
        self.token = token
        self.want_metrics_server = metrics_server
        self.directory = Directory()
        self.metrics = Metrics(config.sla.as_dict(), destinations(config), [m.name for m in config.modems],
                               clock=self.clock)
        self.supervisor = Supervisor(self.directory, self.metrics, hang_timeout=config.service.actor_hang_seconds,
                                     clock=self.clock)
        self.scheduler: Scheduler | None = None
        self.gateway: TelegramGateway | None = None
        self._metrics_server: Any = None
        self.ready = threading.Event()
        #: Whether (and where) the website API listens; kept across restarts of its actor.
        self.api_status = ApiStatus()
        self.started_at = time.monotonic()
        self.notifier = Notifier()
        #: Set by SIGHUP; the supervision loop reloads ``config_path``.
        self.reload_requested = threading.Event()
        self.config_path: str | None = config.path

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        """Open everything and start the actors; raises a LaporgubError subclass on a startup failure."""
        config = self.config
        if self.want_metrics_server and config.metrics.listen is not None:
            listen = config.metrics.listen
            self._metrics_server = start_metrics_server(self.metrics, listen.host, listen.port)
            logger.info("event=metrics_listening listen=%s", listen)
        self.instance = leases.configure(config.service.instance, config.service.lease_seconds,
                                         config.service.claim_seconds)
        try:
            db.open_database(config.service.database, clock=self.clock)
            with db.database.connection_context():
                leases.recover_local(self.instance)  # what a killed predecessor on this host held: ours again now
            logger.info("event=instance instance=%s", self.instance)
            self._sync_pics()
        except (peewee.DatabaseError, OSError) as exc:
            # Unreachable, locked past the busy timeout, or the disk full: one line and exit 1 (systemd retries).
            where = re.sub(r"//[^@/]*@", "//***@", config.service.database)
            raise RegistryError(f"database {where} not usable: {type(exc).__name__}: {exc}") from exc
        from laporgub.privacy import read_hash_key

        self.hash_key, source = read_hash_key(config.privacy, self.token)  # ConfigError names the key
        logger.info("event=request_hash_key source=%s", source)
        self.scheduler = Scheduler()
        self.gateway = TelegramGateway(config.telegram, self.token)
        self.gateway.start()
        self._compile(config)
        self._started_destinations = destinations(config)
        self.alerts = Alerts(config.telegram.admin_chat_id, self.renderer.html,
                             lambda: self.directory.tell(actor_names.dispatcher(ADMIN), NotificationsQueued(ADMIN)),
                             clock=self.clock)
        self.sms_guard = SmsGuard(lambda: self.config.sms, alerts=self.alerts, metrics=self.metrics, tz=config.tz,
                                  clock=self.clock)

        # Each starter reads the service's current rules when it runs, so an actor the
        # supervisor restarts after a reload gets the reloaded configuration.
        for dest in destinations(config):
            self.supervisor.start_child(ChildSpec(actor_names.dispatcher(dest), self._dispatcher_starter(dest)))
        self.supervisor.start_child(ChildSpec(
            actor_names.REPORTER, lambda: ReportGenerator.start(config=self.config, gateway=self.gateway,
                                                                instance=self.instance, **self._actors())))
        self.supervisor.start_child(ChildSpec(
            actor_names.RESPONDER, lambda: Responder.start(config=self.config, gateway=self.gateway,
                                                           **self._actors()),
            stop_timeout=3.0))
        self.supervisor.start_child(ChildSpec(
            actor_names.MONITOR, lambda: Monitor.start(config=self.config, **self._actors())))
        self.supervisor.start_child(ChildSpec(
            actor_names.FILTER, lambda: KeywordFilter.start(config=self.config, classifier=self.classifier,
                                                            **self._common())))
        self.supervisor.start_child(ChildSpec(
            actor_names.REGISTRY, lambda: TicketRegistry.start(intake=self.intake, **self._common()),
            stop_timeout=STOP_BUDGET / 2))
        self._start_website()
        for modem in config.modems:
            def start_reader(modem: ModemConfig = modem) -> pykka.ActorRef[ModemReader]:
                return ModemReader.start(config=modem, alerts=self.alerts, guard=self.sms_guard, **self._common())

            self.supervisor.start_child(ChildSpec(actor_names.modem(modem.name), start_reader, stop_timeout=3.0))
        logger.info("event=service_started actors=%s modems=%s", len(self.supervisor.children), len(config.modems))
        self._update_ready()

    def _compile(self, config: Config) -> None:
        """Templates, keyword rules and intake for ``config`` (at start and on reload)."""
        self.renderer = Renderer(config)
        self.classifier = build_classifier(config)
        self.intake = Intake(config, self.classifier, self.renderer, clock=self.clock)

    def _actors(self) -> dict[str, Any]:
        return {"directory": self.directory, "scheduler": self.scheduler, "clock": self.clock}

    def _common(self) -> dict[str, Any]:
        return {"metrics": self.metrics, **self._actors()}

    def _dispatcher_target(self, dest: str) -> tuple[int, float]:
        # A destination gone from a reloaded config keeps its chat until the restart.
        chat_id = destinations(self.config).get(dest) or self._started_destinations[dest]
        tg = self.config.telegram
        return chat_id, tg.group_interval_seconds if chat_id < 0 else tg.private_interval_seconds

    def _dispatcher_starter(self, dest: str) -> Callable[[], pykka.ActorRef[Any]]:
        def start() -> pykka.ActorRef[Any]:
            chat_id, interval = self._dispatcher_target(dest)
            return GroupDispatcher.start(destination=dest, chat_id=chat_id, interval=interval, gateway=self.gateway,
                                         renderer=self.renderer, alerts=self.alerts,
                                         **self._common())

        return start

    # -- reload (SIGHUP) ---------------------------------------------------------

    def reload(self, path: str) -> bool:
        """Re-read the config file; apply what can change live, keep the old config if it is invalid.

        Groups, keywords, PICs, leaders' chat ids, templates and SLA thresholds apply to
        new messages without dropping in-flight work (each actor swaps its rules between
        two messages). The database URL, modems, listen addresses, the Telegram endpoint
        and the set of destinations need a restart: they are reported, not applied.
        """
        self.notifier.reloading()
        try:
            new = load_config(path)
        except ConfigError as exc:
            self._reject(exc)
            return False
        restart = restart_needed(self.config, new)
        old_sla = self.config.sla
        self._merge(new)
        self._push(self.config)
        if old_sla != self.config.sla:
            restart.append("sla (histogram bucket bounds; thresholds and SLA gauges are already updated)")
        self._announce(path, restart)
        return True

    def _reject(self, exc: ConfigError) -> None:
        """An invalid file: every problem logged, the admin chat told, the old config kept."""
        self.metrics.config_reload_failures.inc()
        for line in exc.problems:
            logger.error("event=config_reload_rejected problem=%s", line)
        self.alerts.send(wording("admin.reload_rejected", problems="\n".join(exc.problems[:20])))
        self.notifier.reloaded("reload rejected (old config kept): " + exc.problems[0])

    def _merge(self, new: Config) -> None:
        """Take what ``new`` may change live; keep what needs a restart; recompile the rules and update
        what the service itself holds (alerts, PICs in the database, SLA gauges)."""
        old = self.config
        self.config = replace(new, service=old.service, modems=old.modems, metrics=old.metrics, api=old.api,
                              telegram=replace(new.telegram, base_url=old.telegram.base_url,
                                               base_file_url=old.telegram.base_file_url,
                                               token_env=old.telegram.token_env,
                                               token_file=old.telegram.token_file))
        config = self.config
        self._compile(config)
        self.alerts.admin_chat_id, self.alerts.html = config.telegram.admin_chat_id, self.renderer.html
        self._sync_pics()
        for stage, seconds in config.sla.as_dict().items():
            self.metrics.sla_seconds.labels(stage=stage).set(seconds)

    def _push(self, config: Config) -> None:
        """Hand the merged rules to each running actor (swapped between two of its messages) and wait."""
        futures = [
            self._call(actor_names.REGISTRY, TicketRegistry.set_intake, self.intake),
            self._call(actor_names.FILTER, KeywordFilter.set_rules, config, self.classifier),
            self._call(actor_names.RESPONDER, Responder.set_config, config),
            self._call(actor_names.MONITOR, Monitor.set_config, config),
            self._call(actor_names.REPORTER, ReportGenerator.set_config, config),
        ]
        futures += [self._call(actor_names.dispatcher(d), GroupDispatcher.set_renderer, self.renderer,
                               *self._dispatcher_target(d))
                    for d in destinations(config)]
        for future in futures:
            if future is None:
                continue
            try:
                future.get(timeout=10)
            except Exception as exc:  # the actor is restarting: its starter reads the new rules
                logger.warning("event=config_reload_actor_skipped error=%s", exc)

    def _call(self, name: str, method: Callable[Concatenate[Any, _P], object], *args: _P.args,
              **kwargs: _P.kwargs) -> pykka.Future[Any] | None:
        """Call ``method`` (an actor class's method, so a rename or a wrong argument is caught) on the
        actor called ``name`` through its proxy; None when it is not running."""
        ref = self.directory.get(name)
        if ref is None:
            return None
        try:
            future: pykka.Future[Any] = getattr(ref.proxy(), method.__name__)(*args, **kwargs)
        except pykka.ActorDeadError:
            return None
        return future

    def _announce(self, path: str, restart: list[str]) -> None:
        """Say what was applied and what waits for a restart: log, admin chat, systemd."""
        logger.info("event=config_reloaded path=%s restart_needed=%s", path, ";".join(restart) or "-")
        if restart:
            self.alerts.send(wording("admin.reload_restart", parts=", ".join(restart)))
        self.notifier.reloaded(self.health_summary())

    def _sync_pics(self) -> None:
        """Mirror ``[[pics]]`` into the database (who may act on tickets, for reports)."""
        now = self.clock.time()
        with db.database.connection_context(), db.database.atomic():
            ids = [p.telegram_id for p in self.config.pics]
            for pic in self.config.pics:
                fields = {"name": pic.name, "agency": pic.agency, "surat_tugas": pic.surat_tugas,
                          "groups": ",".join(pic.groups), "admin": pic.admin, "active": True, "updated_at": now}
                # An upsert: instances starting together on one database must not clash on the unique id.
                db.Pic.insert(telegram_id=pic.telegram_id, **fields).on_conflict(
                    conflict_target=[db.Pic.telegram_id],
                    update={getattr(db.Pic, k): v for k, v in fields.items()}).execute()
            db.Pic.update(active=False, updated_at=now).where(db.Pic.telegram_id.not_in(ids or [0])).execute()

    # -- run -------------------------------------------------------------------

    def run(self, should_exit: threading.Event, on_tick: Callable[[], None] | None = None) -> None:
        """Supervise until ``should_exit`` is set (the main thread's loop)."""
        while not should_exit.wait(1.0):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                if self.config_path:
                    self.reload(self.config_path)
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

    def _start_website(self) -> None:
        """The website API (after the filter and registry it tells) and the webhook sender (docs/api.md)."""
        from laporgub.actors.webhooks import WebhookSender
        from laporgub.config import read_webhook_secrets

        api = self.config.api
        if api.webhooks:
            secrets = read_webhook_secrets(api)  # a missing secret stops the start with the key named
            self.metrics.declare_webhooks(h.name for h in api.webhooks)
            self.supervisor.start_child(ChildSpec(
                actor_names.WEBHOOKS,
                lambda: WebhookSender.start(hooks=api.webhooks, secrets=secrets, metrics=self.metrics,
                                            **self._actors()), stop_timeout=3.0))
        if api.listen is not None:
            listen = api.listen
            self.supervisor.start_child(ChildSpec(
                actor_names.API,
                lambda: ApiServer.start(app_factory=self._api_app, listen=listen, status=self.api_status,
                                        settings=api, **self._common()), stop_timeout=3.0))

    def _api_app(self) -> Any:
        from laporgub.api.app import ApiContext, build_app
        from laporgub.api.auth import RateLimiter

        def count(route: str, code: int) -> None:
            self.metrics.api_requests.labels(route=route, code=str(code)).inc()

        return build_app(ApiContext(
            config=lambda: self.config, intake=lambda: self.intake, tell=self.directory.tell,
            actor_names=self.directory.names, limiter=RateLimiter(self.config.api.rate_limit_per_minute),
            count_request=count, hash_key=self.hash_key, clock=self.clock,
        ))

    def _update_ready(self) -> None:
        ready = self.supervisor.all_alive() and self.modems_up() and (
            self.config.api.listen is None or self.api_status.listening.is_set())
        self.metrics.ready.set(1 if ready else 0)
        if ready and not self.ready.is_set():
            self.ready.set()
            logger.info("event=service_ready startup_seconds=%.2f", time.monotonic() - self.started_at)

    def _update_gauges(self) -> None:
        try:
            with db.database.connection_context():
                self.metrics.outbox_pending.labels(outbox="notification").set(pending_count())
                self.metrics.outbox_pending.labels(outbox="sms").set(outbound_pending_count())
                self.metrics.outbox_pending.labels(outbox="webhook").set(
                    db.WebhookDelivery.select().where(db.WebhookDelivery.status.in_(["pending", "sending"])).count())
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
        if db.database.obj is not None:  # None: it never opened
            db.close_all()  # this thread's connection, and PostgreSQL's idle pooled ones
        logger.info("event=service_stopped")


class _WallClock(Clock):
    """A clock from a function of wall time (older callers pass ``time.time``-like functions)."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self._wall = wall

    def time(self) -> float:
        return self._wall()


def restart_needed(old: Config, new: Config) -> list[str]:
    """The keys whose change a reload cannot apply."""
    changed = []
    if old.service.database != new.service.database:
        changed.append("service.database")
    if old.service.timezone != new.service.timezone:
        changed.append("service.timezone")
    if old.modems != new.modems:
        changed.append("modems")
    if old.metrics.listen != new.metrics.listen:
        changed.append("metrics.listen")
    for key in ("listen", "max_body_bytes", "rate_limit_per_minute", "webhooks"):
        if getattr(old.api, key) != getattr(new.api, key):
            changed.append(f"api.{key}")
    for key in ("base_url", "base_file_url", "token_env", "token_file"):
        if getattr(old.telegram, key) != getattr(new.telegram, key):
            changed.append(f"telegram.{key}")
    if set(destinations(old)) != set(destinations(new)):
        changed.append("leaders (number of leader chats)")
    return changed
