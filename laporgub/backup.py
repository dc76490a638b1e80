"""``python -m laporgub.backup DATABASE DIRECTORY [--keep N]``: the command the systemd backup timer runs.

Kept at this path for the installed units (systemd/laporgub-backup.service); the backup and its
command live in laporgub/cli/backup.py.
"""

from __future__ import annotations

import sys

from laporgub.cli.backup import backup, main

__all__ = ["backup", "main"]

if __name__ == "__main__":
    sys.exit(main())
