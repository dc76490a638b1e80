"""What the website API's routes share: the service they serve, and who may call them.

:class:`ApiContext` is what the service hands the API (laporgub/app.py); :class:`Access`
is built from it once per application and given to each surface's router
(laporgub/api/routes/): the bearer-key check with its scope and rate limit, and the
submission of a web complaint with the nudge to the actors that follows a new ticket.

No ``from __future__ import annotations``: FastAPI reads the dependency's annotations at runtime.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from laporgub import actor_names, db
from laporgub.api import auth
from laporgub.api.complaints import IdempotencyConflict, WebComplaintData, submit
from laporgub.api.errors import ApiError
from laporgub.clock import SYSTEM, Clock
from laporgub.config import Config
from laporgub.intake import Intake
from laporgub.messages import OutboundQueued, TicketRegistered


@dataclass
class ApiContext:
    """What the API needs from the service; the callables read the current (reloaded) state."""

    config: Callable[[], Config]
    intake: Callable[[], Intake]
    tell: Callable[[str, object], object]  # Directory.tell
    actor_names: Callable[[str], list[str]]  # Directory.names
    limiter: auth.RateLimiter
    count_request: Callable[[str, int], None] | None = None
    #: Keys the stored request hashes (laporgub.privacy.read_hash_key).
    hash_key: bytes = b""
    #: The service's clock (key use times, web complaints' receipt).
    clock: Clock = SYSTEM


class Access:
    """API keys and submissions for the routes of one application."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.bearer = HTTPBearer(auto_error=False, description="An API key from `laporgub api-key create`.")

    def principal(self, scope: str) -> Callable[..., auth.Principal]:
        """A FastAPI dependency: the caller's key, which must have ``scope`` (401/403/429 otherwise)."""

        def dependency(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(self.bearer)]
                       ) -> auth.Principal:
            return self.authorise(credentials.credentials if credentials else None, scope)

        return dependency

    def authorise(self, key: str | None, scope: str) -> auth.Principal:
        challenge = {"WWW-Authenticate": 'Bearer realm="laporgub"'}
        if not key:
            raise ApiError(401, "unauthorized", "missing API key (Authorization: Bearer <key>)", headers=challenge)
        with db.database.connection_context():
            who = auth.authenticate(key, now=self.ctx.clock.time())
        if who is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key", headers=challenge)
        if not who.allows(scope):
            raise ApiError(403, "forbidden", f"this API key lacks the scope {scope!r}")
        wait = self.ctx.limiter.take(who.key_id)
        if wait > 0:
            raise ApiError(429, "rate_limited", "too many requests for this API key",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return who

    def submit(self, data: WebComplaintData, key_id: int | None, idem: str | None) -> Any:
        """Register a web complaint (one transaction), then nudge the filter and the modems."""
        with db.database.connection_context():
            try:
                result = submit(self.ctx.intake(), data, key_id, idem, hash_key=self.ctx.hash_key)
            except IdempotencyConflict:
                raise ApiError(409, "conflict", "this Idempotency-Key was used for a different complaint",
                               [{"field": "Idempotency-Key", "in": "header",
                                 "problem": "reused with a different request body"}]) from None
        self._after_submit(result)
        return result

    def _after_submit(self, result: Any) -> None:
        if not result.created:
            return
        # As the registry does after committing an SMS ticket (tell: the database has it anyway).
        self.ctx.tell(actor_names.FILTER, TicketRegistered(result.ticket_id, result.ticket_number))
        if result.outbound_queued:
            for name in self.ctx.actor_names(actor_names.MODEM_PREFIX):
                self.ctx.tell(name, OutboundQueued())
