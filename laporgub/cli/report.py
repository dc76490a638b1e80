"""``laporgub report --config FILE --month YYYY-MM --out DIR``: the report on demand (built by laporgub/report/)."""

from __future__ import annotations

import sys
from typing import Any

from laporgub import db
from laporgub.clock import SYSTEM, Clock
from laporgub.report.build import build_report
from laporgub.report.periods import Month

__all__ = ["report_main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def report_main(config: Any, month: str, out_dir: str, clock: Clock = SYSTEM) -> int:
    """Write the PDF, XLSX and CSV of ``month`` into ``out_dir``; print their paths.

    The same files the scheduled report sends, with data as of now. Exit codes:
    0 written, 1 the database or a renderer failed, 2 ``month`` is not ``YYYY-MM``.
    """
    try:
        wanted = Month.parse(month)
    except ValueError as exc:
        print(f"--month: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        database = db.open_database(config.service.database, create=False, clock=clock)
    except Exception as exc:
        print(f"cannot open the database: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        built = build_report(config, wanted, out_dir, as_of=clock.time(), database=database)
    except Exception as exc:
        print(f"report for {wanted} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if not database.is_closed():
            database.close()
    for f in built.files:
        print(f.path)
    s = built.report.totals.stats
    print(f"{wanted}: {s.received} complaints, {s.responded} responded, {built.report.open_count} without a "
          f"response; built in {built.seconds:.1f} s", file=sys.stderr)
    return EXIT_OK
