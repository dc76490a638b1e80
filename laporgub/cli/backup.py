"""Online backup of the SQLite database with sqlite3's backup API (consistent while the service writes).

``python -m laporgub.backup /var/lib/laporgub/laporgub.db /var/backups/laporgub [--keep 14]``
(the systemd timer's command; laporgub/backup.py only calls :func:`main`)
writes ``laporgub-YYYYmmdd-HHMMSS.db`` and keeps the newest ``--keep`` copies.
A plain file copy of a WAL database can miss committed pages; the backup API
cannot.

Backups hold citizens' numbers: the directory is created 0700 and every copy
0600 (created so, not changed afterwards, so no moment exists in which another
user could open it), whatever the caller's umask. A copy keeps what was in the
database when it was taken, erased numbers included, until it is pruned
(``--keep`` days with the daily timer; docs/privacy.md).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path


def backup(source: Path, target_dir: Path, keep: int = 14) -> Path:
    """Copy ``source`` into ``target_dir`` page by page; prune old copies; return the new file."""
    target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = target_dir / f"laporgub-{time.strftime('%Y%m%d-%H%M%S')}.db"
    partial = target.with_suffix(".db.partial")
    partial.unlink(missing_ok=True)
    # Created 0600 before SQLite opens it: SQLite keeps an existing file's mode (and gives its journal the same).
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=1024, sleep=0.01)
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise RuntimeError(f"backup failed its integrity check: {check}")
    finally:
        dst.close()
        src.close()
    partial.rename(target)
    for old in sorted(target_dir.glob("laporgub-*.db"))[:-keep]:
        old.unlink()
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Online backup of LaporGub's SQLite database.")
    parser.add_argument("database", type=Path)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--keep", type=int, default=14, help="copies to keep (default 14)")
    args = parser.parse_args(argv)
    if not args.database.is_file():
        print(f"{args.database}: no such database file", file=sys.stderr)
        return 2
    try:
        path = backup(args.database, args.directory, args.keep)
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
