"""Benchmark of the monthly report: 100,000 tickets in one month, all three formats.

Seeds a temporary SQLite database with a synthetic month (``benchmarks/report_sample.py``:
tickets with categories, notifications of every stage, PIC responses, closes and
re-routes), then builds the PDF, XLSX and CSV in a fresh child process, so the
peak memory printed is the build's own (the child's maximum resident set size).
Prints one table. Target (issue 7): all three formats in <= 15 s.

    python benchmarks/report.py [--tickets 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 15.0
MONTH = "2026-01"


def _config(database: str) -> Any:
    from laporgub.config import parse_config

    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    data["service"]["database"] = database
    return parse_config(data)


def _build(database: str, out_dir: str, queue: Any) -> None:
    """Child process: open the database, build every format, report timings and peak RSS."""
    from laporgub import db
    from laporgub.report.build import build_report
    from laporgub.report.periods import Month

    config = _config(database)
    started = time.monotonic()
    handle = db.open_database(database)
    as_of = Month.parse(MONTH).window(config.tz)[1] + 8 * 3600  # the scheduled time: the 1st, 08:00
    built = build_report(config, Month.parse(MONTH), out_dir, as_of=as_of, generated_at=as_of, database=handle)
    total = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = usage.ru_maxrss
    queue.put({
        "timings": list(built.timings), "total": total, "peak_mib": peak_kib / 1024.0,
        "cpu": usage.ru_utime + usage.ru_stime,
        "files": [(f.name, f.path.stat().st_size) for f in built.files],
        "received": built.report.totals.stats.received, "open": built.report.open_count,
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--keep", help="write the database and files here and keep them")
    args = parser.parse_args(argv)

    from benchmarks.report_sample import seed_month
    from laporgub import db
    from laporgub.report.periods import Month

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="laporgub-report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db_path = work / "report-bench.db"
    if db_path.exists():
        db_path.unlink()
    url = f"sqlite:///{db_path}"
    config = _config(url)
    try:
        handle = db.open_database(url)
        started = time.monotonic()
        with handle.connection_context():
            seed_month(handle, Month.parse(MONTH), config.tz, args.tickets)
            counts = {m.__name__: m.select().count() for m in (db.Ticket, db.TicketCategory, db.Notification,
                                                                 db.PicResponse)}
        seed_seconds = time.monotonic() - started
        handle.close()

        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_build, args=(url, str(work / "out"), queue))
        child.start()
        result = None
        while result is None:
            try:
                result = queue.get(timeout=1.0)
            except Exception:  # queue.Empty: is the child still there?
                if not child.is_alive():
                    print(f"the build failed (exit code {child.exitcode})", file=sys.stderr)
                    return 2
        child.join()

        rows = [("seed (not timed in the target)", f"{seed_seconds:.2f}", "")]
        rows += [(f"  {step}", f"{seconds:.2f}", "") for step, seconds in result["timings"]]
        rows.append(("build: all three formats (wall)", f"{result['total']:.2f}", f"{result['peak_mib']:.0f}"))
        rows.append(("build: CPU time, both threads", f"{result['cpu']:.2f}", ""))
        print(f"Monthly report benchmark: {MONTH}, {args.tickets:,} tickets "
              f"({counts['Ticket']:,} tickets, {counts['TicketCategory']:,} categories, "
              f"{counts['Notification']:,} notifications, {counts['PicResponse']:,} PIC actions)")
        load = os.getloadavg()[0]
        print(f"Python {platform.python_version()}, SQLite, {os.cpu_count()} CPU(s), {platform.machine()}, "
              f"load average {load:.2f} before the build")
        print()
        print(f"{'step':<34} {'seconds':>9} {'peak RSS MiB':>13}")
        print("-" * 58)
        for name, seconds, mem in rows:
            print(f"{name:<34} {seconds:>9} {mem:>13}")
        print("-" * 58)
        for name, size in result["files"]:
            print(f"{name:<34} {size / 1024 / 1024:>8.2f} MiB")
        print(f"complaints {result['received']:,}, without a response {result['open']:,}")
        verdict = "OK" if result["total"] <= TARGET_SECONDS else "OVER TARGET"
        print(f"target <= {TARGET_SECONDS:.0f} s: {verdict}")
        return 0 if result["total"] <= TARGET_SECONDS else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
