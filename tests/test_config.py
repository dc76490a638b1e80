"""Config validation: every problem on one line naming its key; exit 2; never a traceback."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from laporgub.cli import main
from laporgub.config import ConfigError, Secret, load_config, parse_config, read_token
from laporgub.types import GROUP_KEYS

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.toml"


@pytest.fixture()
def data() -> dict:
    return tomllib.loads(CONFIG.read_text(encoding="utf-8"))


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_default_config_is_valid_and_complete() -> None:
    config = load_config(CONFIG)
    assert set(config.groups) == set(GROUP_KEYS)
    assert config.service.timezone == "Asia/Jakarta"
    assert config.sla.as_dict() == {"register": 9, "filter": 27, "notify": 9, "deliver": 3}
    # Hundreds of Indonesian keywords across the category groups, not a dozen.
    assert sum(len(g.keywords) for g in config.groups.values()) >= 200
    for key, group in config.groups.items():
        if key not in ("channel", "kabkota"):
            assert len(group.keywords) >= 10, key
    assert config.modems and config.pics and config.leaders


def test_packaged_copy_matches_repository_config() -> None:
    packaged = ROOT / "laporgub" / "data" / "config.toml"
    assert packaged.read_text(encoding="utf-8") == CONFIG.read_text(encoding="utf-8")


def test_chat_id_must_be_integer(data: dict) -> None:
    data["groups"]["kesehatan"]["chat_id"] = "-100100"
    assert problems(data) == ["groups.kesehatan.chat_id: must be an integer, not a string"]


def test_all_problems_reported_at_once(data: dict) -> None:
    data["groups"]["kesehatan"]["chat_id"] = "x"
    del data["groups"]["darurat"]
    data["service"]["timezone"] = "Mars/Olympus"
    data["modems"][0]["baudrate"] = 11520
    data["telegram"]["grups"] = 1
    data["sla"]["notify_seconds"] = -1
    found = problems(data)
    assert "groups.kesehatan.chat_id: must be an integer, not a string" in found
    assert "groups.darurat: missing: every group needs a table (the 11 groups are channel, sosial_hukum, kesehatan, ekonomi_industri, darurat, esdm_lh, pertanian, infrastruktur, energi, kabkota, pelayanan_publik; see docs/sop.md)" in found
    assert any(p.startswith("service.timezone: unknown time zone 'Mars/Olympus'") for p in found)
    assert any(p.startswith("modems[0].baudrate: must be one of") and p.endswith("not 11520") for p in found)
    assert "telegram.grups: unknown config key. Did you mean 'groups'?" not in found  # no such key in [telegram]
    assert any(p.startswith("telegram.grups: unknown config key") for p in found)
    assert "sla.notify_seconds: must be greater than 0, not -1" in found
    assert len(found) == 6


def test_typo_gets_did_you_mean(data: dict) -> None:
    data["telegram"]["admin_chatid"] = data["telegram"].pop("admin_chat_id")
    found = problems(data)
    assert "telegram.admin_chatid: unknown config key. Did you mean 'admin_chat_id'?" in found
    assert "telegram.admin_chat_id: missing (required)" in found


def test_token_in_config_is_refused(data: dict) -> None:
    data["telegram"]["token"] = "123:abc"
    found = problems(data)
    assert found == ["telegram.token: secrets do not belong in config.toml; name them with token_env or token_file"]
    assert all("123:abc" not in line for line in found)


def test_unknown_group_and_pic_group(data: dict) -> None:
    data["groups"]["kesehatann"] = {"name": "x", "chat_id": -1}
    data["pics"][0]["groups"] = ["kesehatn"]
    found = problems(data)
    assert ("groups.kesehatann: unknown group; the 11 group keys are fixed: channel, sosial_hukum, kesehatan, ekonomi_industri, darurat, esdm_lh, pertanian, infrastruktur, energi, kabkota, pelayanan_publik. "
            "Did you mean 'kesehatan'?") in found
    assert ("pics[0].groups[0]: unknown group 'kesehatn' (one of channel, sosial_hukum, kesehatan, ekonomi_industri, darurat, esdm_lh, pertanian, infrastruktur, energi, kabkota, pelayanan_publik). "
            "Did you mean 'kesehatan'?") in found


def test_template_variables_checked(data: dict) -> None:
    data["texts"]["ack_sms"] = "Tiket $tiket diterima"
    found = problems(data)
    assert len(found) == 1 and found[0].startswith("texts.ack_sms: unknown template variable(s) $tiket")


def test_leader_regency_checked(data: dict) -> None:
    data["leaders"][0]["regencies"] = ["Kab Semarang", "Kab. Semarang", "Kota Smarang", "Semarang", "Kab. Pati"]
    found = problems(data)
    assert len(found) == 5 and found[0].startswith("leaders[0].regencies[0]: unknown regency/city 'Kab Semarang'")
    # The admin's abbreviation is read as written: Kab. is the Kabupaten, never the Kota.
    assert found[0].endswith("Did you mean 'Kabupaten Semarang'?")
    assert found[1].endswith("Did you mean 'Kabupaten Semarang'?")
    assert found[2].endswith("Did you mean 'Kota Semarang'?")
    assert found[3].endswith("Did you mean 'Kabupaten Semarang' or 'Kota Semarang'?")
    assert found[4].endswith("Did you mean 'Kabupaten Pati'?")


def test_duplicate_modem_names(data: dict) -> None:
    data["modems"].append(copy.deepcopy(data["modems"][0]))
    data["modems"][1]["port"] = "/dev/ttyUSB7"
    assert problems(data) == ["modems[1].name: duplicate modem name 'modem-1'"]


def test_two_modems_on_one_port(data: dict) -> None:
    data["modems"].append({**copy.deepcopy(data["modems"][0]), "name": "modem-2"})
    port = data["modems"][0]["port"]
    assert problems(data) == [f"modems[1].port: {port!r} is also the port of modem 'modem-1': two readers on one "
                              "modem take each other's SMS and answers; give each modem its own port"]


@pytest.mark.parametrize("key", ["groups.kesehatan.chat_id", "telegram.admin_chat_id", "leaders.0.chat_id",
                                 "pics.0.telegram_id"])
def test_telegram_ids_have_at_most_52_bits(data: dict, key: str) -> None:
    *path, last = key.split(".")
    table: Any = data
    for part in path:
        table = table[int(part)] if part.isdigit() else table[part]
    table[last] = 99999999999999999999999
    (found,) = problems(data)
    shown = key.replace(".0.", "[0].")
    assert found.startswith(f"{shown}: not a Telegram id: 99999999999999999999999 has more than 52 bits")
    table[last] = -(2**52 - 1) if last.endswith("chat_id") else 2**52 - 1
    parse_config(data)  # the largest id Telegram can give is fine


def test_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + CONFIG.read_bytes())  # as Notepad saves UTF-8
    assert load_config(path).groups["kesehatan"].name


def test_latin1_file_names_line_and_column(tmp_path: Path) -> None:
    text = CONFIG.read_text(encoding="utf-8")
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("name = ") and "Kesehatan" in line)
    lines[at] = 'name = "Dinas Kesehatan Caf\u00e9"'
    path = tmp_path / "config.toml"
    path.write_bytes("\n".join(lines).encode("latin-1", "replace"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    column = lines[at].index("\u00e9") + 1
    assert info.value.problems == [f"{path}: line {at + 1}, column {column}: not UTF-8 text (byte 0xe9, 'é' in "
                                   "Windows-1252/Latin-1): save the file as UTF-8"]


def test_bad_listen_and_database(data: dict) -> None:
    data["metrics"]["listen"] = "localhost"
    data["service"]["database"] = "mysql://x"
    found = problems(data)
    assert "metrics.listen: must be host:port, not 'localhost'" in found
    assert "service.database: must be a sqlite:///PATH or postgresql://... URL" in found


def test_check_config_cli_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = CONFIG.read_text(encoding="utf-8").replace("chat_id = -1001000000003", 'chat_id = "abc"', 1)
    assert 'chat_id = "abc"' in text
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["groups.kesehatan.chat_id: must be an integer, not a string"]


def test_check_config_cli_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "half.toml"
    bad.write_text("[service]\ndatabase = \"sqlite:////x\n", encoding="utf-8")
    for path in (bad, tmp_path / "absent.toml"):
        proc = subprocess.run([sys.executable, "-m", "laporgub", "check-config", "--config", str(path)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert str(path) in proc.stderr


def _with_database(tmp_path: Path, database: Path) -> Path:
    text = CONFIG.read_text(encoding="utf-8").replace(
        'database = "sqlite:////var/lib/laporgub/laporgub.db"', f'database = "sqlite:///{database}"', 1)
    assert str(database) in text
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(_with_database(tmp_path, tmp_path / "laporgub.db"))]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_looks_at_the_database_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    missing = tmp_path / "var" / "lib" / "laporgub-typo" / "laporgub.db"
    assert main(["check-config", "--config", str(_with_database(tmp_path, missing))]) == 2
    assert capsys.readouterr().err.strip() == (
        f"service.database: the directory {missing.parent} does not exist (create it, or fix the path; under "
        "systemd the unit's StateDirectory= makes /var/lib/laporgub)")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["check-config", "--config", str(_with_database(tmp_path, locked / "laporgub.db"))]) == 2
        assert "is not writable" in capsys.readouterr().err


def test_token_sources(tmp_path: Path) -> None:
    config = load_config(CONFIG)
    assert read_token(config.telegram, {"LAPORGUB_TELEGRAM_TOKEN": "42:abc"}) == "42:abc"
    assert repr(read_token(config.telegram, {"LAPORGUB_TELEGRAM_TOKEN": "42:abc"})) == "'********'"
    with pytest.raises(ConfigError) as info:
        read_token(config.telegram, {})
    assert info.value.problems == [
        "telegram.token_env: environment variable LAPORGUB_TELEGRAM_TOKEN is not set or empty"
    ]
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "telegram_token").write_text("99:xyz\n", encoding="utf-8")
    assert read_token(config.telegram, {"CREDENTIALS_DIRECTORY": str(creds)}) == "99:xyz"
    assert isinstance(read_token(config.telegram, {"CREDENTIALS_DIRECTORY": str(creds)}), Secret)


def test_run_without_token_exits_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "laporgub", "run", "--config", str(CONFIG)],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "telegram.token_env: environment variable LAPORGUB_TELEGRAM_TOKEN is not set or empty"


def test_log_levels_per_component(data: dict) -> None:
    data["service"]["log_levels"] = {"modem": "DEBUG", "laporgub.outbox": "WARNING"}
    config = parse_config(data)
    assert dict(config.service.log_levels) == {"laporgub.actors.modem": "DEBUG", "laporgub.outbox": "WARNING"}
    data["service"]["log_levels"] = {"modme": "DEBUG", "registry": "LOUD"}
    found = problems(data)
    assert any(p.startswith("service.log_levels.modme: unknown component") and "Did you mean 'modem'?" in p
               for p in found)
    assert any(p.startswith("service.log_levels.registry: must be one of") for p in found)


def test_routing_cli_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", "--config", str(CONFIG), "BANJIR sepinggang di Kudus, warga mengungsi"]) == 0
    out = capsys.readouterr().out
    assert "darurat" in out and "Kabupaten Kudus" in out
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"sender": "+6281234567890", "text": "lampu jalan mati", "id": 7}\nnot json\n',
                      encoding="utf-8")
    predictions = tmp_path / "p.jsonl"
    assert main(["eval-routing", "--config", str(CONFIG), str(corpus), "--predictions", str(predictions)]) == 0
    import json

    lines = [json.loads(x) for x in predictions.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["id"] == 7 and "infrastruktur" in lines[0]["predicted_groups"]
    assert lines[0]["predicted_kind"] == "complaint"


def test_webhook_secret_file_relative_names_a_systemd_credential(tmp_path: Path) -> None:
    from laporgub.config import ApiConfig, WebhookConfig, read_webhook_secrets

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "webhook_website").write_text("s3cret\n", encoding="utf-8")
    api = ApiConfig(listen=None, webhooks=(WebhookConfig(name="website", url="https://example.org/h",
                                                         secret_file="webhook_website"),))
    secrets = read_webhook_secrets(api, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert secrets["website"] == "s3cret"
    with pytest.raises(ConfigError) as err:  # outside systemd the relative path is not a credential
        read_webhook_secrets(api, {})
    assert err.value.problems[0].startswith("api.webhooks[0].secret_file: cannot read webhook_website")


def test_third_party_loggers_are_quiet_unless_named(data: dict) -> None:
    import io
    import logging

    from laporgub.logsetup import setup_logging

    data["service"]["log_levels"] = {"uvicorn.error": "INFO"}
    config = parse_config(data)
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging("INFO", stream=out, components=dict(config.service.log_levels))
        logging.getLogger("fontTools.subset").info("Glyph names: [...]")  # 40-75 of these per report
        logging.getLogger("fontTools.subset").warning("a font problem")
        logging.getLogger("laporgub.actors.reporter").info("event=report_sent month=2026-11")
        logging.getLogger("uvicorn.error").info("Started server process")  # named in log_levels
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name in ("laporgub", "uvicorn.error"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    text = out.getvalue()
    assert "Glyph names" not in text and "a font problem" in text
    assert "event=report_sent" in text and "Started server process" in text
