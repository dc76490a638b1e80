"""``laporgub api-key``: keys made with the service stopped or running work at once; only hashes are stored."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from laporgub import db
from laporgub.api import auth
from laporgub.cli import main
from tests.api_helpers import api_tweak, run_cli
from tests.conftest import make_config_data, write_config

KEY = re.compile(r"lg_[A-Za-z0-9_-]{43}")


def _create(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["api-key", "create", "--config", str(path), *args]) == 0
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert KEY.fullmatch(lines[-1]), lines  # the key alone on the last line
    return lines[-1]


def test_keys_from_the_command_line(tmp_path: Path, modem: Any, botapi: Any, make_service: Any,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = make_config_data(tmp_path, [modem.port], botapi.base_url)
    path = write_config(tmp_path / "config.toml", data)
    db.open_database(data["service"]["database"])  # an earlier `laporgub run` made the database
    before = _create(path, capsys, "--name", "website", "--scope", "submit", "--scope", "read")  # service stopped

    service = make_service([modem], botapi, tweak=api_tweak())
    base = service.api_status.base_url
    answer = httpx.post(f"{base}/api/v1/complaints", json={"text": "Jalan rusak di Kendal"},
                        headers={"Authorization": f"Bearer {before}"})
    assert answer.status_code == 201
    done = run_cli("api-key", "create", "--config", str(path), "--name", "dashboard", "--scope", "read")
    assert done.returncode == 0, done.stderr
    during = done.stdout.splitlines()[-1]  # made while the service runs: works at once
    assert KEY.fullmatch(during)
    assert httpx.get(f"{base}/api/v1/stats", headers={"Authorization": f"Bearer {during}"}).status_code == 200
    assert httpx.post(f"{base}/api/v1/complaints", json={"text": "x"},
                      headers={"Authorization": f"Bearer {during}"}).status_code == 403

    listing = run_cli("api-key", "list", "--config", str(path)).stdout
    assert "website" in listing and "dashboard" in listing and "scopes=submit,read" in listing
    assert before not in listing and during not in listing
    with db.database.connection_context():
        assert {k.key_hash for k in db.ApiKey.select()} == {auth.hash_key(before), auth.hash_key(during)}

    by_name = run_cli("api-key", "revoke", "--config", str(path), "dashboard")  # a name is not a key
    assert by_name.returncode == 1 and "is a name, not a key" in by_name.stderr
    prefix = during[:10]
    revoked = run_cli("api-key", "revoke", "--config", str(path), prefix)
    assert revoked.returncode == 0 and "revoked key" in revoked.stdout
    assert httpx.get(f"{base}/api/v1/stats", headers={"Authorization": f"Bearer {during}"}).status_code == 401
    again = run_cli("api-key", "revoke", "--config", str(path), prefix)
    assert again.returncode == 1 and "already revoked" in again.stderr


def test_create_refuses_bad_scopes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:9/bot")
    path = write_config(tmp_path / "config.toml", data)
    db.open_database(data["service"]["database"])
    with pytest.raises(SystemExit) as info:
        main(["api-key", "create", "--config", str(path), "--name", "x", "--scope", "write"])
    assert info.value.code == 2
    _create(path, capsys, "--name", "website", "--scope", "submit", "--scope", "submit")
    assert main(["api-key", "create", "--config", str(path), "--name", " ", "--scope", "read"]) == 2


def test_rotating_a_key_keeps_the_website_working(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:9/bot")
    path = write_config(tmp_path / "config.toml", data)
    db.open_database(data["service"]["database"])  # `laporgub run` made it
    old = _create(path, capsys, "--name", "website", "--scope", "submit", "--scope", "read")

    # A second active key of the same name is refused, and the answer says how to rotate.
    assert main(["api-key", "create", "--config", str(path), "--name", "website", "--scope", "read"]) == 2
    refused = capsys.readouterr().err
    assert "is active (id 1" in refused and "api-key rotate 1" in refused

    assert main(["api-key", "rotate", "--config", str(path), "1"]) == 0
    new = capsys.readouterr().out.rstrip("\n").split("\n")[-1]
    assert KEY.fullmatch(new) and new != old
    with db.database.connection_context():
        both = [auth.authenticate(k) for k in (old, new)]
        assert all(p is not None and p.name == "website" and p.allows("submit") for p in both)

    # The website now uses the new key; revoking the old one by its id leaves the new one alone.
    assert main(["api-key", "revoke", "--config", str(path), "1"]) == 0
    with db.database.connection_context():
        assert auth.authenticate(old) is None and auth.authenticate(new) is not None
    assert main(["api-key", "list", "--config", str(path)]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"1  lg_\S+…  website .* revoked", listing) and re.search(r"2  lg_\S+…  website .* active", listing)


def test_commands_refuse_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:9/bot")
    data["service"]["database"] = f"sqlite:///{tmp_path / 'typo' / 'laporgub.db'}"
    path = write_config(tmp_path / "config.toml", data)
    for args in (["api-key", "list"], ["webhooks", "status"]):
        assert main([*args, "--config", str(path)]) == 1
        assert str(tmp_path / "typo" / "laporgub.db") in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()  # nothing created on the way
