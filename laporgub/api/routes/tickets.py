"""``/api/v1/tickets`` (one ticket, incremental sync) and ``/api/v1/stats``: reading tickets.

Numbers in clear only for a key with ``read:personal``, and every such answer is written to
the audit log (laporgub/api/views.py). The sync's cursor and snapshot are in laporgub/api/sync.py.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime, and
those naming the dependencies built inside :func:`router` cannot be resolved from strings.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from laporgub import db
from laporgub.api import auth, sync, views
from laporgub.api.context import Access
from laporgub.api.errors import ERRORS, ApiError, ErrorOut
from laporgub.tickets import parse_ticket


def router(access: Access) -> APIRouter:
    routes = APIRouter()
    ctx = access.ctx

    @routes.get("/api/v1/tickets/{number}", tags=["tickets"], responses={**ERRORS, 404: {"model": ErrorOut}})
    def get_ticket(
        number: Annotated[str, Path(max_length=32, description="YYMMDD-NNNN-S, with or without dashes")],
        who: Annotated[auth.Principal, Depends(access.principal("read"))],
    ) -> dict[str, Any]:
        """One ticket: status, groups, regency, stage times, responses."""
        canonical = parse_ticket(number)
        if canonical is None:
            raise ApiError(404, "not_found", f"no ticket {number!r} (the form is YYMMDD-NNNN-S)")
        personal = who.allows("read:personal")
        with db.database.connection_context():
            ticket = views.find_ticket(canonical)
            if ticket is None:
                raise ApiError(404, "not_found", f"no ticket {canonical}")
            v = views.TicketViews(ctx.config(), personal=personal)
            answer = v.tickets([ticket])[0]
            if v.disclosed:
                with db.database.atomic():
                    v.audit(f"api:{who.name}", "get")
        return answer

    @routes.get("/api/v1/tickets", tags=["tickets"], responses=ERRORS)
    def list_tickets(
        who: Annotated[auth.Principal, Depends(access.principal("read"))],
        updated_since: Annotated[datetime | None, Query(
            description="ISO 8601; without an offset, the service's time zone. Only for the first page: "
                        "the cursor carries it on.")] = None,
        cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=sync.MAX_PAGE)] = sync.DEFAULT_PAGE,
    ) -> dict[str, Any]:
        """Incremental sync: tickets changed since the cursor, in commit order (see docs/api.md)."""
        config = ctx.config()
        if cursor is not None:
            try:
                position = sync.Cursor.decode(cursor)
            except sync.CursorError:
                raise ApiError(422, "invalid_request", "cursor: not a cursor this server returned",
                               [{"field": "cursor", "in": "query", "problem": "not a cursor this server returned"}]
                               ) from None
        else:
            since = None
            if updated_since is not None:
                stamp = updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=config.tz)
                since = stamp.timestamp()
            position = sync.Cursor(after=0, since=since)
        personal = who.allows("read:personal")
        with db.database.connection_context():
            with sync.snapshot():
                page = sync.changed_tickets(position, limit)
                v = views.TicketViews(config, personal=personal)
                items = v.tickets(views.tickets_by_ids(page.ticket_ids))
            if v.disclosed:
                with db.database.atomic():
                    v.audit(f"api:{who.name}", "sync")
        return {"tickets": items, "next_cursor": page.cursor.encode(), "has_more": page.more}

    @routes.get("/api/v1/stats", tags=["tickets"], responses=ERRORS)
    def get_stats(who: Annotated[auth.Principal, Depends(access.principal("read"))]) -> dict[str, Any]:
        """Ticket counts per status, channel, kind, and per group and status."""
        with db.database.connection_context():
            return views.stats(ctx.config())

    return routes
