"""Pipeline throughput without modems or Telegram: tickets per second through registry, filter and outbox.

Run from the repository root::

    python benchmarks/pipeline.py [--seconds 10] [--backends sqlite,postgresql] [--instances 1,2]

Each *instance* is a separate process with two threads, as the service's actors
are: the registry + filter thread stores encoded SMS-DELIVER PDUs
(``Intake.store_sms``: inbound row, ticket number, acknowledgement SMS) and routes
each ticket (``route_ticket``: categories and notification rows), as fast as it
can for ``--seconds``; the outbox thread claims notification rows of every
destination (``claim_rows``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and marks
them sent, as the dispatchers do without the Bot API. A run ends when every
notification is sent; tickets/s counts fully processed tickets over that time.

With two instances both outbox threads claim from every destination (the service
keeps a destination on one instance with a lease; claiming from both stresses the
row claims), and both registries allocate ticket numbers concurrently; the run
checks that numbers are unique and nothing is left pending.

PostgreSQL: a fresh database ``lg_bench_<random>`` on $LAPORGUB_TEST_POSTGRES
(default ``postgresql://postgres@127.0.0.1:5432/test``), dropped afterwards.
SQLite: a file in a temporary directory (WAL, ``synchronous=FULL`` as in service).

``run()`` returns one dict per (backend, instances) for other tools
(``benchmarks/run.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("LAPORGUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TEXTS = (
    "Jalan rusak berlubang di depan SD Negeri 2 Ungaran, mohon segera diperbaiki",
    "Puskesmas tutup padahal jam buka, pasien BPJS ditolak",
    "Banjir setinggi lutut di Kampung Tambaklorok Semarang sejak semalam",
    "Harga pupuk subsidi naik dan langka di Desa Ngembak Grobogan",
    "Lampu penerangan jalan mati sudah seminggu di Jalan Pemuda Solo",
    "Sampah menumpuk di pasar desa, bau dan banyak lalat",
    "Listrik PLN padam tiap malam di dusun kami Kabupaten Wonosobo",
)


# --------------------------------------------------------------------------
# One instance (a child process).


def _worker(url: str, index: int, seconds: float, start_at: float) -> dict[str, Any]:
    from laporgub import db, leases
    from laporgub.config import parse_config
    from laporgub.intake import Intake, build_classifier
    from laporgub.outbox import claim_rows, destinations, mark_sent, route_ticket
    from laporgub.pdu import encode_deliver
    from laporgub.render import Renderer
    from tests.conftest import make_config_data

    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config(make_config_data(Path(tmp), ["/dev/null"], "http://127.0.0.1:1/bot", database=url))
    holder = leases.configure(f"bench-{index}")
    db.open_database(url)
    intake = Intake(config, build_classifier(config), Renderer(config))
    classifier = build_classifier(config)
    dests = list(destinations(config))
    pdus = [encode_deliver(f"+62812{index}{i:06d}", f"{TEXTS[i % len(TEXTS)]} ({i})")[0] for i in range(20000)]
    intake_done = threading.Event()
    sent = {"rows": 0}
    errors: list[str] = []

    def outbox() -> None:
        n = db.Notification
        try:
            with db.database.connection_context():
                while True:
                    moved = 0
                    for dest in dests:
                        now = time.time()
                        due = (n.destination == dest) & (n.status == "pending") & (n.next_attempt_at <= now)
                        ids = claim_rows(n, due, holder, now, 100)
                        if ids:
                            mark_sent(ids, now, time.time(), 1)
                            moved += len(ids)
                    sent["rows"] += moved
                    if not moved:
                        if intake_done.is_set():
                            pending = n.select().where(n.status == "pending").count()
                            if not pending:
                                return
                        time.sleep(0.005)
        except Exception as exc:
            errors.append(f"outbox: {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=outbox, name="outbox", daemon=True)
    store_times: list[float] = []
    tickets = 0
    with db.database.connection_context():
        time.sleep(max(0.0, start_at - time.time()))
        thread.start()
        deadline = start_at + seconds
        i = 0
        while time.time() < deadline and i < len(pdus):
            t0 = time.perf_counter()
            result = intake.store_sms(f"modem-{index}", pdus[i], time.time())
            if result.ticket_id is not None:
                route_ticket(config, classifier, result.ticket_id)
                tickets += 1
            store_times.append(time.perf_counter() - t0)
            i += 1
        intake_end = time.time()
    intake_done.set()
    thread.join(300)
    end = time.time()
    store_times.sort()
    return {
        "index": index, "tickets": tickets, "notifications": sent["rows"], "start": start_at,
        "intake_end": intake_end, "end": end, "errors": errors,
        "p50_ms": 1000 * store_times[len(store_times) // 2] if store_times else float("nan"),
        "p99_ms": 1000 * store_times[int(len(store_times) * 0.99)] if store_times else float("nan"),
    }


# --------------------------------------------------------------------------
# The runs.


def _pg_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_URL, connect_timeout=5)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def _check(url: str) -> dict[str, int]:
    from laporgub import db

    database = db.make_database(url)
    with database.connection_context(), database.bind_ctx(list(db.MODELS)):
        return {
            "tickets": db.Ticket.select().count(),
            "unique_numbers": db.Ticket.select(db.Ticket.number).distinct().count(),
            "pending": db.Notification.select().where(db.Notification.status == "pending").count(),
            "notifications": db.Notification.select().count(),
        }


def run_one(backend: str, instances: int, seconds: float) -> dict[str, Any]:
    """One measurement: ``instances`` processes on a fresh ``backend`` database for ``seconds``."""
    from laporgub import db

    row: dict[str, Any] = {"backend": backend, "instances": instances, "seconds": seconds}
    tmp = tempfile.TemporaryDirectory(prefix="laporgub-bench-")
    name = None
    try:
        if backend == "sqlite":
            url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
        elif backend == "postgresql":
            name = f"lg_bench_{uuid.uuid4().hex[:12]}"
            try:
                _pg_admin(f'CREATE DATABASE "{name}"')
            except Exception as exc:
                row["error"] = f"PostgreSQL unavailable: {type(exc).__name__}: {str(exc).strip()[:120]}"
                return row
            url = PG_ADMIN_URL.rpartition("/")[0] + "/" + name
        else:
            raise ValueError(f"unknown backend {backend!r}")
        db.open_database(url)  # migrate once, before the instances start
        db.database.close()
        start_at = time.time() + 4.0  # every instance loaded and connected before the clock starts
        procs = [
            subprocess.Popen([sys.executable, __file__, "--worker", url, str(i), str(seconds), repr(start_at)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(instances)
        ]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=seconds + 600)
            if proc.returncode != 0:
                row["error"] = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
                return row
            results.append(json.loads(out.strip().splitlines()[-1]))
        elapsed = max(r["end"] for r in results) - start_at
        intake_elapsed = max(r["intake_end"] for r in results) - start_at
        tickets = sum(r["tickets"] for r in results)
        check = _check(url)
        row.update(
            tickets=tickets,
            tickets_per_second=tickets / elapsed,
            intake_tickets_per_second=tickets / intake_elapsed,
            notifications_per_second=check["notifications"] / elapsed,
            store_route_p50_ms=max(r["p50_ms"] for r in results),
            store_route_p99_ms=max(r["p99_ms"] for r in results),
            drained=check["pending"] == 0,
            unique_numbers=check["unique_numbers"] == check["tickets"] == tickets,
            errors=[e for r in results for e in r["errors"]],
        )
        return row
    finally:
        if name is not None:
            try:
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:
                pass
        tmp.cleanup()


def run(backends: tuple[str, ...] = ("sqlite", "postgresql"), instances: tuple[int, ...] = (1, 2),
        seconds: float = 10.0) -> list[dict[str, Any]]:
    """Every (backend, instance count) measured; SQLite only with one instance (it is not shared across hosts).

    Returns:
        One dict per run: ``backend``, ``instances``, ``tickets``, ``tickets_per_second`` (fully processed:
        registered, routed, every notification claimed and marked sent), ``intake_tickets_per_second``,
        ``notifications_per_second``, ``store_route_p50_ms``/``p99_ms`` (one SMS: store + route),
        ``drained``, ``unique_numbers``; or ``error``.
    """
    rows = []
    for backend in backends:
        for n in instances:
            if backend == "sqlite" and n > 1:
                continue
            rows.append(run_one(backend, n, seconds))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'backend':<11} {'inst':>4} {'tickets':>8} {'tickets/s':>10} {'intake/s':>9} {'notif/s':>8} "
            f"{'p50 ms':>7} {'p99 ms':>7}  check")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['backend']:<11} {r['instances']:>4}  {r['error']}")
            continue
        ok = "ok" if r["drained"] and r["unique_numbers"] and not r["errors"] else f"FAIL {r['errors'][:1]}"
        lines.append(
            f"{r['backend']:<11} {r['instances']:>4} {r['tickets']:>8} {r['tickets_per_second']:>10.1f} "
            f"{r['intake_tickets_per_second']:>9.1f} {r['notifications_per_second']:>8.1f} "
            f"{r['store_route_p50_ms']:>7.2f} {r['store_route_p99_ms']:>7.2f}  {ok}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        url, index, seconds, start_at = argv[1], int(argv[2]), float(argv[3]), float(argv[4])
        print(json.dumps(_worker(url, index, seconds, start_at)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="intake time per run (default 10)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--instances", default="1,2")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)
    rows = run(tuple(b for b in args.backends.split(",") if b),
               tuple(int(n) for n in args.instances.split(",") if n), args.seconds)
    print(format_table(rows))
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0 if all("error" not in r and r["drained"] and r["unique_numbers"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
