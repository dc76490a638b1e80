"""Benchmark: a flood into one group under Telegram's limits.

300 SMS a minute, all for one group (and the channel), for 3 minutes, through
the whole service (pty modem emulator, actors, SQLite) into the Bot API
stand-in with Telegram's flood limits enforced (20 messages per sliding minute
per group, 30/s overall, 429 with retry_after past them). Prints the notify
stage (categories committed -> Bot API request sent) p50/p95/p99/max per
destination, messages sent, 429s and requests sent before a retry_after
expired.

    python benchmarks/telegram_flood.py [--per-minute 300] [--minutes 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import percentile as pct  # noqa: E402
from _harness import start_service  # noqa: E402

from laporgub import db  # noqa: E402
from laporgub.logsetup import setup_logging  # noqa: E402
from laporgub.sim.botapi import BotApiServer  # noqa: E402
from laporgub.sim.modem import ModemEmulator  # noqa: E402

TOKEN = "123456:BENCHMARK"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-minute", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args()
    setup_logging("WARNING")
    count = int(args.per_minute * args.minutes)
    with tempfile.TemporaryDirectory() as tmp:
        modem = ModemEmulator(name="bench", storage_size=30).start()
        botapi = BotApiServer(token=TOKEN, enforce_limits=True).start()
        def one_group(data: dict) -> None:
            data["leaders"] = []  # one group and the channel, as the scenario
            data["report"]["enabled"] = False

        service, stop = start_service(Path(tmp), modem, botapi, tweak=one_group)
        config = service.config
        try:
            interval = 60.0 / args.per_minute
            begin = time.monotonic()
            for i in range(count):
                delay = begin + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                modem.receive_sms(f"+62813{i:07d}", f"Jalan rusak berlubang parah di Dusun Krajan RT {i % 20}, "
                                                    f"motor sering jatuh, mohon segera diperbaiki ({i})")
            fed = time.monotonic() - begin
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with db.database.connection_context():
                    pending = db.Notification.select().where(db.Notification.status != "sent").count()
                    tickets = db.Ticket.select().count()
                if tickets >= count - modem.rejected and pending == 0:
                    break
                time.sleep(0.5)
            with db.database.connection_context():
                rows = list(db.Notification.select().where(db.Notification.kind == "ticket"))
                tickets = db.Ticket.select().count()
        finally:
            stop.set()
            service.stop()
        by_dest: dict[str, list[float]] = {}
        for r in rows:
            if r.sent_at is not None:
                by_dest.setdefault(r.destination, []).append(r.sent_at - r.queued_at)
        unsent = sum(1 for r in rows if r.sent_at is None)
        messages = {}
        for m in botapi.messages:
            messages[m.chat_id] = messages.get(m.chat_id, 0) + 1
        too_many = sum(1 for r in botapi.requests if r.status == 429)
        early = botapi.early_retries
        botapi.stop()
        modem.stop()
    print(f"# Telegram flood benchmark ({platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()})")
    print(f"{count} SMS at {args.per_minute}/min for {args.minutes:g} min (fed in {fed:.0f} s), all for one group; "
          f"{tickets} tickets; Bot API stand-in enforcing 20 msg/min/group, 30/s")
    print()
    print("| destination | notifications | messages sent | notify p50 s | p95 s | p99 s | max s | SLA s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for dest, values in sorted(by_dest.items()):
        chat = config.groups[dest].chat_id if dest in config.groups else None
        worst = max(worst, pct(values, 99))
        print(f"| {dest} | {len(values)} | {messages.get(chat, 0)} | {pct(values, 50):.2f} | {pct(values, 95):.2f} | "
              f"{pct(values, 99):.2f} | {max(values):.2f} | {config.sla.notify_seconds:g} |")
    print()
    print(f"unsent notifications: {unsent}; 429 answers: {too_many}; requests before retry_after expired: {early}")
    return 0 if worst <= config.sla.notify_seconds and early == 0 and unsent == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
