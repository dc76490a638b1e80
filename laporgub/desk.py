"""What the PICs' desk (laporgub/responses.py) and its incident half (laporgub/incident_desk.py) share:
the message snapshot, who may act on a ticket, the ``[texts]`` renderer and the effects of handling one
message. Here, in a module of its own, so that neither desk imports the other for them."""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field

from laporgub.config import Config, PicConfig
from laporgub.render import Renderer, strip_tags


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One Telegram message from getUpdates, as a plain snapshot (PTB objects stay in the gateway thread).

    Attributes:
        update_id: the update that carried it (the next offset is this + 1).
        chat_id / chat_type: where it was written (``private``, ``group``, ``supergroup``, ``channel``).
        message_id: the message, for replies that quote it.
        user_id / user_name: who wrote it (None for channel posts).
        text: the text, or None (stickers, photos, service messages).
        reply_to_message_id: the message it replies to, if any.
        reply_to_bot: that message was written by a bot (ours, as privacy mode shows only those).
    """

    update_id: int
    chat_id: int
    chat_type: str
    message_id: int
    user_id: int | None
    user_name: str
    text: str | None
    reply_to_message_id: int | None = None
    reply_to_bot: bool = False


def may_act(pic: PicConfig | None, ticket_groups: Iterable[str]) -> bool:
    """Whether ``pic`` may act on a ticket whose active groups are ``ticket_groups``."""
    if pic is None:
        return False
    return pic.admin or any(g in pic.groups for g in ticket_groups)


class Texts:
    """Renders the ``[texts]`` templates this module and the follow-up monitor add."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.renderer = Renderer(config)
        self.html = self.renderer.html

    def escape(self, text: str) -> str:
        return self.renderer.escape(text)

    def telegram(self, key: str, **values: str) -> str:
        """A Telegram text: ``values`` must already be escaped where they are citizen or PIC text."""
        template = getattr(self.config.texts, key)
        if not self.html:
            template = html.unescape(strip_tags(template))
        return string.Template(template).safe_substitute(values).strip()

    def sms(self, key: str, **values: str) -> str:
        """An SMS text (no markup), with runs of spaces left by empty variables closed up."""
        text = string.Template(getattr(self.config.texts, key)).safe_substitute(
            centre_number=self.config.texts.centre_number, **values
        )
        return re.sub(r"[ \t]{2,}", " ", text).strip()

    def local_time(self, epoch: float) -> str:
        return self.renderer.local_time(epoch)

    def group_names(self, groups: Iterable[str]) -> str:
        return ", ".join(self.config.group_name(g) for g in groups) or "-"


@dataclass
class _Effects:
    destinations: list[str] = field(default_factory=list)
    outbound_sms: bool = False
    replies: int = 0

    def notify(self, dest: str) -> None:
        if dest not in self.destinations:
            self.destinations.append(dest)
