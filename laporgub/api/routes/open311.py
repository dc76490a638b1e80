"""Open311 GeoReport v2 under ``/open311/v2``: public reading (no personal data), ``api_key`` to submit.

Answers and errors are GeoReport's own (an array; validation problems are 400, see
laporgub/api/errors.py); the service list and the requests' shape are in laporgub/api/views.py.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime.
"""

import math
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from laporgub import db
from laporgub.api import views
from laporgub.api.complaints import WebComplaintData
from laporgub.api.context import Access
from laporgub.api.errors import ApiError
from laporgub.api.models import clean_text, parse_phone
from laporgub.render import wording
from laporgub.tickets import parse_ticket


def router(access: Access) -> APIRouter:
    routes = APIRouter()
    ctx = access.ctx

    @routes.get("/open311/v2/services.json", tags=["open311"])
    def open311_services(jurisdiction_id: Annotated[str | None, Query(max_length=100)] = None
                         ) -> list[dict[str, Any]]:
        """Service list: one service per category group."""
        return views.services(ctx.config())

    @routes.get("/open311/v2/requests.json", tags=["open311"])
    def open311_list(
        service_request_id: Annotated[str | None, Query(max_length=2000, description="comma-separated")] = None,
        service_code: Annotated[str | None, Query(max_length=64)] = None,
        start_date: Annotated[datetime | None, Query()] = None,
        end_date: Annotated[datetime | None, Query()] = None,
        status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
        jurisdiction_id: Annotated[str | None, Query(max_length=100)] = None,
        page: Annotated[int, Query(ge=1, le=100000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Service requests (tickets), newest first; no personal data."""
        config = ctx.config()
        ids = None
        if service_request_id is not None:
            ids = [parse_ticket(x) or x.strip() for x in service_request_id.split(",") if x.strip()]
        stamp = [None if d is None else (d if d.tzinfo else d.replace(tzinfo=config.tz)).timestamp()
                 for d in (start_date, end_date)]
        with db.database.connection_context():
            rows = views.open311_query(ids=ids, service_code=service_code, status=status, start=stamp[0],
                                       end=stamp[1], limit=page_size, offset=(page - 1) * page_size)
            return views.open311_requests(config, rows)

    @routes.get("/open311/v2/requests/{service_request_id}.json", tags=["open311"])
    def open311_one(
        service_request_id: Annotated[str, Path(max_length=32)],
        jurisdiction_id: Annotated[str | None, Query(max_length=100)] = None,
    ) -> list[dict[str, Any]]:
        """One service request (an array of one, as GeoReport v2 answers)."""
        number = parse_ticket(service_request_id)
        with db.database.connection_context():
            ticket = views.find_ticket(number) if number else None
            if ticket is None or ticket.kind not in views.OPEN311_KINDS:
                raise ApiError(404, "not_found", f"no service request {service_request_id!r}")
            return views.open311_requests(ctx.config(), [ticket])

    form_fields: dict[str, dict[str, Any]] = {
        "api_key": {"type": "string", "maxLength": 200},
        "service_code": {"type": "string", "maxLength": 64},
        "description": {"type": "string", "maxLength": 5000},
        "address_string": {"type": "string", "maxLength": 500},
        "lat": {"type": "number"},
        "long": {"type": "number"},
        "first_name": {"type": "string", "maxLength": 64},
        "last_name": {"type": "string", "maxLength": 64},
        "phone": {"type": "string", "maxLength": 32},
        "email": {"type": "string", "maxLength": 254},
        "jurisdiction_id": {"type": "string", "maxLength": 100},
    }

    @routes.post("/open311/v2/requests.json", tags=["open311"], status_code=201, openapi_extra={
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["api_key", "service_code", "description"], "properties": form_fields}}}},
    })
    async def open311_create(request: Request) -> JSONResponse:
        """Create a service request (form-encoded, ``api_key`` with the ``submit`` scope)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise ApiError(415, "unsupported_media_type", "send application/x-www-form-urlencoded")
        raw = await request.body()
        try:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                                  max_num_fields=50))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "bad_request", "the form is not valid UTF-8 application/x-www-form-urlencoded") \
                from None
        return await run_in_threadpool(_open311_create, form)

    def _open311_create(form: dict[str, str]) -> JSONResponse:
        config = ctx.config()
        problems: list[dict[str, str]] = []

        def text(name: str, required: bool = False) -> str | None:
            value = form.get(name)
            limit = form_fields[name].get("maxLength", 500)
            try:
                value = clean_text(value) if value is not None else None
            except ValueError as exc:
                problems.append({"field": name, "in": "body", "problem": str(exc)})
                return None
            if value is None and required:
                problems.append({"field": name, "in": "body", "problem": "required"})
            elif value is not None and len(value) > int(limit):
                problems.append({"field": name, "in": "body", "problem": f"at most {limit} characters"})
                return None
            return value

        key = text("api_key", required=True)
        code = text("service_code", required=True)
        description = text("description", required=True)
        address = text("address_string")
        names = [n for n in (text("first_name"), text("last_name")) if n]
        phone_raw = text("phone")
        text("email")
        text("jurisdiction_id")
        coords = []
        for name in ("lat", "long"):
            if form.get(name):
                try:
                    value = float(form[name])
                    if not math.isfinite(value) or abs(value) > (90 if name == "lat" else 180):
                        raise ValueError
                    coords.append(value)
                except ValueError:
                    problems.append({"field": name, "in": "body", "problem": "must be a number in degrees"})
        phone = None
        if phone_raw is not None:
            try:
                phone = parse_phone(phone_raw)
            except ValueError as exc:
                problems.append({"field": "phone", "in": "body", "problem": str(exc)})
        if code is not None and (code not in config.groups or code == "channel"):
            problems.append({"field": "service_code", "in": "body",
                             "problem": "unknown service_code (see services.json)"})
        if key is None:
            raise ApiError(400, "bad_request", "invalid request", problems)
        who = access.authorise(key, "submit")  # 401/403/429 first: nothing more is said to a stranger
        if problems:
            raise ApiError(400, "bad_request", "invalid request", problems)
        assert description is not None and code is not None
        location = address or (f"{coords[0]:.6f},{coords[1]:.6f}" if len(coords) == 2 else None)
        data = WebComplaintData(text=description, phone=phone, name=" ".join(names) or None,
                                category_hint=config.group_name(code), location=location)
        result = access.submit(data, who.key_id, None)
        return JSONResponse([{"service_request_id": result.ticket_number, "service_notice":
                              wording("api.received", ticket=result.ticket_number), "account_id": None}],
                            status_code=201)

    return routes
