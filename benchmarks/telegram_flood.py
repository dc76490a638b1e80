"""Benchmark: a flood into one group under Telegram's limits.

300 SMS a minute, all for one group (and the channel), for 3 minutes, through
the whole service (pty modem emulator, actors, SQLite) into the Bot API
stand-in with Telegram's flood limits enforced (20 messages per sliding minute
per group, 30/s overall, 429 with retry_after past them). Prints the notify
stage (categories committed -> Bot API request sent) p50/p95/p99/max per
destination, messages sent (and edits), 429s and requests sent before a
retry_after expired.

``--scenario events``: the same rate, but the SMS are citizens' reports of the
labelled events of tests/data/incident_bursts*.jsonl (floods, fires,
landslides, outages in several regencies) and the complaints standing alone
there, cycled with small changes, each from its own number. ``--incidents
off`` routes every complaint on its own (as before issue 18), ``on`` links
reports of one event into an incident (docs/incidents.md).

    python benchmarks/telegram_flood.py [--per-minute 300] [--minutes 3] [--scenario one-group|events]
                                        [--incidents on|off]
"""

from __future__ import annotations

import argparse
import json
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
ROOT = Path(__file__).resolve().parent.parent
#: Small changes that make a cycled report a new SMS (citizens say the same thing in other words).
OPENINGS = ("", "Pak, ", "Lapor, ", "Mohon bantuan, ", "Tolong pak gub, ", "Assalamualaikum, ")
CLOSINGS = ("", " mohon segera", " terima kasih", " tolong ditindaklanjuti", " sudah dari tadi")


def event_texts() -> list[str]:
    """The labelled bursts' SMS in order of arrival, events and standalone complaints alike."""
    texts = []
    for name in ("incident_bursts", "incident_bursts_holdout", "incident_bursts_fresh"):
        path = ROOT / "tests" / "data" / f"{name}.jsonl"
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts += [line["text"] for line in sorted(lines, key=lambda line: line["minute"])]
    return texts


def sms_text(scenario: str, i: int, events: list[str]) -> str:
    if scenario == "events":
        base = events[i % len(events)]
        return f"{OPENINGS[(i // len(events)) % len(OPENINGS)]}{base}{CLOSINGS[(i // 7) % len(CLOSINGS)]}"
    return f"Jalan rusak berlubang parah di Dusun Krajan RT {i % 20}, motor sering jatuh, mohon segera diperbaiki ({i})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-minute", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--scenario", choices=("one-group", "events"), default="one-group")
    parser.add_argument("--incidents", choices=("on", "off"), default="on")
    args = parser.parse_args()
    events = event_texts()
    setup_logging("WARNING")
    count = int(args.per_minute * args.minutes)
    with tempfile.TemporaryDirectory() as tmp:
        modem = ModemEmulator(name="bench", storage_size=30).start()
        botapi = BotApiServer(token=TOKEN, enforce_limits=True).start()
        def one_group(data: dict) -> None:
            if args.scenario == "one-group":
                data["leaders"] = []  # one group and the channel, as the scenario
            data["report"]["enabled"] = False
            data.setdefault("incidents", {})["enabled"] = args.incidents == "on"

        service, stop = start_service(Path(tmp), modem, botapi, tweak=one_group)
        config = service.config
        try:
            interval = 60.0 / args.per_minute
            begin = time.monotonic()
            for i in range(count):
                delay = begin + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                modem.receive_sms(f"+62813{i:07d}", sms_text(args.scenario, i, events))
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
                rows = list(db.Notification.select().where(db.Notification.kind.in_(["ticket", "incident",
                                                                                      "threshold"])))
                tickets = db.Ticket.select().count()
                linked = db.Ticket.select().where(db.Ticket.incident.is_null(False)).count()
                incidents_formed = db.Incident.select().count()
        finally:
            stop.set()
            service.stop()
        by_dest: dict[str, list[float]] = {}
        for r in rows:
            if r.sent_at is not None:
                by_dest.setdefault(r.destination, []).append(r.sent_at - r.queued_at)
        unsent = sum(1 for r in rows if r.sent_at is None)
        messages: dict[int | str, int] = {}
        edits: dict[int | str, int] = {}
        for m in botapi.messages:
            target = edits if m.method == "editMessageText" else messages
            target[m.chat_id] = target.get(m.chat_id, 0) + 1
        too_many = sum(1 for r in botapi.requests if r.status == 429)
        early = botapi.early_retries
        botapi.stop()
        modem.stop()
    print(f"# Telegram flood benchmark ({platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()})")
    what = "all for one group" if args.scenario == "one-group" else "reports of the labelled events"
    print(f"{count} SMS at {args.per_minute}/min for {args.minutes:g} min (fed in {fed:.0f} s), {what}; "
          f"incidents {args.incidents}; {tickets} tickets, {linked} linked into {incidents_formed} incidents; "
          f"Bot API stand-in enforcing 20 msg/min/group, 30/s")
    print()
    print("| destination | notifications | messages sent | edits | notify p50 s | p95 s | p99 s | max s | SLA s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    chats = {key: g.chat_id for key, g in config.groups.items()}
    chats.update({f"leader-{i}": leader.chat_id for i, leader in enumerate(config.leaders, 1)})
    for dest, values in sorted(by_dest.items()):
        chat = chats.get(dest)
        worst = max(worst, pct(values, 99))
        print(f"| {dest} | {len(values)} | {messages.get(chat, 0)} | {edits.get(chat, 0)} | {pct(values, 50):.2f} | "
              f"{pct(values, 95):.2f} | {pct(values, 99):.2f} | {max(values):.2f} | {config.sla.notify_seconds:g} |")
    groups = [d for d in by_dest if d in config.groups and d != "channel"]
    group_values = [v for d in groups for v in by_dest[d]]
    group_chats = {chats[d] for d in groups}
    print()
    print(f"category groups: notify p99 {pct(group_values, 99):.2f} s over {len(group_values)} notifications; "
          f"messages sent {sum(messages.get(c, 0) for c in group_chats)}, edits "
          f"{sum(edits.get(c, 0) for c in group_chats)}; all chats: messages sent {sum(messages.values())}, "
          f"edits {sum(edits.values())}")
    print(f"unsent notifications: {unsent}; 429 answers: {too_many}; requests before retry_after expired: {early}")
    return 0 if worst <= config.sla.notify_seconds and early == 0 and unsent == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
