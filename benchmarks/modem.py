"""Benchmark of the modem layer: +CMTI to committed ticket, and draining stored SMS at start-up.

Runs the real service (ModemReader, TicketRegistry, ... on a real pty) against
the package's modem emulator answering at full speed and the Bot API
stand-in, with a temporary SQLite database. Prints one table.

    python benchmarks/modem.py [--quick]

Latency is measured from the moment the emulator stores the SMS and emits
``+CMTI`` to the moment the ticket row is committed (``registered_at``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import percentile, start_service  # noqa: E402

from laporgub import db  # noqa: E402
from laporgub.logsetup import setup_logging  # noqa: E402
from laporgub.sim.botapi import BotApiServer  # noqa: E402
from laporgub.sim.modem import ModemEmulator  # noqa: E402

TEXTS = ("Jalan rusak berlubang di desa kami mohon diperbaiki", "Lampu jalan mati sudah seminggu",
         "Puskesmas tutup siang hari padahal banyak pasien", "Sampah menumpuk di pasar tidak diangkut")


def registered_at_by_sender() -> dict[str, float]:
    with db.database.connection_context():
        return {t.sender: t.registered_at for t in db.Ticket.select(db.Ticket.sender, db.Ticket.registered_at)}


def run_rate(rate: float, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        modem = ModemEmulator(name="bench", storage_size=30).start()
        botapi = BotApiServer().start()
        service, stop = start_service(Path(tmp), modem, botapi)
        try:
            sent: dict[str, float] = {}
            interval = 1.0 / rate
            begin = time.monotonic()
            for i in range(count):
                target = begin + i * interval
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sender = f"+628123{int(rate):03d}{i:04d}"
                sent[sender] = time.time()
                modem.receive_sms(sender, f"{TEXTS[i % len(TEXTS)]} nomor {i}")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = registered_at_by_sender()
                if len(done) >= count - modem.rejected and not modem.stored:
                    break
                time.sleep(0.05)
            done = registered_at_by_sender()
            latencies = [done[s] - t for s, t in sent.items() if s in done]
            return {
                "rate": rate, "count": count, "registered": len(done), "rejected": modem.rejected,
                "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies or [0]),
            }
        finally:
            stop.set()
            service.stop()
            botapi.stop()
            modem.stop()


def run_drain(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        modem = ModemEmulator(name="bench", storage_size=count).start()
        botapi = BotApiServer().start()
        for i in range(count):
            modem.receive_sms(f"+628124{i:06d}", f"{TEXTS[i % len(TEXTS)]} nomor {i}")
        started = time.monotonic()
        service, stop = start_service(Path(tmp), modem, botapi)
        try:
            ready = time.monotonic() - started
            while len(registered_at_by_sender()) < count or modem.stored:
                time.sleep(0.02)
                if time.monotonic() - started > 120:
                    break
            return {"count": count, "ready_s": ready, "drained_s": time.monotonic() - started,
                    "registered": len(registered_at_by_sender())}
        finally:
            stop.set()
            service.stop()
            botapi.stop()
            modem.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer SMS per rate")
    args = parser.parse_args()
    setup_logging("WARNING")
    scale = 0.3 if args.quick else 1.0
    rows = [run_rate(rate, max(5, int(n * scale))) for rate, n in ((1, 20), (10, 100), (50, 250))]
    drain = run_drain(100)
    print(f"# modem layer benchmark ({platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()})")
    print("emulator at full speed, 30 storage slots, SQLite WAL synchronous=FULL")
    print()
    print("| rate SMS/s | SMS sent | registered | refused (SIM full) | +CMTI->ticket p50 ms | p99 ms | max ms | SLA |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['rate']:g} | {r['count']} | {r['registered']} | {r['rejected']} | {r['p50'] * 1000:.1f} | "
              f"{r['p99'] * 1000:.1f} | {r['max'] * 1000:.1f} | 9000 |")
    print()
    print("| stored at start-up | time to ready s | time to all registered and storage empty s | per SMS ms |")
    print("|---:|---:|---:|---:|")
    print(f"| {drain['count']} | {drain['ready_s']:.2f} | {drain['drained_s']:.2f} | "
          f"{(drain['drained_s'] - drain['ready_s']) / max(1, drain['count']) * 1000:.1f} |")
    if statistics.fmean([r["p99"] for r in rows]) > 9:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
