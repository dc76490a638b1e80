"""``laporgub db copy --from URL --to URL``: move a LaporGub database (laporgub/dbcopy.py does the copying)."""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

from laporgub.dbcopy import BATCH, CopyRefused, copy_database, safe_url


def add_parser(sub: Any) -> None:
    """``laporgub db copy`` under the CLI's subcommands."""
    dbp = sub.add_parser("db", help="database maintenance: copy a database (e.g. SQLite to PostgreSQL)")
    dbsub = dbp.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    cp = dbsub.add_parser("copy", help="copy every table (ids kept), verify row counts; safe to re-run")
    cp.add_argument("--from", dest="source", required=True, help="source URL, e.g. sqlite:///var/lib/laporgub/laporgub.db")
    cp.add_argument("--to", dest="target", required=True, help="target URL, e.g. postgresql://laporgub@db/laporgub")
    cp.add_argument("--batch", type=int, default=BATCH, help=f"rows per transaction (default {BATCH})")


def copy_command(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """0: copied and every count matches; 1: a count differs or the copy was refused or failed."""
    out, err = out or sys.stdout, err or sys.stderr
    if args.db_command != "copy":  # pragma: no cover - argparse allows only copy
        return 2
    print(f"copying {safe_url(args.source)} -> {safe_url(args.target)}", file=out)
    try:
        results = copy_database(args.source, args.target, batch=max(1, args.batch),
                                progress=lambda line: print(line, file=out, flush=True))
    except CopyRefused as exc:
        print(f"refused: {exc}", file=err)
        return 1
    except Exception as exc:
        from laporgub.exceptions import RegistryError

        if isinstance(exc, RegistryError):
            print(f"refused: {exc}", file=err)
            return 1
        print(f"failed: {type(exc).__name__}: {exc}", file=err)
        return 1
    bad = [r.table for r in results if not r.ok]
    if bad:
        print(f"row counts differ in: {', '.join(bad)} (rows in the target that the source lacks?)", file=err)
        return 1
    print(f"ok: {len(results)} tables, {sum(r.source for r in results)} rows, counts verified", file=out)
    return 0
