"""Webhooks: the outbox logic without threads, then the whole service posting to a receiver that fails at first."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laporgub import db, webhooks
from laporgub.config import WebhookConfig, parse_config
from tests.api_helpers import ADMIN_PIC, CHANNEL, Receiver, run_cli, start_api_fixture, tickets_in_db  # noqa: F401
from tests.conftest import default_data, wait_until, write_config

SECRET = "s3cret-for-tests"
SECRET_ENV = "LAPORGUB_TEST_WEBHOOK_SECRET"
HOOK = WebhookConfig(name="web", url="http://127.0.0.1:9/x", secret_env=SECRET_ENV, dead_after_hours=1.0,
                     initial_backoff_seconds=10.0, max_backoff_seconds=60.0)


# --------------------------------------------------------------------------
# Plain functions on a SQLite file.


@pytest.fixture()
def database(tmp_path: Path) -> Iterator[Any]:
    handle = db.open_database(f"sqlite:///{tmp_path / 'w.db'}")
    handle.connect()
    yield handle
    handle.close()


def _config(hooks: tuple[WebhookConfig, ...]) -> Any:
    data = default_data()
    data["api"] = {"webhooks": [{"name": h.name, "url": h.url, "secret_env": h.secret_env} for h in hooks]}
    return parse_config(data)


def _ticket(n: int) -> db.Ticket:
    now = time.time()
    return db.Ticket.create(number=f"261128-0200-{n}", day="261128", four="0200", seq=n, text="jalan rusak",
                            sender="+6281234560200", received_at=now, registered_at=now, updated_at=now)


def test_signature_round_trip_and_refusals() -> None:
    body = b'{"id":"e1"}'
    signature = webhooks.sign(SECRET, 1764300000, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert webhooks.verify(SECRET, signature, "1764300000", body, now=1764300100)
    assert not webhooks.verify(SECRET, signature, "1764300000", body + b" ", now=1764300100)
    assert not webhooks.verify("other", signature, "1764300000", body, now=1764300100)
    assert not webhooks.verify(SECRET, signature, "1764300000", body, now=1764300000 + 301)  # stale: a replay
    assert not webhooks.verify(SECRET, signature, "soon", body)


def test_nothing_is_written_without_webhooks(database: Any) -> None:
    ticket = _ticket(1)
    assert webhooks.ticket_event(_config(()), ticket, "ticket.created") is None
    assert db.WebhookDelivery.select().count() == 0


def test_events_of_a_ticket_go_in_order_and_claims_expire(database: Any) -> None:
    other = WebhookConfig(name="mirror", url="http://127.0.0.1:9/y", secret_env=SECRET_ENV)
    config = _config((HOOK, other))
    a, b = _ticket(1), _ticket(2)
    first = webhooks.ticket_event(config, a, "ticket.created", now=100.0)
    webhooks.ticket_event(config, a, "ticket.routed", {"groups": ["channel"]}, now=101.0)
    webhooks.ticket_event(config, b, "ticket.created", now=102.0)
    assert db.WebhookDelivery.select().count() == 6
    payload = json.loads(db.WebhookDelivery.get(db.WebhookDelivery.event_id == first).payload)
    assert payload["ticket"]["reporter_phone"] == "0812****0200" and "+6281234560200" not in json.dumps(payload)

    claimed = webhooks.claim_due("one", 200.0, ["web"])
    # Only the head of each ticket's queue: a's routed waits for a's created.
    assert [(d.ticket_number, d.event) for d in claimed] == [("261128-0200-1", "ticket.created"),
                                                            ("261128-0200-2", "ticket.created")]
    assert webhooks.claim_due("two", 201.0, ["web"]) == []  # claimed rows are nobody else's
    assert webhooks.mark_delivered(claimed[0].id, "one", 200, 202.0)
    [routed] = webhooks.claim_due("two", 203.0, ["web"])
    assert routed.event == "ticket.routed"
    # "two" dies holding it: after the lease, "three" takes it over; "two" can no longer settle it.
    later = 203.0 + webhooks.LEASE_SECONDS + 1
    taken = webhooks.claim_due("three", later, ["web"])
    assert routed.id in [d.id for d in taken]
    assert not webhooks.mark_delivered(routed.id, "two", 200, later)
    assert webhooks.mark_delivered(routed.id, "three", 200, later)
    # The other endpoint has its own queue, untouched.
    assert len(webhooks.claim_due("one", later, ["mirror"])) == 2


def test_backoff_then_dead_letter_then_replay(database: Any) -> None:
    config = _config((HOOK,))
    a = _ticket(1)
    webhooks.ticket_event(config, a, "ticket.created", now=1000.0)
    webhooks.ticket_event(config, a, "ticket.routed", now=1001.0)
    now = 1000.0
    delays = []
    while True:
        [d] = webhooks.claim_due("me", now, ["web"])
        assert d.event == "ticket.created"
        status = webhooks.mark_failed(d, "me", HOOK, "HTTP 500", 500, now)
        row = db.WebhookDelivery.get_by_id(d.id)
        if status == "dead":
            break
        delays.append(row.next_attempt_at - now)
        assert webhooks.claim_due("me", row.next_attempt_at - 0.01, ["web"]) == []  # not before its time
        now = row.next_attempt_at
    assert delays[:4] == [10.0, 20.0, 40.0, 60.0] and set(delays[4:]) == {60.0}
    assert now - 1000.0 >= 3600  # dead only after dead_after_hours
    # A dead event no longer holds back the next event of its ticket.
    [routed] = webhooks.claim_due("me", now, ["web"])
    assert routed.event == "ticket.routed"
    webhooks.mark_delivered(routed.id, "me", 200, now)
    assert webhooks.counts() == {"dead": 1, "delivered": 1}

    assert webhooks.replay(since=999.0, now=now + 5) == 2
    again = webhooks.claim_due("me", now + 5, ["web"])
    assert [d.event for d in again] == ["ticket.created"]  # in order again, same event id
    assert again[0].event_id == db.WebhookDelivery.get_by_id(again[0].id).event_id
    assert webhooks.replay(since=1000.5, now=now + 6) == 0  # the routed one is pending behind it already


# --------------------------------------------------------------------------
# The whole service.


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    server = Receiver(fail_first=2).start()
    yield server
    server.stop()


def test_signed_events_arrive_in_order_despite_failures(start_api: Any, receiver: Receiver, botapi: Any,
                                                        modem: Any, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    hook = {"name": "website", "url": receiver.url, "secret_env": SECRET_ENV, "initial_backoff_seconds": 0.1,
            "max_backoff_seconds": 0.2}
    captured: dict[str, Any] = {}

    def extra(data: dict[str, Any]) -> None:
        data["api"]["webhooks"] = [hook]
        captured.update(data)

    api = start_api(extra)
    client = api.client(api.key("submit"))
    web = client.post("/api/v1/complaints", json={"text": "Jalan rusak parah di Ungaran",
                                                  "reporter": {"phone": "+6281234560200"}}).json()["ticket"]
    modem.receive_sms("+6285712345678", "Banjir setinggi lutut di Kaligawe, warga butuh perahu")
    assert wait_until(lambda: len(tickets_in_db()) == 2 and all(t.filtered_at for t in tickets_in_db()))
    sms = next(t.number for t in tickets_in_db() if t.channel == "sms")
    assert botapi.push_message(chat_id=CHANNEL, user_id=ADMIN_PIC, text=f"/tanggapi@laporgub_bot {web} Tim menuju lokasi")
    assert botapi.push_message(chat_id=CHANNEL, user_id=ADMIN_PIC, text=f"/alihkan@laporgub_bot {web} energi")
    assert botapi.push_message(chat_id=CHANNEL, user_id=ADMIN_PIC, text=f"/selesai@laporgub_bot {web} Sudah diperbaiki")

    expected = {web: ["ticket.created", "ticket.routed", "ticket.responded", "ticket.rerouted", "ticket.closed"],
                sms: ["ticket.created", "ticket.routed"]}

    def per_ticket() -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for event in receiver.events():
            result.setdefault(event["ticket"]["number"], []).append(event["type"])
        return result

    assert wait_until(lambda: per_ticket() == expected, timeout=30), per_ticket()
    # Every event failed twice (500) first, and each attempt was signed afresh with the same event id.
    assert all(n == 3 for n in receiver.attempts.values()) and len(receiver.attempts) == 7
    for record in receiver.accepted + receiver.refused:
        h = record.headers
        assert webhooks.verify(SECRET, h["x-laporgub-signature"], h["x-laporgub-timestamp"], record.body)
        assert h["x-laporgub-event-id"] == record.json["id"] and h["x-laporgub-event"] == record.json["type"]
    closed = next(e for e in receiver.events() if e["type"] == "ticket.closed")
    assert closed["ticket"]["status"] == "closed" and closed["data"]["text"] == "Sudah diperbaiki"
    assert closed["ticket"]["reporter_phone"] == "0812****0200"
    rerouted = next(e for e in receiver.events() if e["type"] == "ticket.rerouted")
    assert rerouted["data"]["to_group"] == "energi"
    metrics = api.service.metrics
    assert wait_until(lambda: metrics.value("laporgub_webhook_deliveries_total", endpoint="website",
                                            result="delivered") == 7.0, timeout=5)
    assert metrics.value("laporgub_webhook_deliveries_total", endpoint="website", result="failed") == 14.0

    # Replay from the command line while the service runs: the same events again, same ids, same order.
    path = write_config(tmp_path / "config.toml", {k: v for k, v in captured.items() if k != "api"})
    with path.open("a", encoding="utf-8") as f:
        f.write(f'\n[[api.webhooks]]\nname = "website"\nurl = "{receiver.url}"\nsecret_env = "{SECRET_ENV}"\n')
    before = {e["id"] for e in receiver.events()}
    receiver.fail_first = 0
    env = {SECRET_ENV: SECRET}
    done = run_cli("webhooks", "replay", "--config", str(path), "--since", "1h", "--endpoint", "website", env=env)
    assert done.returncode == 0 and "queued again: 7 event deliveries" in done.stdout, done.stderr
    assert wait_until(lambda: len(receiver.events()) == 14, timeout=20)
    replayed = receiver.events()[7:]
    assert {e["id"] for e in replayed} == before
    again: dict[str, list[str]] = {}
    for event in replayed:
        again.setdefault(event["ticket"]["number"], []).append(event["type"])
    assert again == expected
    assert run_cli("webhooks", "replay", "--config", str(path), "--since", "1h", "--endpoint", "nope").returncode == 2


def test_unreachable_endpoint_goes_dead_and_is_counted(start_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    down = Receiver(always_fail=True).start()
    try:
        def extra(data: dict[str, Any]) -> None:
            data["api"]["webhooks"] = [{"name": "down", "url": down.url, "secret_env": SECRET_ENV,
                                        "dead_after_hours": 0.0003, "initial_backoff_seconds": 0.1,
                                        "max_backoff_seconds": 0.2}]

        api = start_api(extra)
        api.client(api.key("submit")).post("/api/v1/complaints", json={"text": "Lampu jalan mati di Demak"})

        def dead() -> bool:
            with db.database.connection_context():
                return webhooks.counts() == {"dead": 2}

        assert wait_until(dead, timeout=20)
        assert wait_until(lambda: api.service.metrics.value(
            "laporgub_webhook_deliveries_total", endpoint="down", result="dead") == 2.0, timeout=5)
        assert len(down.refused) >= 4
    finally:
        down.stop()


def test_missing_secret_stops_the_start(make_service: Any, modem: Any, botapi: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from laporgub.exceptions import ConfigError

    monkeypatch.delenv("LAPORGUB_NO_SUCH_SECRET", raising=False)

    def tweak(data: dict[str, Any]) -> None:
        data["api"] = {"webhooks": [{"name": "w", "url": "http://127.0.0.1:9/", "secret_env": "LAPORGUB_NO_SUCH_SECRET"}]}

    with pytest.raises(ConfigError, match=r"api.webhooks\[0\].secret_env: environment variable"):
        make_service([modem], botapi, tweak=tweak)


def test_webhook_config_errors_name_the_key() -> None:
    from laporgub.exceptions import ConfigError

    data = default_data()
    data["api"] = {"webhooks": [{"name": "a b", "url": "ftp://x", "secret": "plain", "dead_after_hours": 0}]}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    problems = "\n".join(info.value.problems)
    assert "api.webhooks[0].name: use up to 64" in problems
    assert "api.webhooks[0].url: must be an http(s) URL" in problems
    assert "api.webhooks[0].secret: secrets do not belong in config.toml" in problems
    assert "api.webhooks[0]: set secret_env" in problems
    assert "api.webhooks[0].dead_after_hours: must be greater than 0" in problems
