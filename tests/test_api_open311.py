"""Open311 GeoReport v2 over real HTTP: public reads without personal data, form submits with api_key."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.api_helpers import ADMIN_PIC, CHANNEL, start_api_fixture, tickets_in_db  # noqa: F401
from tests.conftest import wait_until

REQUEST_KEYS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
                "address", "address_id", "zipcode", "lat", "long", "media_url"}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


def test_open311_services_requests_and_submit(start_api: Any, modem: Any, botapi: Any) -> None:
    api = start_api()
    public = api.client()
    services = public.get("/open311/v2/services.json")
    assert services.status_code == 200 and isinstance(services.json(), list)
    codes = [s["service_code"] for s in services.json()]
    assert codes == [k for k in api.service.config.groups if k != "channel"]
    for service in services.json():
        assert {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"} <= set(service)
        assert service["metadata"] is False and service["type"] == "realtime"

    modem.receive_sms("+6281234560200", "Jalan rusak parah di Ungaran, hubungi saya di 081234560200 ya")
    key = api.key("submit")
    form = public.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "darurat", "description": "Banjir setinggi dada di Kaligawe Semarang",
        "first_name": "Siti", "last_name": "Aminah", "phone": "085712345678", "lat": "-6.96", "long": "110.44"})
    assert form.status_code == 201, form.text
    [created] = form.json()
    web_number = created["service_request_id"]
    assert re.fullmatch(r"\d{6}-5678-1", web_number) and web_number in created["service_notice"]
    assert wait_until(lambda: len(tickets_in_db()) == 2 and all(t.filtered_at for t in tickets_in_db()))
    sms_number = next(t.number for t in tickets_in_db() if t.channel == "sms")

    listing = public.get("/open311/v2/requests.json")
    assert listing.status_code == 200
    requests = {r["service_request_id"]: r for r in listing.json()}
    assert set(requests) == {sms_number, web_number}
    for r in requests.values():
        assert set(r) == REQUEST_KEYS
        assert r["status"] == "open" and ISO.fullmatch(r["requested_datetime"]) and ISO.fullmatch(r["updated_datetime"])
    # Never personal data: no number (not even masked), no name; numbers typed in the text are masked.
    raw = listing.text
    assert "hubungi saya di 0812****0200" in requests[sms_number]["description"]
    for personal in ("81234560200", "85712345678", "0857****5678", "Siti", "Aminah"):
        assert personal not in raw
    assert requests[sms_number]["service_code"] == "infrastruktur"
    assert requests[web_number]["service_code"] == "darurat"
    assert requests[web_number]["address"] == "-6.960000,110.440000"
    assert public.get("/open311/v2/requests.json", params={"service_code": "darurat"}).json()[0][
        "service_request_id"] == web_number
    assert public.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []

    # A PIC answers and closes: status_notes is the last response, the agency the PIC's.
    assert botapi.push_message(chat_id=CHANNEL, user_id=ADMIN_PIC, text=f"/tanggapi@laporgub_bot {sms_number} Tim sedang menuju lokasi")
    assert botapi.push_message(chat_id=CHANNEL, user_id=ADMIN_PIC, text=f"/selesai@laporgub_bot {sms_number} Jalan sudah ditambal")

    def closed() -> bool:
        return public.get(f"/open311/v2/requests/{sms_number}.json").json()[0]["status"] == "closed"

    assert wait_until(closed, timeout=20)
    [one] = public.get(f"/open311/v2/requests/{sms_number}.json").json()
    assert one["status_notes"] == "Jalan sudah ditambal"
    assert one["agency_responsible"] == "Diskominfo Provinsi Jawa Tengah"
    assert public.get("/open311/v2/requests.json", params={"service_request_id": f"{web_number},{sms_number}",
                                                           "status": "closed"}).json()[0]["service_request_id"] \
        == sms_number


def test_open311_errors_use_its_format(start_api: Any) -> None:
    api = start_api()
    public = api.client()

    def errors(answer: Any, status: int) -> list[dict[str, Any]]:
        assert answer.status_code == status, answer.text
        body = answer.json()
        assert isinstance(body, list) and body and all(set(e) == {"code", "description"} for e in body)
        assert all(e["code"] == status for e in body)
        return body

    missing = errors(public.get("/open311/v2/requests/261128-0200-1.json"), 404)
    assert "261128-0200-1" in missing[0]["description"]
    errors(public.get("/open311/v2/requests.json", params={"status": "pending"}), 400)
    errors(public.get("/open311/v2/requests.json", params={"start_date": "kemarin"}), 400)
    key = api.key("submit")
    bad = errors(public.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "sungai"}), 400)
    text = json.dumps(bad)
    assert "description: required" in text and "service_code: unknown service_code" in text
    errors(public.post("/open311/v2/requests.json", data={"service_code": "darurat", "description": "banjir"}), 400)
    errors(public.post("/open311/v2/requests.json", data={"api_key": "lg_wrong", "service_code": "darurat",
                                                          "description": "banjir"}), 401)
    reader = api.key("read")
    errors(public.post("/open311/v2/requests.json", data={"api_key": reader, "service_code": "darurat",
                                                          "description": "banjir"}), 403)
    errors(public.post("/open311/v2/requests.json", json={"api_key": key}), 415)
    bad_phone = errors(public.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "darurat", "description": "banjir", "phone": "halo", "lat": "999"}), 400)
    assert {e["description"].split(":")[0] for e in bad_phone} == {"phone", "lat"}
    assert tickets_in_db() == []
