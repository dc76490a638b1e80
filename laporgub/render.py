"""What people read: SMS texts and Telegram messages, rendered from templates.

Every text a citizen, PIC or leader reads is a template: the ``[texts]`` keys of
config.toml (operators may reword them) and the fixed texts of
``laporgub/data/texts.toml`` (:func:`wording`, read once), so a wording change is
one file. No other module writes Indonesian sentences (tests/test_texts.py
checks it). Plain functions, no I/O beyond that one read. Citizen text is untrusted: control characters are
dropped (:func:`printable`), every phone number in it is masked
(:func:`laporgub.masking.mask_text`, before any split or cut, so no part of a
number is left whole in one piece), and in HTML parse mode it is escaped with
:func:`html.escape`; only the template's own tags stay raw. Telegram counts the
4096-character limit in UTF-16 code units after entity parsing, so lengths are
counted that way.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from laporgub.masking import mask_msisdn, mask_text
from laporgub.tickets import hashtag
from laporgub.wording import TEXTS_FILE as TEXTS_FILE
from laporgub.wording import fixed_texts as fixed_texts
from laporgub.wording import placeholders as placeholders
from laporgub.wording import wording as wording
from laporgub.wording import wordings as wordings

if TYPE_CHECKING:  # config.py imports the report's settings, whose package reads texts from here
    from laporgub.config import Config

#: Telegram's limit for one message, in UTF-16 code units after entity parsing.
TELEGRAM_MAX = 4096
#: Between coalesced tickets in one message.
SEPARATOR = "\n\n――――――――――\n\n"

STATUS_WORDS = {status: wording(f"status.{status}") for status in ("open", "responded", "closed")}

_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]*>")
#: C0 and C1 control characters other than tab and newline (a citizen's SMS may carry them).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without control characters (tab and newline stay; a carriage return becomes nothing)."""
    return _CONTROLS.sub("", text)


def public_text(text: str) -> str:
    """Citizen or PIC text as it may leave for Telegram: controls dropped, phone numbers masked."""
    return mask_text(printable(text))


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (what Telegram counts)."""
    return len(text.encode("utf-16-le")) // 2


def visible_len(message: str, parse_mode: str) -> int:
    """Length Telegram counts: tags removed and entities unescaped in HTML mode."""
    if parse_mode == "HTML":
        message = html.unescape(_TAG_RE.sub("", message))
    return utf16_len(message)


def strip_tags(template: str) -> str:
    """A template's text without its HTML tags (for ``parse_mode = "none"``)."""
    return _TAG_RE.sub("", template)


@dataclass(frozen=True, slots=True)
class IncidentReport:
    """One report of an incident as its message quotes it."""

    number: str
    received_at: float
    text: str


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What an incident's message shows (a snapshot built by laporgub/incidents.py)."""

    label: str  # "K12": what PICs type (/tanggapi K12 ...)
    status: str  # open | expired | closed | merged | dissolved
    reports: int
    senders: int
    regency: str | None
    places: tuple[str, ...]  # "Desa Bedono", "Kec. Sayung"
    first_at: float
    last_at: float
    newest: tuple[IncidentReport, ...] = ()  # newest first
    response: str | None = None  # the latest PIC response
    response_by: str | None = None  # "Nama (Instansi)"
    merged_into: str | None = None  # label of the incident it was merged into


@dataclass(frozen=True, slots=True)
class TicketView:
    """What a notification shows of a ticket (a snapshot, never a database row)."""

    number: str
    kind: str  # complaint | spam
    sender: str | None
    text: str
    received_at: float
    groups: tuple[str, ...]  # category groups, without channel
    regency: str | None
    keywords: str = ""  # "infrastruktur: jalan rusak; kabkota: ungaran" (why it was routed so)
    #: The incident whose message this ticket's notification is (its first report, in a category group).
    incident: IncidentView | None = None
    #: The incident this ticket belongs to, named in the channel's entry ("K12").
    incident_label: str | None = None


class Renderer:
    """Renders the configured texts. Built once per config load."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.tz: tzinfo = config.tz
        self.html = config.telegram.parse_mode == "HTML"
        texts = config.texts
        notification = texts.telegram_notification if self.html else strip_tags(texts.telegram_notification)
        operator = texts.telegram_operator if self.html else strip_tags(texts.telegram_operator)
        self._notification = string.Template(notification)
        self._operator = string.Template(operator)
        batch_item = texts.telegram_batch_item if self.html else strip_tags(texts.telegram_batch_item)
        self._batch_item = string.Template(batch_item)
        followup = texts.telegram_followup if self.html else strip_tags(texts.telegram_followup)
        self._followup = string.Template(followup)
        answer = texts.telegram_answer if self.html else strip_tags(texts.telegram_answer)
        self._answer = string.Template(answer)

    @property
    def parse_mode(self) -> str | None:
        """The Bot API parse_mode argument (None for plain text)."""
        return "HTML" if self.html else None

    def escape(self, text: str) -> str:
        """Text for a template: controls dropped, numbers masked, HTML-escaped in HTML mode."""
        text = public_text(text)
        return html.escape(text, quote=False) if self.html else text

    def local_time(self, epoch: float) -> str:
        """``28-11-2026 14:05`` in the service's time zone."""
        return datetime.fromtimestamp(epoch, self.tz).strftime("%d-%m-%Y %H:%M")

    # -- SMS ----------------------------------------------------------------

    def ack_sms(self, ticket: str) -> str:
        return string.Template(self.config.texts.ack_sms).safe_substitute(
            ticket=ticket, centre_number=self.config.texts.centre_number
        )

    def help_sms(self) -> str:
        return string.Template(self.config.texts.help_sms).safe_substitute(
            centre_number=self.config.texts.centre_number
        )

    def status_sms(self, ticket: str, status: str, response: str | None, agency: str | None, received: float) -> str:
        return string.Template(self.config.texts.status_sms).safe_substitute(
            ticket=ticket,
            status=STATUS_WORDS.get(status, status),
            response=response or wording("status.no_response"),
            agency=agency or "-",
            received=self.local_time(received),
        )

    def status_unknown_sms(self, ticket: str | None) -> str:
        return string.Template(self.config.texts.status_unknown_sms).safe_substitute(
            ticket=ticket or "-", centre_number=self.config.texts.centre_number
        )

    # -- Telegram -------------------------------------------------------------

    @staticmethod
    def marker(view: TicketView) -> str:
        if view.kind == "spam":
            return wording("marker.spam")
        if "darurat" in view.groups:
            return wording("marker.emergency")
        return wording("marker.new")

    def ticket_notification(self, view: TicketView, body: str | None = None, part: str = "") -> str:
        """One ticket's notification; ``body`` replaces the text when it was split."""
        view = _public(view)
        group_names = ", ".join(self.config.group_name(g) for g in view.groups) or "-"
        text = view.text if body is None else body
        return self._notification.safe_substitute(
            marker=self.escape(self.marker(view) + part),
            ticket=view.number,
            hashtag=hashtag(view.number),
            groups=self.escape(group_names),
            regency=self.escape(view.regency or "-"),
            sender=mask_msisdn(view.sender),
            received=self.local_time(view.received_at),
            text=self.escape(text),
            kind=view.kind,
            keywords=self.escape(view.keywords or "-"),
        )

    def batch_item(self, view: TicketView) -> str:
        """A ticket as one entry of a combined message (several tickets waiting for one chat)."""
        view = _public(view)
        return self._batch_item.safe_substitute(
            marker=self.escape(self.marker(view)),
            ticket=view.number,
            hashtag=hashtag(view.number),
            groups=self.escape(", ".join(self.config.group_name(g) for g in view.groups) or "-"),
            regency=self.escape(view.regency or "-"),
            sender=mask_msisdn(view.sender),
            received=self.local_time(view.received_at),
            text=self.escape(view.text),
            kind=view.kind,
            keywords=self.escape(view.keywords or "-"),
        )

    def batch_entry(self, view: TicketView, budget: int) -> str | None:
        """``batch_item`` with the incident's state (or name) below it; None when it does not fit ``budget``."""
        entry = self.batch_item(view)
        mode = self.config.telegram.parse_mode
        if view.incident is not None:
            block = self.incident_block(view.incident, budget - visible_len(entry, mode) - 1, compact=True)
            if not block:
                return None
            entry += "\n" + block
        elif view.incident_label is not None:
            entry += "\n" + self.incident_marker(view.incident_label)
        return entry if visible_len(entry, mode) <= budget else None

    # -- incidents ----------------------------------------------------------------

    def incident_marker(self, label: str) -> str:
        """The line a linked report's entry carries in the channel."""
        line = wording("incident.linked", label=label)
        return f"<i>{line}</i>" if self.html else line

    def _incident_head(self, view: IncidentView) -> str:
        head = wording("incident.head", label=view.label)
        if view.status in ("closed", "merged", "dissolved"):
            head = wording("incident.head_word", head=head, word=wording(f"incident.word_{view.status}"))
        head = f"<b>{head}</b>" if self.html else head
        count = wording("incident.count", reports=view.reports, senders=view.senders)
        span = wording("incident.span", first=self.local_clock(view.first_at), last=self.local_clock(view.last_at))
        return f"{head}: {self._bold(count)} · {span}"

    def _bold(self, text: str) -> str:
        return f"<b>{self.escape(text)}</b>" if self.html else text

    def local_clock(self, epoch: float) -> str:
        """``14:05`` in the service's time zone."""
        return datetime.fromtimestamp(epoch, self.tz).strftime("%H:%M")

    def incident_block(self, view: IncidentView, budget: int, *, compact: bool = False) -> str:
        """The incident's state in at most ``budget`` visible characters ("" when not even its head fits).

        The fullest form that fits: head, place, latest response, the newest reports (up to
        three, each shortened), and how to answer; then fewer and shorter quotes; then the head.
        """
        mode = self.config.telegram.parse_mode
        head = self._incident_head(view)
        if view.status == "merged":
            merged = head + "\n" + self.escape(wording("incident.merged_into", target=view.merged_into))
            return merged if visible_len(merged, mode) <= budget else (
                head if visible_len(head, mode) <= budget else "")
        if view.status == "dissolved":
            return head if visible_len(head, mode) <= budget else ""
        place = " · ".join(p for p in (view.regency, *view.places) if p)
        lines = [head]
        if place:
            lines.append(self.escape(wording("incident.place", place=place)))
        if view.response:
            by = wording("incident.last_response_by", by=view.response_by) if view.response_by else ""
            lines.append(self.escape(wording("incident.last_response", by=by, response=shorten(view.response, 200))))
        answer = wording("incident.answer", label=view.label)
        tail = [] if view.status == "closed" else [self.escape(answer)]
        shapes = ((3, 160), (3, 90), (2, 70), (1, 60), (0, 0)) if not compact else ((2, 90), (1, 60), (0, 0))
        for quotes, chars in shapes:
            quoted = [wording("incident.quote", ticket=r.number, time=self.local_clock(r.received_at),
                           text=shorten(r.text, chars))
                      for r in view.newest[:quotes]]
            body = lines + ([self.escape(wording("incident.newest"))] + [self.escape(q) for q in quoted]
                            if quoted else [])
            for extra in (tail, []):
                block = "\n".join(body + extra)
                if visible_len(block, mode) <= budget:
                    return block
        return head if visible_len(head, mode) <= budget else ""

    def incident_message(self, view: IncidentView) -> str:
        """The incident's own message in a group (when there is no first report's message to edit)."""
        return self.incident_block(view, TELEGRAM_MAX)

    def threshold_notice(self, view: IncidentView, threshold: int) -> str:
        """The short new message when an incident's count reaches a threshold (edits make no sound)."""
        place = " · ".join(p for p in (view.regency, *view.places) if p)
        lines = [self._bold(wording("incident.threshold", label=view.label, reports=view.reports))
                 + wording("incident.threshold_passed", threshold=threshold)]
        if place:
            lines.append(self.escape(wording("incident.place", place=place)))
        lines.append(self.escape(wording("incident.threshold_answer", label=view.label)))
        return "\n".join(lines)

    def batch_header(self, count: int | str) -> str:
        header = wording("marker.batch_header", count=count)
        return f"<b>{header}</b>" if self.html else header

    def ticket_messages(self, view: TicketView) -> list[str]:
        """The notification, split when the SMS text alone exceeds Telegram's limit.

        The first report of an incident carries the incident's state below it (in a category
        group); a linked report names its incident (in the channel).
        """
        view = _public(view)  # masked before the split: a number cut in two would escape the mask
        whole = self.ticket_notification(view)
        mode = self.config.telegram.parse_mode
        if view.incident is not None:
            block = self.incident_block(view.incident, TELEGRAM_MAX - visible_len(whole, mode) - 2)
            if block:
                return [whole + "\n\n" + block]
        elif view.incident_label is not None:
            whole += "\n" + self.incident_marker(view.incident_label)
        if visible_len(whole, mode) <= TELEGRAM_MAX:
            return [whole]
        mode = self.config.telegram.parse_mode
        overhead = visible_len(self.ticket_notification(view, body="", part=" (99/99)"), mode)
        room = max(200, TELEGRAM_MAX - overhead - 16)
        chunks = split_text(view.text, room)
        return [
            self.ticket_notification(view, body=chunk, part=f" ({i}/{len(chunks)})")
            for i, chunk in enumerate(chunks, 1)
        ]

    def followup(self, ticket: str, sender: str | None, text: str, received: float) -> str:
        """A citizen's further SMS on a ticket (flood control), for its groups."""
        return self._followup.safe_substitute(
            ticket=ticket, hashtag=hashtag(ticket), sender=mask_msisdn(sender), received=self.local_time(received),
            text=self.escape(text),
        )

    def citizen_answer(self, ticket: str, sender: str | None, text: str, received: float,
                       other_groups: tuple[str, ...] = (), ambiguous: bool = False) -> str:
        """A citizen's SMS joined to a ticket as the answer to a PIC (laporgub/conversations.py), for its groups.

        An ambiguous one (it also names other topics) says so, and how to make it a ticket of its own.
        """
        note = ""
        if ambiguous:
            names = ", ".join(self.config.group_name(g) for g in other_groups) or wording("conversations.other_topics")
            note = self.escape(wording("conversations.ambiguous_note", groups=names))
            if self.html:
                note = f"<i>{note}</i>"
        return self._answer.safe_substitute(
            ticket=ticket, hashtag=hashtag(ticket), sender=mask_msisdn(sender), received=self.local_time(received),
            text=self.escape(text), note=note,
        )

    def answer_ack_sms(self, ticket: str) -> str:
        """The short acknowledgement of an answer joined to a ticket (no new number)."""
        return string.Template(self.config.texts.answer_ack_sms).safe_substitute(
            ticket=ticket, centre_number=self.config.texts.centre_number
        )

    def operator_message(self, sender: str, modem: str, received: float, text: str) -> str:
        # Operator senders are short codes or names (TELKOMSEL), not citizens: shown as they are.
        return self._operator.safe_substitute(
            sender=self.escape(sender), modem=self.escape(modem),
            received=self.local_time(received), text=self.escape(text),
        )


def _public(view: TicketView) -> TicketView:
    text = public_text(view.text)
    return view if text == view.text else replace(view, text=text)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, numbers masked first (a cut must not leave a number's start whole),
    cut at a word boundary to at most ``limit`` characters."""
    flat = " ".join(public_text(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit - 1)
    return flat[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-16 units, at whitespace when possible."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        cut = 0
        units = 0
        for i, ch in enumerate(rest):
            units += 2 if ord(ch) > 0xFFFF else 1
            if units > limit:
                cut = i
                break
        space = rest.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return pieces


def coalesce(
    messages: Sequence[str], parse_mode: str, limit: int = TELEGRAM_MAX, separator: str = SEPARATOR,
    header: str = "",
) -> list[tuple[int, str]]:
    """Pack consecutive messages into as few Telegram messages as fit.

    Returns ``(count, text)`` pairs: each text holds the next ``count`` inputs
    (after ``header`` when several are combined).
    """
    packed: list[tuple[int, str]] = []
    current: list[str] = []
    sep = visible_len(separator, parse_mode)
    head = visible_len(header + separator, parse_mode) if header else 0
    size = head

    def flush() -> None:
        text = separator.join(current)
        if header and len(current) > 1:
            text = header.replace("{n}", str(len(current))) + separator + text
        packed.append((len(current), text))

    for message in messages:
        length = visible_len(message, parse_mode)
        if current and size + sep + length > limit:
            flush()
            current, size = [], head
        size = size + (sep if current else 0) + length
        current.append(message)
    if current:
        flush()
    return packed
