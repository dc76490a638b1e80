"""KeywordFilter: routes each registered ticket to its groups."""

from __future__ import annotations

import logging

from laporgub import actor_names, incidents
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config
from laporgub.messages import NotificationsQueued, Tick, TicketRegistered
from laporgub.metrics import Metrics
from laporgub.outbox import route_ticket, unrouted_ticket_ids
from laporgub.routing import Classifier

logger = logging.getLogger(__name__)

#: Safety net: tickets committed but not routed (lost message, crash) are picked up this often.
SWEEP_INTERVAL = 5.0


class KeywordFilter(LaporgubActor):
    """Commits a ticket's categories, incident link and notification rows, then wakes the dispatchers.

    Runs in its own thread. On start it routes every ticket a crash left
    unrouted; afterwards it sweeps for them every few seconds, and ends the
    incidents whose window passed (laporgub/incidents.py).
    """

    actor_name = actor_names.FILTER
    uses_database = True

    def __init__(self, *, config: Config, classifier: Classifier, metrics: Metrics, directory: Directory,
                 scheduler: Scheduler, clock: Clock = SYSTEM) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.config = config
        self.classifier = classifier
        self.metrics = metrics
        self.clock = clock

    def on_start(self) -> None:
        super().on_start()
        self._sweep(min_age=0.0)
        self.schedule(SWEEP_INTERVAL, Tick("sweep"))

    def set_rules(self, config: Config, classifier: Classifier) -> None:
        """Swap keywords and groups (config reload); applies to the next ticket."""
        self.config, self.classifier = config, classifier

    @handles(TicketRegistered)
    def _on_registered(self, message: TicketRegistered) -> None:
        self._route(message.ticket_id)

    @handles(Tick)
    def _on_tick(self, message: Tick) -> None:
        self._sweep(min_age=SWEEP_INTERVAL)
        self.schedule(SWEEP_INTERVAL, Tick("sweep"))

    def _sweep(self, min_age: float) -> None:
        try:
            ids = unrouted_ticket_ids(older_than=min_age, clock=self.clock)
        except Exception:
            logger.exception("event=filter_sweep_failed")
            return
        for ticket_id in ids:
            self._route(ticket_id)
        try:
            incidents.expire(self.config.incidents, self.clock.time())
        except Exception:
            logger.exception("event=incident_expiry_failed")

    def _route(self, ticket_id: int) -> None:
        try:
            routed = route_ticket(self.config, self.classifier, ticket_id, now=self.clock.time())
        except Exception:
            # Left unrouted in the database: the next sweep tries again.
            logger.exception("event=route_failed ticket_id=%s", ticket_id)
            return
        if routed is None:
            return
        self.metrics.observe_stage("filter", routed.filtered_at - routed.registered_at)
        for group in routed.groups:
            self.metrics.tickets_routed.labels(group=group).inc()
        if routed.incident is not None:
            self.metrics.incident_reports.inc()
            self.metrics.incident_notifications_saved.inc(routed.incident.saved)
        for dest in routed.destinations:
            self.directory.tell(actor_names.dispatcher(dest), NotificationsQueued(dest))
