"""Website API throughput: complaints/s accepted by POST /api/v1/complaints, tickets/s served by the sync endpoint.

The whole service runs in-process on the emulators (pty modem, Bot API
stand-in, SQLite WAL file), with the API on a free local port; clients are
httpx with keep-alive, in threads. Every accepted complaint is a real ticket:
committed with its idempotency key, then routed and notified by the pipeline
while the benchmark goes on. The sync part pages through every ticket
(those created here plus bulk-inserted ones) with ``limit`` 100 and 500.

    python benchmarks/api.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import percentile, start_service  # noqa: E402
from laporgub import db  # noqa: E402
from laporgub.api import auth  # noqa: E402
from laporgub.logsetup import setup_logging  # noqa: E402
from laporgub.sim.botapi import BotApiServer  # noqa: E402
from laporgub.sim.modem import ModemEmulator  # noqa: E402

TEXTS = [
    "Jalan rusak parah di Ungaran, banyak lubang besar",
    "Lampu jalan mati sepanjang jalan raya Boyolali",
    "Banjir setinggi lutut di Kaligawe Semarang",
    "Pupuk subsidi langka di Desa Ngembak Grobogan",
    "Antrian BPJS di puskesmas Kendal sangat lama",
]


def submit_load(base: str, key: str, clients: int, per_client: int, round_id: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def work(n: int) -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            for i in range(per_client):
                body = {"text": f"{TEXTS[i % len(TEXTS)]} nomor {n}-{i}",
                        "reporter": {"phone": f"+6281{round_id}{n:03d}{i:05d}"}}
                began = time.perf_counter()
                answer = client.post("/api/v1/complaints", json=body,
                                     headers={"Idempotency-Key": f"b-{round_id}-{n}-{i}"})
                mine.append(time.perf_counter() - began)
                bad += answer.status_code != 201
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return {"clients": clients, "count": len(latencies), "errors": errors, "rate": len(latencies) / elapsed,
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def bulk_tickets(count: int) -> None:
    """Tickets straight into the database (routed already), to give the sync something to page through."""
    now = time.time()
    day = time.strftime("%y%m%d")
    rows = [{"number": f"{day}-9{i // 10000:03d}-{i % 10000 + 1}", "day": day, "four": f"9{i // 10000:03d}",
             "seq": i % 10000 + 1, "sender": f"+6285{i:09d}", "channel": "sms", "kind": "complaint",
             "text": f"{TEXTS[i % len(TEXTS)]} (arsip {i})", "regency": "Kota Semarang", "received_at": now - 86400,
             "registered_at": now - 86400, "filtered_at": now - 86400, "notified_at": now - 86400,
             "updated_at": now - 86400} for i in range(count)]
    with db.database.connection_context():
        for start in range(0, count, 500):
            with db.database.atomic():
                db.Ticket.insert_many(rows[start:start + 500]).execute()


def sync_load(base: str, key: str, limit: int, rounds: int) -> dict[str, Any]:
    latencies: list[float] = []
    served = 0
    began = time.perf_counter()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for _ in range(rounds):
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": limit}
                if cursor:
                    params["cursor"] = cursor
                t0 = time.perf_counter()
                page = client.get("/api/v1/tickets", params=params).json()
                latencies.append(time.perf_counter() - t0)
                served += len(page["tickets"])
                cursor = page["next_cursor"]
                if not page["has_more"]:
                    break
    elapsed = time.perf_counter() - began
    return {"limit": limit, "pages": len(latencies), "tickets": served, "rate": served / elapsed,
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args()
    setup_logging("WARNING")
    scale = 0.3 if args.quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        modem = ModemEmulator(name="bench").start()
        botapi = BotApiServer().start()

        def tweak(data: dict[str, Any]) -> None:
            data["api"] = {"listen": "127.0.0.1:0", "rate_limit_per_minute": 1_000_000}

        service, stop = start_service(Path(tmp), modem, botapi, tweak=tweak)
        try:
            base = service.api_status.base_url
            with db.database.connection_context():
                _info, key = auth.create_key("bench", ["submit", "read"])
            submits = [submit_load(base, key, clients, max(5, int(n * scale)), round_id)
                       for round_id, (clients, n) in enumerate(((1, 300), (4, 150), (16, 40)), 1)]
            bulk_tickets(int(5000 * scale))
            syncs = [sync_load(base, key, limit, 2) for limit in (100, 500)]
        finally:
            stop.set()
            service.stop()
            botapi.stop()
            modem.stop()
    print(f"# website API benchmark ({platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()})")
    print("uvicorn in the ApiServer actor, SQLite WAL synchronous=FULL, httpx keep-alive clients; the pipeline")
    print("routes and notifies every accepted complaint meanwhile")
    print()
    print("| POST /api/v1/complaints | clients | accepted | errors | complaints/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in submits:
        print(f"| with Idempotency-Key | {r['clients']} | {r['count']} | {r['errors']} | {r['rate']:.0f} | "
              f"{r['p50'] * 1000:.1f} | {r['p99'] * 1000:.1f} |")
    print()
    print("| GET /api/v1/tickets (sync) | limit | pages | tickets served | tickets/s | p50 ms/page | p99 ms/page |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in syncs:
        print(f"| full pass x2 | {r['limit']} | {r['pages']} | {r['tickets']} | {r['rate']:.0f} | "
              f"{r['p50'] * 1000:.1f} | {r['p99'] * 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
