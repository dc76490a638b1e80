"""The systemd units verify cleanly (any output fails: systemd-analyze exits 0 on a misspelled key)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from laporgub.backup import backup

ROOT = Path(__file__).resolve().parent.parent
UNITS = ("laporgub.service", "laporgub-backup.service", "laporgub-backup.timer")


def localised(tmp_path: Path) -> list[Path]:
    """Copies of the units exactly as shipped (they verify before LaporGub is installed: /usr/bin/env)."""
    paths = []
    for name in UNITS:
        path = tmp_path / name
        path.write_text((ROOT / "systemd" / name).read_text(encoding="utf-8"), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (Debian: systemd)")
def test_units_verify_without_any_output(tmp_path: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "verify", *map(str, localised(tmp_path))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (Debian: systemd)")
def test_a_misspelled_key_is_caught(tmp_path: Path) -> None:
    unit = localised(tmp_path)[0]
    unit.write_text(unit.read_text().replace("WatchdogSec=", "WatchDogSec="), encoding="utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "Unknown key" in proc.stderr  # the exit code alone would not tell


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (Debian: systemd)")
def test_exposure_score_is_ok(tmp_path: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(localised(tmp_path)[0])],
                          capture_output=True, text=True, timeout=60)
    line = [x for x in proc.stdout.splitlines() if "Overall exposure level" in x][0]
    score = float(line.split("laporgub.service:")[1].split()[0])
    assert score <= 2.0, line


def test_unit_has_what_the_deployment_needs() -> None:
    text = (ROOT / "systemd" / "laporgub.service").read_text(encoding="utf-8")
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "WatchdogSec=",
                 "SupplementaryGroups=dialout", "StateDirectory=laporgub", "LoadCredential=telegram_token:",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "CapabilityBoundingSet=", "DeviceAllow=char-ttyUSB rw"):
        assert line in text, line
    assert "PrivateDevices=yes" not in text  # it would hide the modems


def test_online_backup_of_a_live_wal_database(tmp_path: Path) -> None:
    source = tmp_path / "live.db"
    writer = sqlite3.connect(source)
    writer.execute("PRAGMA journal_mode=wal")
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    writer.commit()  # committed, still only in the WAL: a file copy of live.db alone would miss it
    copy = backup(source, tmp_path / "backups", keep=2)
    assert sqlite3.connect(copy).execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1000
    for _ in range(3):
        backup(source, tmp_path / "backups", keep=2)
    assert len(list((tmp_path / "backups").glob("laporgub-*.db"))) <= 2
    writer.close()
