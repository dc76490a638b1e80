"""The website API over real HTTP against a running service (pty modem, Bot API stand-in, SQLite file)."""

from __future__ import annotations

import re
import socket
import threading
from typing import Any

import httpx
import pytest

from laporgub import db
from laporgub.exceptions import ApiServerError
from tests.api_helpers import CHANNEL, start_api_fixture, tickets_in_db  # noqa: F401
from tests.conftest import wait_until

ROAD = "Jalan rusak parah di Ungaran, lubang besar belum diperbaiki"


def test_web_complaint_goes_through_the_sms_pipeline(start_api: Any, botapi: Any, modem: Any) -> None:
    api = start_api()
    submit = api.client(api.key("submit"))
    answer = submit.post("/api/v1/complaints", json={
        "text": ROAD, "reporter": {"name": "Budi Santoso", "phone": "0812-3456-0200"},
        "category_hint": "jalan", "location": "Jl. Diponegoro 12, Ungaran"})
    assert answer.status_code == 201, answer.text
    number = answer.json()["ticket"]
    assert re.fullmatch(r"\d{6}-0200-1", number)
    assert answer.headers["location"] == f"/api/v1/tickets/{number}"
    anonymous = submit.post("/api/v1/complaints", json={"text": "Lampu jalan mati di depan pasar Bandungan"})
    assert anonymous.status_code == 201
    assert re.fullmatch(r"\d{6}-0000-1", anonymous.json()["ticket"])

    infra = api.service.config.groups["infrastruktur"].chat_id
    # Routed by the keyword filter and dispatched like an SMS complaint, number masked in Telegram.
    assert botapi.wait_for(lambda msgs: any(number in m.plain_text and m.chat_id == infra for m in msgs), timeout=20)
    assert botapi.wait_for(lambda msgs: any(number in m.plain_text and m.chat_id == CHANNEL for m in msgs))
    telegram = "\n".join(m.plain_text for m in botapi.messages)
    assert "0812****0200" in telegram and "81234560200" not in telegram
    assert "Lokasi: Jl. Diponegoro 12, Ungaran" in telegram
    # The reporter with a number gets the acknowledgement SMS, as an SMS complainant would.
    assert modem.wait_for(lambda m: any(number in text for _dest, text in m.sent_messages), timeout=20)
    assert [dest for dest, text in modem.sent_messages if number in text] == ["+6281234560200"]
    rows = {t.number: t for t in tickets_in_db()}
    assert rows[number].channel == "web" and rows[number].sender == "+6281234560200"
    assert rows[anonymous.json()["ticket"]].sender is None

    reader = api.client(api.key("read"))
    assert wait_until(lambda: reader.get(f"/api/v1/tickets/{number}").json()["times"]["notified_at"] is not None)
    ticket = reader.get(f"/api/v1/tickets/{number.replace('-', '')}").json()
    assert ticket["ticket"] == number and ticket["status"] == "open" and ticket["channel"] == "web"
    assert "infrastruktur" in ticket["groups"] and ticket["regency"] == "Kabupaten Semarang"
    assert ticket["reporter"] == {"phone": "0812****0200", "name": None}
    assert ticket["web"] == {"category_hint": "jalan", "location": "Jl. Diponegoro 12, Ungaran"}
    assert ticket["stages"]["filter_seconds"] is not None and ticket["responses"] == []

    # read:personal shows the number and name in clear, and each such read is audit-logged.
    personal = api.client(api.key("read:personal", name="helpdesk"))
    clear = personal.get(f"/api/v1/tickets/{number}").json()
    assert clear["reporter"] == {"phone": "+6281234560200", "name": "Budi Santoso"}
    with db.database.connection_context():
        audit = list(db.AuditLog.select().where(db.AuditLog.action == "read:personal"))
    assert [(a.actor, a.subject) for a in audit] == [("api:helpdesk", "0812****0200")]
    assert number in audit[0].detail

    stats = reader.get("/api/v1/stats").json()
    assert stats["total"] == 2 and stats["by_channel"]["web"] == 2
    assert stats["by_group"]["infrastruktur"]["open"] >= 1 and stats["by_group"]["channel"]["total"] == 2


def test_idempotency_key_makes_one_ticket(start_api: Any) -> None:
    api = start_api()
    client = api.client(api.key("submit"))
    body = {"text": "Banjir setinggi lutut di Kaligawe, warga butuh bantuan", "reporter": {"phone": "+6285712345678"}}
    first = client.post("/api/v1/complaints", json=body, headers={"Idempotency-Key": "form-17"})
    again = client.post("/api/v1/complaints", json=body, headers={"Idempotency-Key": "form-17"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["ticket"] == again.json()["ticket"] and again.json()["created"] is False
    other = client.post("/api/v1/complaints", json={**body, "text": "lain"}, headers={"Idempotency-Key": "form-17"})
    assert other.status_code == 409 and other.json()["error"]["details"][0]["field"] == "Idempotency-Key"

    # Retries racing each other still make one ticket.
    results: list[httpx.Response] = []

    def post() -> None:
        with httpx.Client(base_url=api.base_url, headers=client.headers) as c:
            results.append(c.post("/api/v1/complaints", json=body, headers={"Idempotency-Key": "race-1"}))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200] * 5 + [201]
    assert len({r.json()["ticket"] for r in results}) == 1
    assert len(tickets_in_db()) == 2
    with db.database.connection_context():
        assert db.IdempotencyKey.select().count() == 2


def test_authentication_and_scopes(start_api: Any) -> None:
    api = start_api()
    anonymous = api.client()
    for method, path in (("POST", "/api/v1/complaints"), ("GET", "/api/v1/tickets"), ("GET", "/api/v1/stats"),
                         ("GET", "/api/v1/tickets/261128-0200-1")):
        answer = anonymous.request(method, path, json={"text": "x"} if method == "POST" else None)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["error"]["code"] == "unauthorized"
    wrong = api.client("lg_" + "A" * 43)
    assert wrong.get("/api/v1/stats").status_code == 401
    assert api.client("not-even-a-key").get("/api/v1/stats").status_code == 401

    read_only = api.client(api.key("read"))
    refused = read_only.post("/api/v1/complaints", json={"text": "jalan rusak"})
    assert refused.status_code == 403 and "submit" in refused.json()["error"]["message"]
    submit_only = api.client(api.key("submit", name="form"))
    assert submit_only.get("/api/v1/stats").status_code == 403
    admin = api.client(api.key("admin"))
    assert admin.get("/api/v1/stats").status_code == 200

    key = api.key("read", name="old-site")
    client = api.client(key)
    assert client.get("/api/v1/stats").status_code == 200
    from laporgub.api import auth

    with db.database.connection_context():
        (old,) = auth.keys_named("old-site")
        assert auth.revoke(str(old.id)) is not None
    assert client.get("/api/v1/stats").status_code == 401
    with db.database.connection_context():
        stored = [k.key_hash for k in db.ApiKey.select()]
    assert key not in stored and auth.hash_key(key) in stored  # only the hash is kept


def test_bad_input_gets_precise_4xx(start_api: Any) -> None:
    api = start_api(rate_limit_per_minute=30, max_body_bytes=4096)
    client = api.client(api.key("submit", "read"))

    def error(answer: httpx.Response, status: int) -> dict[str, Any]:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert "Traceback" not in answer.text
        return answer.json()["error"]

    e = error(client.post("/api/v1/complaints", json={"reporter": {"phone": "12ab"}, "extra": 1}), 422)
    problems = {d["field"]: d["problem"] for d in e["details"]}
    assert problems["text"] == "required" and problems["extra"] == "unknown field"
    assert "phone number" in problems["reporter.phone"]
    e = error(client.post("/api/v1/complaints", json={"text": "   "}), 422)
    assert e["details"] == [{"field": "text", "in": "body", "problem": "must not be blank"}]
    e = error(client.post("/api/v1/complaints", json={"text": 5}), 422)
    assert e["details"][0]["field"] == "text"
    e = error(client.post("/api/v1/complaints", json={"text": "ada \x00 di sini"}), 422)
    assert "NUL" in e["details"][0]["problem"]
    e = error(client.post("/api/v1/complaints", content=b'{"text": ', headers={"content-type": "application/json"}),
              422)
    assert e["details"][0]["field"] == "body" and "invalid JSON" in e["details"][0]["problem"]
    e = error(client.post("/api/v1/complaints", json={"text": "x"}, headers={"Idempotency-Key": "spasi tidak"}), 422)
    assert e["details"][0]["field"] == "Idempotency-Key"
    e = error(client.get("/api/v1/tickets", params={"limit": 0}), 422)
    assert e["details"][0]["field"] == "limit"
    e = error(client.get("/api/v1/tickets", params={"cursor": "bm9wZQ"}), 422)
    assert e["details"][0]["field"] == "cursor"
    e = error(client.get("/api/v1/tickets", params={"updated_since": "kemarin"}), 422)
    assert e["details"][0]["field"] == "updated_since"
    error(client.post("/api/v1/complaints", json={"text": "x" * 5000}), 413)
    # A body without Content-Length (chunked) is cut off while it is read.
    e = error(client.post("/api/v1/complaints", content=iter([b'{"text": "', b"y" * 5000, b'"}']),
                          headers={"content-type": "application/json"}), 413)
    assert e["code"] == "body_too_large"
    e = error(client.get("/api/v1/tickets/261128-0200-9"), 404)
    assert "261128-0200-9" in e["message"]
    error(client.get("/api/v1/tickets/bukan-tiket"), 404)
    error(client.get("/api/v1/nothing-here"), 404)
    error(client.delete("/api/v1/complaints"), 405)

    # Rate limit per key: another key still gets through.
    burst = api.client(api.key("read", name="burst"))
    answers = [burst.get("/api/v1/stats") for _ in range(31)]
    assert [a.status_code for a in answers[:30]] == [200] * 30
    limited = answers[30]
    e = error(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert client.get("/api/v1/stats").status_code == 200


def test_unexpected_error_is_500_without_detail(start_api: Any, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from laporgub.api import views

    api = start_api()
    client = api.client(api.key("read"))

    def broken(config: Any) -> Any:
        raise RuntimeError("secret internal detail /var/lib/laporgub")

    monkeypatch.setattr(views, "stats", broken)
    answer = client.get("/api/v1/stats")
    assert answer.status_code == 500
    assert answer.json() == {"error": {"status": 500, "code": "internal_error",
                                       "message": "internal error; it has been logged"}}
    assert "secret" not in answer.text and "Traceback" not in answer.text
    assert any("event=api_error" in r.getMessage() and r.exc_info for r in caplog.records)
    assert wait_until(lambda: api.service.metrics.value(
        "laporgub_api_requests_total", route="/api/v1/stats", code="500") == 1.0, timeout=5)


def test_ready_only_while_the_api_listens(start_api: Any, make_service: Any, modem: Any, botapi: Any) -> None:
    api = start_api()
    service = api.service
    assert service.metrics.value("laporgub_ready") == 1.0
    with socket.create_connection(("127.0.0.1", service.api_status.port), timeout=2):
        pass
    service.api_status.listening.clear()  # as while its actor restarts
    service._update_ready()
    assert service.metrics.value("laporgub_ready") == 0.0
    service.api_status.listening.set()
    service._update_ready()
    assert service.metrics.value("laporgub_ready") == 1.0

    # The API actor dies: the supervisor restarts it on the same port.
    port = service.api_status.port
    old = service.directory.get("api")
    old.stop()

    def restarted() -> bool:
        ref = service.directory.get("api")
        return ref is not None and ref is not old and ref.is_alive() and service.api_status.listening.is_set()

    assert wait_until(restarted, timeout=60, observe=lambda: (service.directory.get("api"),
                                                              service.api_status.listening.is_set()))
    assert service.api_status.port == port
    assert httpx.get(f"{api.base_url}/open311/v2/services.json").status_code == 200


def test_port_in_use_fails_the_start(make_service: Any, modem: Any, botapi: Any) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        def tweak(data: dict[str, Any]) -> None:
            data["api"] = {"listen": f"127.0.0.1:{port}"}

        with pytest.raises(ApiServerError, match="api.listen: cannot listen on 127.0.0.1:"):
            make_service([modem], botapi, tweak=tweak)
    finally:
        taken.close()


def test_openapi_document_and_docs(start_api: Any) -> None:
    api = start_api()
    client = api.client()
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/complaints", "/api/v1/tickets", "/api/v1/tickets/{number}", "/api/v1/stats",
            "/open311/v2/services.json", "/open311/v2/requests.json",
            "/open311/v2/requests/{service_request_id}.json"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "swagger-ui" in client.get("/docs").text
