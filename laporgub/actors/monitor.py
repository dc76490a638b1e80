"""Monitor: follow-up of unanswered tickets (reminders, escalation, daily digest) and of unanswered questions
to citizens (one reminder SMS)."""

from __future__ import annotations

import logging

from laporgub import actor_names
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config
from laporgub.followup import Followup
from laporgub.messages import NotificationsQueued, OutboundQueued, Tick

logger = logging.getLogger(__name__)


class Monitor(LaporgubActor):
    """Looks for due follow-up steps every ``[followup] check_interval_seconds`` and queues them.

    Runs in its own thread; each check is a few queries and inserts (bounded), then
    the dispatchers of the chats that got rows are nudged. What was done is in the
    database, so a restarted Monitor never repeats a step.

    Args:
        clock: the service's clock (tests pass a simulated one).
    """

    actor_name = actor_names.MONITOR
    uses_database = True

    def __init__(self, *, config: Config, directory: Directory, scheduler: Scheduler,
                 clock: Clock = SYSTEM) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.followup = Followup(config)
        self.interval = config.followup.check_interval_seconds

    def on_start(self) -> None:
        super().on_start()
        self.actor_ref.tell(Tick("check"))

    def set_config(self, config: Config) -> None:
        """Apply a reloaded config from the next check on (runs in the actor's thread)."""
        self.followup.set_config(config)
        self.interval = config.followup.check_interval_seconds

    @handles(Tick)
    def _on_tick(self, message: Tick) -> None:
        self._check()
        if message.reason != "now":  # "now": an extra check asked for from outside; the timer goes on
            self.schedule(self.interval, Tick("check"))

    def _check(self) -> None:
        now = self.clock.time()
        try:
            result = self.followup.run(now)
        except Exception:
            # Nothing half-done: each step commits with its rows. The next check tries again.
            logger.exception("event=followup_check_failed")
            self._retention(now)
            return
        for dest in result.destinations:
            self.directory.tell(actor_names.dispatcher(dest), NotificationsQueued(dest))
        if result.citizen_reminders:
            for name in self.directory.names(actor_names.MODEM_PREFIX):
                self.directory.tell(name, OutboundQueued())
        self._retention(now)

    def _retention(self, now: float) -> None:
        """The ``[privacy]`` retention policy, once a day (recorded in ``RetentionRun``)."""
        from laporgub.privacy import daily_retention

        try:
            daily_retention(self.followup.config, now)
        except Exception:
            logger.exception("event=retention_failed")
