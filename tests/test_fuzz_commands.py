"""Fuzz (hypothesis): any text a Telegram user types is a command or not, never an exception
(fuzz/commands_target.py is the atheris twin)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from laporgub.commands import COMMANDS, parse_command, parse_group, strip_leading_ticket, tickets_in_text
from laporgub.tickets import parse_ticket
from laporgub.types import GROUP_KEYS

WORDS = st.sampled_from([f"/{c[0]}" for c in COMMANDS] + ["/tanggapi@laporgub_bot", "/status@other_bot", "/x",
                                                           "261128-0200-1", "26112802001", "#T261128_0200_1",
                                                           "261128-0200-0", "9999999999", "kesehatan", "\u200b", "/"])
TEXT = st.one_of(st.text(max_size=200), st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=6).map(" ".join))
NAMES = {k: f"Group {k.replace('_', ' ').title()}" for k in GROUP_KEYS}


@given(TEXT, st.one_of(st.none(), st.sampled_from(["laporgub_bot", "LaporGub_Bot"])))
def test_any_text_parses_or_is_not_a_command(text: str, bot: str | None) -> None:
    command = parse_command(text, bot)
    if command is None:
        return
    assert text.strip().startswith("/")
    if command.ticket is not None:
        assert parse_ticket(command.ticket) == command.ticket  # canonical
    assert command.known == (command.name in {c[0] for c in COMMANDS})


@given(TEXT)
def test_tickets_found_in_any_text_are_canonical(text: str) -> None:
    for number in tickets_in_text(text):
        assert parse_ticket(number) == number
        strip_leading_ticket(text, number)


@given(TEXT)
def test_any_group_text_names_a_group_or_none(text: str) -> None:
    assert parse_group(text, NAMES) in (None, *GROUP_KEYS)
