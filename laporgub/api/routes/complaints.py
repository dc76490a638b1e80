"""``POST /api/v1/complaints``: a web complaint becomes a ticket routed like an SMS complaint.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime, and
those naming the dependencies built inside :func:`router` cannot be resolved from strings.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from laporgub.api import auth
from laporgub.api.complaints import WebComplaintData
from laporgub.api.context import Access
from laporgub.api.errors import ERRORS, ErrorOut
from laporgub.api.models import ComplaintIn, Reporter, Submission
from laporgub.masking import mask_msisdn

logger = logging.getLogger(__name__)


def router(access: Access) -> APIRouter:
    routes = APIRouter()

    @routes.post("/api/v1/complaints", status_code=201, response_model=Submission, tags=["complaints"],
                 responses={**ERRORS, 200: {"model": Submission, "description": "repeat of an Idempotency-Key"},
                            409: {"model": ErrorOut, "description": "Idempotency-Key reused with another body"}})
    def create_complaint(
        body: ComplaintIn,
        who: Annotated[auth.Principal, Depends(access.principal("submit"))],
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
            description="Makes a retried POST return the ticket of the first one (200) instead of a new one.",
        )] = None,
    ) -> JSONResponse:
        """Submit a web complaint: it becomes a ticket routed like an SMS complaint."""
        reporter = body.reporter or Reporter()
        data = WebComplaintData(text=body.text, phone=reporter.phone, name=reporter.name,
                                category_hint=body.category_hint, location=body.location)
        result = access.submit(data, who.key_id, idempotency_key)
        logger.info("event=api_complaint ticket=%s created=%s key=%s sender=%s", result.ticket_number,
                    result.created, who.name, mask_msisdn(data.phone))
        out = Submission(ticket=result.ticket_number, status="open", kind=result.kind, channel="web",
                         created=result.created)
        return JSONResponse(out.model_dump(), status_code=201 if result.created else 200,
                            headers={"Location": f"/api/v1/tickets/{result.ticket_number}"})

    return routes
