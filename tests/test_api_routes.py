"""The API's published surface stays put when its code moves (routers per surface, laporgub/api/routes/).

Every operation's method, path, operation id, tags and documented statuses are pinned here: a
renamed route function (its operation id), a lost tag or a status the website's client relies on
shows up as a failing line, not as a changed ``/openapi.json`` noticed in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from laporgub.api.app import ApiContext, build_app
from laporgub.api.auth import RateLimiter
from laporgub.config import parse_config
from tests.conftest import make_config_data

ERRS = ("401", "403", "413", "422", "429")
OPERATIONS = [
    ("POST", "/api/v1/complaints", "create_complaint_api_v1_complaints_post", ("complaints",),
     ("200", "201", "409", *ERRS)),
    ("GET", "/api/v1/tickets/{number}", "get_ticket_api_v1_tickets__number__get", ("tickets",),
     ("200", "404", *ERRS)),
    ("GET", "/api/v1/tickets", "list_tickets_api_v1_tickets_get", ("tickets",), ("200", *ERRS)),
    ("GET", "/api/v1/stats", "get_stats_api_v1_stats_get", ("tickets",), ("200", *ERRS)),
    ("GET", "/open311/v2/services.json", "open311_services_open311_v2_services_json_get", ("open311",),
     ("200", "422")),
    ("GET", "/open311/v2/requests.json", "open311_list_open311_v2_requests_json_get", ("open311",), ("200", "422")),
    ("POST", "/open311/v2/requests.json", "open311_create_open311_v2_requests_json_post", ("open311",), ("201",)),
    ("GET", "/open311/v2/requests/{service_request_id}.json",
     "open311_one_open311_v2_requests__service_request_id__json_get", ("open311",), ("200", "422")),
]


def _spec(tmp_path: Path) -> dict[str, Any]:
    config = parse_config(make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot"))
    app = build_app(ApiContext(config=lambda: config, intake=lambda: None, tell=lambda *a: True,  # type: ignore[arg-type,return-value]
                               actor_names=lambda prefix: [], limiter=RateLimiter(60)))
    return app.openapi()


def test_every_operation_keeps_its_path_id_tags_and_statuses(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    found = [(method.upper(), path, op["operationId"], tuple(op.get("tags", [])), tuple(sorted(op["responses"])))
             for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert sorted(found) == sorted((m, p, i, t, tuple(sorted(s))) for m, p, i, t, s in OPERATIONS)
    # The paths in the order the routers are included (complaints, tickets, Open311), as before the split.
    assert list(spec["paths"]) == list(dict.fromkeys(p for _m, p, *_ in OPERATIONS))
    assert sorted(spec["components"]["schemas"]) == ["ComplaintIn", "ErrorBody", "ErrorOut", "HTTPValidationError",
                                                     "Reporter", "Submission", "ValidationError"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    form = spec["paths"]["/open311/v2/requests.json"]["post"]["requestBody"]["content"]
    assert form["application/x-www-form-urlencoded"]["schema"]["required"] == ["api_key", "service_code",
                                                                                "description"]
