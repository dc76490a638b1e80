"""``laporgub check-config``: the config, its secret files and the database location, checked without starting."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from laporgub.cli._common import EXIT_CONFIG, EXIT_OK, load
from laporgub.config import check_secret_files


def check_config(path: str) -> int:
    config = load(path)
    if config is None:
        return EXIT_CONFIG
    problems = database_location_problems(config.service.database) + check_secret_files(config)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return EXIT_CONFIG
    print(
        f"{path}: OK ({len(config.modems)} modem(s), {len(config.groups)} groups, "
        f"{sum(len(g.keywords) for g in config.groups.values())} keywords, {len(config.pics)} PIC(s), "
        f"{len(config.leaders)} leader chat(s))"
    )
    return EXIT_OK


def database_location_problems(url: str) -> list[str]:
    """What stops ``laporgub run`` from creating or writing the SQLite file (none for other databases).

    The service creates the file on its first start, but not a missing directory: under systemd
    that is the unit's ``StateDirectory=``, and a typo in the path must not become a new, empty
    database somewhere else.
    """
    from laporgub.db import sqlite_path

    path = sqlite_path(url)
    if path is None:
        return []
    file = Path(path).absolute()
    folder = file.parent
    if file.exists():
        if not file.is_file():
            return [f"service.database: {file} exists and is not a file"]
        if not os.access(file, os.R_OK | os.W_OK):
            return [f"service.database: {file} is not readable and writable by this user ({_user()})"]
        return []
    if not folder.is_dir():
        return [f"service.database: the directory {folder} does not exist (create it, or fix the path; under "
                "systemd the unit's StateDirectory= makes /var/lib/laporgub)"]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [f"service.database: the directory {folder} is not writable by this user ({_user()}), so the "
                "database cannot be created there"]
    return []


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers)
        return f"uid {os.getuid()}"
