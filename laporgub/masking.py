"""Phone numbers out of everything that leaves the service: one rule, used at every boundary.

Two functions apply it:

* :func:`mask_msisdn` masks a number known to be one (a ticket's sender, an SMS
  destination): ``+628112920200`` -> ``0811****0200``.
* :func:`mask_text` masks every phone-like digit run inside free text (a
  complaint, a PIC's reply, a location, a log line) the same way.

Open311, the API without ``read:personal``, webhook payloads, Telegram messages,
log lines and the bot's chat answers all go through them; showing a number in
clear is an explicit, audited choice elsewhere (``read:personal``, ``privacy
export``).

The rule for free text (docs/privacy.md has it as a table with examples):

1. A *run* is digits joined by separators of one to four characters from: space,
   tab, no-break spaces, ``.``, ``-``, the Unicode dashes (en, em, minus ...),
   ``/``, ``_``, ``(``, ``)`` and the zero-width characters; it may start with
   ``+`` and ``(``. Letters may touch it (``wa0857...``, ``hp:0812...``): they
   end the run, they do not protect it. Any Unicode decimal digit counts.
2. A run is cut into *parts* where a separator contains a space: ``(0857) 1234-5678``
   is the parts ``(0857)`` and ``1234-5678``.
3. A part that has one of these shapes as a whole is never masked:

   * a ticket number ``YYMMDD-NNNN-S`` (``-`` or ``_``, or three parts split by
     spaces, or written without separators as 11 to 14 digits) whose date is a
     real date of 2017-2059: ``261128-0200-1``, ``#T261128_0200_1``;
   * a date ``D-M-YYYY``/``YYYY-M-D`` (``-``, ``/`` or ``.``, the same twice, a
     real date, year 1900-2099): ``28-11-2026``, ``2026/11/28``;
   * a year range ``2020-2025`` (``-``, ``/`` or a dash);
   * an amount in dotted thousands that does not read as a mobile number
     (``15.000.000``, but not ``812.777.700``), and any part right after
     ``Rp``/``IDR``;
   * a decimal coordinate ``110.420312`` (at most 180, 5 to 7 decimals);
   * a Telegram chat id ``-100`` + 10 digits.

   The shapes without dashes (a compact ticket, dotted thousands, a coordinate)
   count only for the first part of a run or one right after a kept part: after
   ``+62 (811)``, ``10.00000`` is the rest of a number.
4. Of the other parts, one with 8 or more digits is masked. Parts joined by
   spaces are read as one number from the first part that starts like a phone
   number (``+``, ``(``, ``0`` with 3 or more digits, ``62``, ``8`` with 3 or
   more digits): masked when they have 8 or more digits together. So ``0812 7777
   0001`` and ``+62 (812) 7777 0001`` are numbers, ``2500 3000 4000`` is not.
5. The masked form is the sender's: the number in national form (``+62``/``62``/
   ``0062`` -> ``0``, a bare ``8...`` mobile gets its ``0``), its first and last
   four digits around ``****`` (``0812****0001``); with 8 or 9 digits only the last
   four stay (``****5678``).

Masking is idempotent (a masked text has no run of 8 digits left), and it never
makes a run longer than its original by more than two characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["NumberRun", "ascii_digits", "mask_msisdn", "mask_text", "national_digits", "number_runs"]

#: Characters that join the digit groups of one run (at most four in a row: ``(0812) - 7777``).
_SEPARATORS = " \t\u00a0\u2007\u202f.\u2010\u2011\u2012\u2013\u2014\u2015\u2212/_()\u200b\u200c\u200d\u2060\ufeff-"
_SEP = "[" + re.escape(_SEPARATORS) + "]"
_SOFT = re.compile(r"[ \t\u00a0\u2007\u202f]")
#: A run: optional "+" and "(", then digits joined by short separator sequences.
_RUN = re.compile(rf"(?:\+\s?)?\(?\d(?:{_SEP}{{0,4}}\d)*")
_DIGITS = re.compile(r"\d+")
#: A quick test for texts without a single digit (most log lines hold some; most sentences none).
_ANY_DIGIT = re.compile(r"\d")
_MIN_DIGITS = 8
#: Second digit of Indonesian mobile prefixes (0811..., 0821..., 0831..., 0851..., 0877..., 0881..., 0895...).
_MOBILE_SECOND = "1235789"

_TICKET = re.compile(r"(\d{2})(\d{2})(\d{2})[-_](\d{4})[-_]([1-9]\d{0,3})")
_TICKET_COMPACT = re.compile(r"(\d{2})(\d{2})(\d{2})\d{4}[1-9]\d{0,3}")
_DATE_DMY = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2((?:19|20)\d\d)")
_DATE_YMD = re.compile(r"((?:19|20)\d\d)([-/.])(\d{1,2})\2(\d{1,2})")
_YEAR_RANGE = re.compile(r"(?:19|20)\d\d[-/\u2010-\u2015\u2212](?:19|20)\d\d")
_DOTTED_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+")
_COORDINATE = re.compile(r"(\d{1,3})\.\d{5,7}")
_CHAT_ID = re.compile(r"100\d{10}")
_MONEY_MARK = re.compile(r"(?:\b[Rr][Pp]|\bIDR)\.?\s*$")


def ascii_digits(text: str) -> str:
    """The decimal digits of ``text`` as ASCII (``０８１２`` -> ``0812``), everything else dropped."""
    return "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())


def national_digits(msisdn: str) -> str:
    """``+628112920200`` -> ``08112920200``; other countries keep their digits."""
    if msisdn.startswith("+62"):
        return "0" + msisdn[3:]
    return msisdn.lstrip("+")


def _national(digits: str, plus: bool = False) -> str:
    """Digits of a number as written -> its national form where it is Indonesian."""
    if digits.startswith("0062"):
        return "0" + digits[4:]
    if (plus or len(digits) >= 10) and digits.startswith("62") and digits[2:3] == "8":
        return "0" + digits[2:]
    if plus and digits.startswith("62"):
        return "0" + digits[2:]
    if digits[:1] == "8" and digits[1:2] in _MOBILE_SECOND and 9 <= len(digits) <= 12:
        return "0" + digits
    return digits


def _masked(digits: str) -> str:
    if len(digits) >= 10:
        return f"{digits[:4]}****{digits[-4:]}"
    if len(digits) >= _MIN_DIGITS:
        return "****" + digits[-4:]
    return "****" + digits[-2:] if len(digits) > 2 else "****"


def mask_msisdn(number: str | None) -> str:
    """Mask a citizen's number for groups and logs: ``+628112920200`` -> ``0811****0200``; None -> ``-``."""
    if not number:
        return "-"
    digits = ascii_digits(number)
    return _masked(_national(digits, plus=number.lstrip().startswith("+")))


# --------------------------------------------------------------------------
# Runs and parts.


@dataclass(frozen=True, slots=True)
class NumberRun:
    """A run of digits and separators in a text (rule 1), as :func:`number_runs` finds it.

    Attributes:
        start / end: the run's span in the text.
        digits: its digits, ASCII.
        positions: for each digit, its index in the text.
    """

    start: int
    end: int
    digits: str
    positions: tuple[int, ...]


def number_runs(text: str) -> Iterator[NumberRun]:
    """Every run of digits joined by separators (rule 1), whatever its length or shape."""
    for match in _RUN.finditer(text):
        positions = tuple(match.start() + i for i, ch in enumerate(match.group()) if ch.isdecimal())
        yield NumberRun(match.start(), match.end(), ascii_digits(match.group()), positions)


@dataclass(slots=True)
class _Part:
    start: int  # first digit (or the "+"/"(" that opens the run)
    end: int  # after the last digit
    digits: str
    text: str  # from the first to the last digit
    opener: str  # "+", "(" or "" written right before its first digit
    protected: bool = False


def _parts(text: str, run: re.Match[str]) -> list[_Part]:
    body = run.group()
    groups = list(_DIGITS.finditer(body))
    parts: list[_Part] = []
    first = groups[0]
    opener = "+" if body.lstrip().startswith("+") else ("(" if "(" in body[:first.start()] else "")
    current_start, current_first = run.start(), first
    previous = first
    for group in groups[1:]:
        between = body[previous.end():group.start()]
        if _SOFT.search(between):
            parts.append(_make_part(text, run.start(), current_start, current_first, previous, opener))
            opener = "(" if "(" in between else ("+" if between.rstrip().endswith("+") else "")
            current_start, current_first = run.start() + group.start(), group
        previous = group
    parts.append(_make_part(text, run.start(), current_start, current_first, previous, opener))
    return parts


def _make_part(text: str, base: int, start: int, first: re.Match[str], last: re.Match[str], opener: str) -> _Part:
    begin, end = base + first.start(), base + last.end()
    return _Part(start=min(start, begin), end=end, digits=ascii_digits(text[begin:end]), text=text[begin:end],
                 opener=opener)


def _real_date(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _ascii(text: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def _ticket_date(yy: str, mm: str, dd: str) -> bool:
    return 17 <= int(yy) <= 59 and _real_date(2000 + int(yy), int(mm), int(dd))


def _plausible_mobile(digits: str) -> bool:
    national = _national(digits)
    return national.startswith("08") and 10 <= len(national) <= 13


def _protected(part: _Part, text: str, loose: bool) -> bool:
    """Rule 3: a shape that is not a phone number, as a whole part.

    ``loose``: the shapes without dashes (a compact ticket, dotted thousands, a coordinate) count
    only here, where no number can be going on: the first part of a run, or one after a kept part.
    After ``+62 (811)``, ``10.00000`` is the rest of a phone number, not a place.
    """
    s = _ascii(part.text)
    m = _TICKET.fullmatch(s)
    if m and _ticket_date(m[1], m[2], m[3]):
        return True
    if loose and part.opener != "+" and s.isdigit():
        m = _TICKET_COMPACT.fullmatch(s)
        if m and _ticket_date(m[1], m[2], m[3]):
            return True
    m = _DATE_DMY.fullmatch(s)
    if m and _real_date(int(m[4]), int(m[3]), int(m[1])):
        return True
    m = _DATE_YMD.fullmatch(s)
    if m and _real_date(int(m[1]), int(m[3]), int(m[4])):
        return True
    if _YEAR_RANGE.fullmatch(s):
        return True
    if loose and _DOTTED_THOUSANDS.fullmatch(s) and not _plausible_mobile(part.digits):
        return True
    m = _COORDINATE.fullmatch(s)
    if loose and m and int(m[1]) <= 180 and not (len(m[1]) > 1 and m[1].startswith("0")):
        return True
    if _CHAT_ID.fullmatch(s) and part.start > 0 and text[part.start - 1] == "-" and \
            (part.start < 2 or not text[part.start - 2].isdecimal()):
        return True
    return bool(_MONEY_MARK.search(text[max(0, part.start - 6):part.start]))


def _phone_like(part: _Part) -> bool:
    """Rule 4: a part that starts like a phone number."""
    if part.opener in ("+", "("):
        return True
    d = part.digits
    return d.startswith("62") or (len(d) >= 3 and d[0] in "08")


def _spaced_ticket(parts: list[_Part], i: int) -> bool:
    if i + 2 >= len(parts):
        return False
    a, b, c = parts[i:i + 3]
    if not (len(a.digits) == 6 and len(b.digits) == 4 and 1 <= len(c.digits) <= 4 and c.digits[0] != "0"):
        return False
    if not (a.text.isdecimal() and b.text.isdecimal() and c.text.isdecimal()):
        return False
    return _ticket_date(a.digits[:2], a.digits[2:4], a.digits[4:])


def _spans_to_mask(text: str, run: re.Match[str]) -> list[tuple[int, int, str]]:
    """``(start, end, digits)`` of every number to mask in one run (rules 2 to 4)."""
    parts = _parts(text, run)
    i = 0
    while i < len(parts):
        if _spaced_ticket(parts, i):
            for p in parts[i:i + 3]:
                p.protected = True
            i += 3
            continue
        parts[i].protected = _protected(parts[i], text, loose=i == 0 or parts[i - 1].protected)
        i += 1
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(parts):
        if parts[i].protected:
            i += 1
            continue
        j = i
        while j + 1 < len(parts) and not parts[j + 1].protected:
            j += 1
        k = i
        while k <= j:  # one sequence of unprotected parts joined by spaces: parts[i..j]
            part = parts[k]
            if _phone_like(part):
                digits = "".join(p.digits for p in parts[k:j + 1])
                if len(digits) >= _MIN_DIGITS:
                    spans.append((part.start, parts[j].end, _national(digits, plus=part.opener == "+")))
                    break
            if len(part.digits) >= _MIN_DIGITS:
                spans.append((part.start, part.end, _national(part.digits, plus=part.opener == "+")))
            k += 1
        i = j + 1
    return spans


def mask_text(text: str, keep: re.Pattern[str] | None = None) -> str:
    """Every phone-like number in ``text`` masked as a sender is (``0812****0001``); see the module rule.

    Args:
        text: any free text.
        keep: spans matching this pattern are left as they are (log lines keep ``chat=-100...``,
            ``user=...`` identifiers, which are not citizens' numbers).
    """
    if not text or _ANY_DIGIT.search(text) is None:
        return text
    if keep is not None:
        pieces: list[str] = []
        last = 0
        for m in keep.finditer(text):
            pieces.append(mask_text(text[last:m.start()]))
            pieces.append(m.group())
            last = m.end()
        pieces.append(mask_text(text[last:]))
        return "".join(pieces)
    out: list[str] = []
    last = 0
    for run in _RUN.finditer(text):
        if run.end() - run.start() < _MIN_DIGITS:
            continue  # fewer than 8 characters cannot hold 8 digits
        for start, end, digits in _spans_to_mask(text, run):
            out.append(text[last:start])
            out.append(_masked(digits))
            last = end
    if last == 0:
        return text
    out.append(text[last:])
    return "".join(out)
