"""PIC commands and the registry, pure: parsing, authorisation, `laporgub pics`, the [followup] schema."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from laporgub.cli.pics import pics_main
from laporgub.commands import COMMANDS, help_text, parse_command, parse_group, strip_leading_ticket, tickets_in_text
from laporgub.config import ConfigError, PicConfig, parse_config
from laporgub.responses import PicRegistry, Texts, may_act, shorten
from tests.conftest import default_data, make_config_data

BOT = "laporgub_bot"


@pytest.mark.parametrize(
    ("text", "name", "ticket", "rest"),
    [
        ("/tanggapi 261128-0200-1 Jalan sudah ditambal", "tanggapi", "261128-0200-1", "Jalan sudah ditambal"),
        ("/tanggapi 26112802001 sudah", "tanggapi", "261128-0200-1", "sudah"),
        ("/TANGGAPI #t261128_0200_1 sudah", "tanggapi", "261128-0200-1", "sudah"),
        ("/tanggapi@laporgub_bot 261128-0200-12 baris satu\nbaris dua", "tanggapi", "261128-0200-12",
         "baris satu\nbaris dua"),
        ("/tanggapi@LaporGub_Bot 261128 0200 1 ok", "tanggapi", "261128-0200-1", "ok"),
        ("/selesai 261128-0200-1", "selesai", "261128-0200-1", ""),
        ("/selesai T261128-0200-1 sudah beres", "selesai", "261128-0200-1", "sudah beres"),
        ("/alihkan 261128-0200-1 energi", "alihkan", "261128-0200-1", "energi"),
        ("/status 261128-0200-1", "status", "261128-0200-1", ""),
        ("/cek 26112802001", "status", "261128-0200-1", ""),
        ("/bantuan", "bantuan", None, ""),
        ("/start", "bantuan", None, ""),
        ("  /tutup 261128-0200-1 beres ", "selesai", "261128-0200-1", "beres"),
    ],
)
def test_commands_parse(text: str, name: str, ticket: str | None, rest: str) -> None:
    cmd = parse_command(text, BOT)
    assert cmd is not None and cmd.known
    assert (cmd.name, cmd.ticket, cmd.text) == (name, ticket, rest)


def test_command_without_ticket_and_with_a_bad_one() -> None:
    cmd = parse_command("/tanggapi sudah diperbaiki", BOT)
    assert cmd is not None and cmd.ticket is None and cmd.text == "sudah diperbaiki" and cmd.raw_ticket is None
    bad = parse_command("/selesai 261128-0200-0 beres", BOT)
    assert bad is not None and bad.ticket is None and bad.raw_ticket == "261128-0200-0" and bad.text == "beres"


def test_not_commands_and_other_bots() -> None:
    assert parse_command("terima kasih", BOT) is None
    assert parse_command("", BOT) is None
    assert parse_command(None, BOT) is None
    assert parse_command("/status@other_bot 261128-0200-1", BOT) is None
    assert parse_command("a /status 261128-0200-1", BOT) is None
    # Before getMe answered, a /cmd@name is taken as ours.
    cmd = parse_command("/status@laporgub_bot 261128-0200-1", None)
    assert cmd is not None and cmd.addressed
    unknown = parse_command("/hapus 261128-0200-1", BOT)
    assert unknown is not None and not unknown.known and unknown.name == "hapus"


def test_tickets_in_text() -> None:
    text = "tiket 261128-0200-1, juga 26112802002 dan #T261128_0200_3; 261128-0200-1 lagi; 2611280200 bukan"
    assert tickets_in_text(text) == ["261128-0200-1", "261128-0200-2", "261128-0200-3"]
    assert tickets_in_text("tidak ada nomor") == []
    assert strip_leading_ticket("261128-0200-1: sudah ditambal", "261128-0200-1") == "sudah ditambal"
    assert strip_leading_ticket("26112802001 - sudah", "261128-0200-1") == "sudah"
    assert strip_leading_ticket("sudah ditambal (261128-0200-1)", "261128-0200-1") == "sudah ditambal (261128-0200-1)"
    assert strip_leading_ticket("261128-0200-2 sudah", "261128-0200-1") == "261128-0200-2 sudah"


def test_parse_group() -> None:
    names = {k: v["name"] for k, v in default_data()["groups"].items()}
    assert parse_group("energi", names) == "energi"
    assert parse_group("ENERGI", names) == "energi"
    assert parse_group("Group Kesehatan", names) == "kesehatan"
    assert parse_group("#esdm_lh", names) == "esdm_lh"
    assert parse_group("esdm", names) == "esdm_lh"
    assert parse_group("pelayanan publik", names) == "pelayanan_publik"
    assert parse_group("e", names) is None  # ambiguous (ekonomi, energi, esdm)
    assert parse_group("pariwisata", names) is None


def test_help_lists_every_command() -> None:
    text = help_text(BOT)
    for name, usage, _ in COMMANDS:
        assert usage in text and f"/{name}" in text
    assert "@laporgub_bot" in text


def pic(tid: int, groups: tuple[str, ...], admin: bool = False) -> PicConfig:
    return PicConfig(telegram_id=tid, name=f"PIC {tid}", agency="Dinas", surat_tugas="1/2/3", groups=groups,
                     admin=admin)


def test_authorisation_rule() -> None:
    registry = PicRegistry([pic(1, ("kesehatan",)), pic(2, ("channel",), admin=True), pic(3, ("infrastruktur",))])
    ticket_groups = ["channel", "kesehatan", "kabkota"]
    assert may_act(registry.get(1), ticket_groups)
    assert may_act(registry.get(2), ["channel", "energi"])  # admin
    assert not may_act(registry.get(3), ticket_groups)  # another group
    assert not may_act(registry.get(99), ticket_groups)  # not registered
    assert not may_act(registry.get(None), ticket_groups)
    # channel is a group like the others: every ticket is in it.
    assert may_act(pic(4, ("channel",)), ["channel"])
    assert [p.telegram_id for p in registry.admins] == [2]


def test_pics_listing_flags_groups_without_pic(tmp_path: Path) -> None:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot")
    data["pics"] = [
        {"telegram_id": 5001, "name": "Budi", "agency": "Dinas PU", "surat_tugas": "600/1/2026",
         "groups": ["infrastruktur", "kabkota"]},
        {"telegram_id": 5002, "name": "Sari", "agency": "Dinkes", "surat_tugas": "800/9/2026", "groups": ["kesehatan"]},
    ]
    out = io.StringIO()
    assert pics_main(parse_config(data), out) == 0
    text = out.getvalue()
    assert "Budi · Dinas PU · surat tugas 600/1/2026 · telegram 5001" in text
    assert text.index("infrastruktur ·") < text.index("Budi") < text.index("energi ·")
    last = text.strip().splitlines()[-1]
    assert last.startswith("Groups without a PIC:")
    assert "energi" in last and "channel" in last and "kesehatan" not in last and "kabkota" not in last
    assert "Admins (may act on every ticket):\n  ! none" in text


def test_pics_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from laporgub.cli import main
    from tests.conftest import ROOT

    assert main(["pics", "--config", str(ROOT / "config.toml")]) == 0
    assert "Groups without a PIC:" in capsys.readouterr().out
    assert main(["pics", "--config", str(tmp_path / "missing.toml")]) == 2


def test_followup_defaults_and_validation(tmp_path: Path) -> None:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot")
    data.pop("followup", None)
    config = parse_config(data)
    assert (config.followup.reminder_hours, config.followup.escalate_hours) == (24.0, 72.0)
    assert config.followup.digest_at == (7, 0)
    data["followup"] = {"reminder_hours": 48, "escalate_hours": 24, "digest_time": "25:00", "remider": 1}
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    lines = "\n".join(err.value.problems)
    assert "followup.escalate_hours: must be greater than reminder_hours" in lines
    assert "followup.digest_time: must be a time HH:MM" in lines
    assert "followup.remider: unknown config key. Did you mean 'reminder_hours'?" in lines
    data["followup"] = {"digest_time": "off", "reminder_hours": 0}
    off = parse_config(data).followup
    assert off.digest_at is None and off.reminder_hours == 0


def test_new_texts_are_checked(tmp_path: Path) -> None:
    data: Any = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot")
    data["texts"]["response_sms"] = "Tanggapan $instansi: $response"
    del data["texts"]["telegram_digest"]
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    lines = "\n".join(err.value.problems)
    assert "texts.response_sms: unknown template variable(s) $instansi" in lines
    assert "texts.telegram_digest: missing (required)" in lines


def test_texts_render_plain_and_html(tmp_path: Path) -> None:
    data = make_config_data(tmp_path, ["/dev/null"], "http://127.0.0.1:1/bot")
    texts = Texts(parse_config(data))
    assert "<b>261128-0200-1</b>" in texts.telegram("telegram_reminder", ticket="261128-0200-1")
    assert texts.escape("a <b> & c") == "a &lt;b&gt; &amp; c"
    sms = texts.sms("closed_sms", ticket="261128-0200-1", agency="Dinas PU", response="")
    assert sms.endswith("Dinas PU.") and "  " not in sms
    data["telegram"]["parse_mode"] = "none"
    plain = Texts(parse_config(data))
    assert "<b>" not in plain.telegram("telegram_reminder", ticket="261128-0200-1")
    assert plain.escape("a < b") == "a < b"
    assert shorten("satu dua tiga empat lima", 12) == "satu dua…"
    assert shorten("  pendek\n sekali ", 50) == "pendek sekali"
