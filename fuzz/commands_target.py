"""atheris target: the Telegram command parser. Any text a user types -> Command or None, never an exception.

    python fuzz/commands_target.py CORPUS_DIR [-max_total_time=60]   (copy fuzz/seeds/commands to CORPUS_DIR first)
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["laporgub"]):
    from laporgub.commands import parse_command, parse_group, strip_leading_ticket, tickets_in_text
    from laporgub.tickets import parse_ticket
    from laporgub.types import GROUP_KEYS

NAMES = {k: f"Group {k.replace('_', ' ').title()}" for k in GROUP_KEYS}


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    command = parse_command(text, "laporgub_bot")
    if command is not None and command.ticket is not None:
        assert parse_ticket(command.ticket) == command.ticket
    for number in tickets_in_text(text):
        assert parse_ticket(number) == number
        strip_leading_ticket(text, number)
    assert parse_group(text, NAMES) in (None, *GROUP_KEYS)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
