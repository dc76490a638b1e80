"""WebhookSender: delivers the webhook outbox (laporgub/webhooks.py) to the website, signed.

Runs in its own thread with its own database connection and one httpx client
(keep-alive per endpoint). It wakes itself every :data:`POLL_INTERVAL`
seconds or sooner when a retry is due: the events are written by other
actors' transactions, and polling one indexed query needs no message from them.
Each round claims a few rows (the head of each ticket's queue per endpoint),
sends them one by one with a bounded timeout, settles them, and goes again at
once while there is work, so ``stop`` and ``ping`` are never kept waiting
behind more than one round.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from laporgub import actor_names, db, leases, webhooks
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Secret, WebhookConfig
from laporgub.messages import Tick
from laporgub.metrics import Metrics

logger = logging.getLogger(__name__)

#: The longest wait between two looks at the outbox.
POLL_INTERVAL = 0.5
#: Rows claimed per round.
BATCH = 10


class WebhookSender(LaporgubActor):
    """Sends due webhook rows; settles each as delivered, retried with backoff, or dead.

    Args:
        hooks: ``[[api.webhooks]]``.
        secrets: the signing secret of each hook, by name.
        metrics: deliveries per endpoint and result.
    """

    actor_name = actor_names.WEBHOOKS
    uses_database = True

    def __init__(self, *, hooks: tuple[WebhookConfig, ...], secrets: Mapping[str, Secret], metrics: Metrics,
                 directory: Directory, scheduler: Scheduler, clock: Clock = SYSTEM) -> None:
        super().__init__(directory=directory, scheduler=scheduler, clock=clock)
        self.hooks = {h.name: h for h in hooks}
        self.secrets = dict(secrets)
        self.metrics = metrics
        # The instance's id, as every outbox claims (a configured ``[service] instance`` included), so a
        # restarted instance recovers its predecessor's webhook claims at once (leases.recover_local).
        self.claimer = leases.instance_id()
        self.client: httpx.Client | None = None
        self._tick_pending = False

    def on_start(self) -> None:
        super().on_start()
        self.client = httpx.Client(follow_redirects=False, headers={"Connection": "keep-alive"})
        self._wake(0.0)

    def release(self) -> None:
        try:
            if not db.database.is_closed():
                webhooks.release_claims(self.claimer)
        except Exception:  # noqa: BLE001 - a claim left behind expires with its lease
            logger.warning("event=webhook_release_failed")
        if self.client is not None:
            self.client.close()
            self.client = None

    def _wake(self, delay: float) -> None:
        if not self._tick_pending:
            self._tick_pending = True
            self.schedule(delay, Tick("webhooks"))

    @handles(Tick)
    def _on_tick(self, message: Tick) -> None:
        self._tick_pending = False
        busy = self._round()
        self._wake(0.0 if busy else self._idle_delay())

    def _idle_delay(self) -> float:
        try:
            due = webhooks.next_due(self.hooks)
        except Exception:  # noqa: BLE001 - the next round retries
            return POLL_INTERVAL
        if due is None:
            return POLL_INTERVAL
        return max(0.0, min(POLL_INTERVAL, due - self.clock.time()))

    def _round(self) -> bool:
        """One claim-and-send round; True if it did any work (go again at once)."""
        try:
            batch = webhooks.claim_due(self.claimer, self.clock.time(), self.hooks, limit=BATCH)
        except Exception:
            logger.exception("event=webhook_claim_failed")
            return False
        for delivery in batch:
            self._deliver(delivery)
        return bool(batch)

    def _deliver(self, delivery: webhooks.Delivery) -> None:
        hook = self.hooks[delivery.endpoint]
        body = webhooks.outgoing_body(delivery.payload).encode("utf-8")
        now = self.clock.time()
        headers = webhooks.headers(self.secrets.get(hook.name, ""), delivery.event_id, delivery.event, body, now)
        status: int | None = None
        error = ""
        assert self.client is not None
        try:
            response = self.client.post(hook.url, content=body, headers=headers, timeout=hook.timeout_seconds)
            status = response.status_code
            if 200 <= status < 300:
                webhooks.mark_delivered(delivery.id, self.claimer, status, self.clock.time())
                self.metrics.webhook_deliveries.labels(endpoint=hook.name, result="delivered").inc()
                logger.info("event=webhook_delivered endpoint=%s ticket=%s type=%s event_id=%s attempts=%s",
                            hook.name, delivery.ticket_number, delivery.event, delivery.event_id,
                            delivery.attempts + 1)
                return
            error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        try:
            result = webhooks.mark_failed(delivery, self.claimer, hook, error, status, self.clock.time())
        except Exception:
            logger.exception("event=webhook_settle_failed endpoint=%s id=%s", hook.name, delivery.id)
            return
        outcome = "dead" if result == "dead" else "failed"
        self.metrics.webhook_deliveries.labels(endpoint=hook.name, result=outcome).inc()
        log = logger.error if result == "dead" else logger.warning
        log("event=webhook_%s endpoint=%s ticket=%s type=%s event_id=%s attempts=%s error=%s",
            "dead" if result == "dead" else "retry", hook.name, delivery.ticket_number, delivery.event,
            delivery.event_id, delivery.attempts + 1, error[:200])
