"""The PICs' Telegram commands: pure parsing, no I/O.

``/tanggapi <tiket> <teks>`` records a response, ``/tanya <tiket> <pertanyaan>``
asks the citizen something (the ticket waits for the answer, laporgub/conversations.py),
``/selesai <tiket> [teks]``
closes a ticket, ``/alihkan <tiket> <grup>`` re-routes it, ``/status <tiket>``
shows it, ``/gabung <tiket> <tiket>`` links two reports (or incidents) into one
incident, ``/pisah <tiket>`` takes a report out of its incident, ``/bantuan``
lists the commands. In groups a command may carry the bot's name
(``/selesai@laporgub_bot``). The ticket number is accepted with or without
dashes, in any case, or as its hashtag (``#T261128_0200_1``); an incident as
``K12`` (or ``#K12``) wherever a ticket is; when the command is a reply to a
notification, the ticket may be left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from laporgub.render import wording
from laporgub.tickets import parse_ticket
from laporgub.types import GROUP_KEYS

#: The commands, in the order /bantuan and setMyCommands list them: (name, usage, Indonesian description),
#: their wording from laporgub/data/texts.toml ``[commands]``.
COMMANDS: tuple[tuple[str, str, str], ...] = tuple(
    (name, wording(f"commands.{name}_usage"), wording(f"commands.{name}"))
    for name in ("tanggapi", "tanya", "selesai", "alihkan", "status", "gabung", "pisah", "bantuan")
)

#: Other spellings people type, mapped to the command they mean.
ALIASES: dict[str, str] = {
    "tanggap": "tanggapi",
    "jawab": "tanggapi",
    "respon": "tanggapi",
    "respond": "tanggapi",
    "tanyakan": "tanya",
    "ask": "tanya",
    "tutup": "selesai",
    "close": "selesai",
    "alih": "alihkan",
    "reroute": "alihkan",
    "cek": "status",
    "gabungkan": "gabung",
    "merge": "gabung",
    "pisahkan": "pisah",
    "split": "pisah",
    "help": "bantuan",
    "start": "bantuan",
}

_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{3,64}))?(?=\s|$)")
# A ticket number somewhere in free text: dashed, undashed or as a hashtag.
_TICKET_IN_TEXT_RE = re.compile(r"(?<![\w#])#?[tT]?\d{6}[-_ ]?\d{4}[-_ ]?[1-9]\d{0,3}(?!\d)")
# The ticket as a command's first argument.
_LEADING_TICKET_RE = re.compile(r"#?[tT]?\d{6}[-_ ]?\d{4}[-_ ]?[1-9]\d{0,3}(?=\s|$)")
# An incident (``K12``) as an argument.
_LEADING_INCIDENT_RE = re.compile(r"#?[kK](\d{1,9})(?=[\s:,.]|$)")
#: Commands whose arguments are references (tickets or incidents) only: ``/gabung A B``, ``/pisah A``.
REF_COMMANDS = frozenset({"gabung", "pisah"})


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command.

    Attributes:
        name: the canonical command (``tanggapi``, ``selesai``, ``alihkan``, ``status``,
            ``bantuan``), or the word typed when it is unknown.
        known: whether ``name`` is one of ours.
        addressed: the command named this bot explicitly (``/cmd@laporgub_bot``).
        ticket: the canonical ticket number, or None when none was given.
        text: the rest (the response text, or the target group for ``alihkan``).
        raw_ticket: what was typed where the ticket was expected and could not be read.
        incident: the incident given instead of a ticket (``K12`` -> 12), or None.
        refs: for ``gabung``: the references after the first, each a ticket number or ``K12``.
    """

    name: str
    known: bool
    addressed: bool
    ticket: str | None
    text: str
    raw_ticket: str | None = None
    incident: int | None = None
    refs: tuple[str, ...] = ()


def parse_command(text: str | None, bot_username: str | None = None) -> Command | None:
    """Parse a message as a command; None if it is not one, or is meant for another bot.

    ``bot_username`` is this bot's name; while it is unknown (Telegram not reached yet) a
    ``/cmd@name`` is taken as ours.
    """
    if not text:
        return None
    stripped = text.strip()
    m = _COMMAND_RE.match(stripped)
    if not m:
        return None
    word, target = m.group(1).lower(), m.group(2)
    if target and bot_username and target.lower() != bot_username.lower():
        return None
    name = ALIASES.get(word, word)
    known = name in {c[0] for c in COMMANDS}
    rest = stripped[m.end():].strip()
    ticket: str | None = None
    raw_ticket: str | None = None
    incident: int | None = None
    refs: list[str] = []
    if known and name != "bantuan" and rest:
        ticket, incident, raw_ticket, rest = _leading_ref(rest)
        if name == "gabung":
            while rest:
                more, more_incident, raw, after = _leading_ref(rest)
                if more is None and more_incident is None:
                    if raw is not None and raw_ticket is None:
                        raw_ticket = raw
                    break
                refs.append(more if more is not None else f"K{more_incident}")
                rest = after
    return Command(name=name, known=known, addressed=bool(target), ticket=ticket, text=rest,
                   raw_ticket=raw_ticket, incident=incident, refs=tuple(refs))


def _leading_ref(rest: str) -> tuple[str | None, int | None, str | None, str]:
    """The reference at the start of ``rest``: ``(ticket, incident, unreadable, what follows)``."""
    lead = _LEADING_TICKET_RE.match(rest)
    parsed = parse_ticket(lead.group(0)) if lead else None
    if lead and parsed is not None:
        return parsed, None, None, rest[lead.end():].strip()
    lead = _LEADING_INCIDENT_RE.match(rest)
    if lead:
        return None, int(lead.group(1)), None, rest[lead.end():].lstrip(" :,.\t\n")
    first, *after = rest.split(None, 1)
    if re.fullmatch(r"#?[tT]?\d[\d_-]{5,}", first):
        # Looks like a ticket number, but is not a valid one.
        return None, None, first, after[0].strip() if after else ""
    return None, None, None, rest


def tickets_in_text(text: str | None) -> list[str]:
    """Every ticket number written in ``text`` (any accepted form), canonical, in order, once each."""
    found: list[str] = []
    for m in _TICKET_IN_TEXT_RE.finditer(text or ""):
        number = parse_ticket(m.group(0))
        if number is not None and number not in found:
            found.append(number)
    return found


def strip_leading_ticket(text: str, ticket: str) -> str:
    """``"261128-0200-1: sudah diperbaiki"`` -> ``"sudah diperbaiki"`` (only when it names ``ticket`` first)."""
    m = _TICKET_IN_TEXT_RE.match(text.lstrip())
    if m and parse_ticket(m.group(0)) == ticket:
        return text.lstrip()[m.end():].lstrip(" :,.-–—\n\t")
    return text.strip()


def parse_group(text: str, names: dict[str, str]) -> str | None:
    """The group key a PIC means by ``text``: a key, a group's name, or a unique start of either.

    Args:
        text: what was typed (``kesehatan``, ``Group Kesehatan``, ``esdm``, ``#energi``).
        names: group key -> configured name.
    """
    want = _norm(text)
    if not want:
        return None
    keys = [k for k in GROUP_KEYS if k in names]
    for key in keys:
        if want in (_norm(key), _norm(names[key]), _norm(names[key].removeprefix("Group "))):
            return key
    starts = [k for k in keys if _norm(k).startswith(want) or _norm(names[k].removeprefix("Group ")).startswith(want)]
    return starts[0] if len(starts) == 1 else None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().lstrip("#"))


def help_text(bot_username: str | None = None) -> str:
    """The ``/bantuan`` answer (plain text)."""
    lines = [wording("commands.help_title")]
    for _name, usage, description in COMMANDS:
        lines.append(wording("commands.help_line", usage=usage, description=description))
    lines += ["", *wording("commands.help_notes").split("\n")]
    if bot_username:
        lines.append(wording("commands.help_bot_name", bot=bot_username))
    return "\n".join(lines)
