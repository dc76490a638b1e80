"""The configuration schema, declared once, and its loader.

config.toml is parsed with the standard library's :mod:`tomllib` and validated
into frozen dataclasses at load. Every problem is collected and reported as
one line naming the key (``groups.kesehatan.chat_id: must be an integer``),
as Mopidy's ``ConfigSchema.deserialize`` does; nothing is read piecemeal at the
point of use. Keys the operator is expected to set have no default; the few
optional keys have their default next to their declaration below.

Secrets never live in config.toml: the bot token is read from the environment
variable or the file the config names (or the systemd credential
``telegram_token``).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import string
import tomllib
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laporgub.exceptions import ConfigError
from laporgub.report.settings import FORMATS, ReportConfig
from laporgub.types import GROUP_KEYS

__all__ = [
    "Config",
    "ConfigError",
    "FollowupConfig",
    "GroupConfig",
    "LeaderConfig",
    "ModemConfig",
    "PicConfig",
    "Secret",
    "SmsConfig",
    "default_config_path",
    "load_config",
    "parse_config",
    "check_secret_files",
    "exposed_secret_file",
    "read_token",
    "read_webhook_secrets",
    "WebhookConfig",
]

# Group keys that carry topic keywords; channel receives everything and
# kabkota is routed by regency, so their keyword lists may be empty.
_KEYWORDLESS_GROUPS = {"channel", "kabkota"}

_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Secret(str):
    """A string that never shows itself in logs, reprs or ``config --show``."""

    def __repr__(self) -> str:
        return "'********'"

    def masked(self) -> str:
        """Return the placeholder shown instead of the value."""
        return "********"


@dataclass(frozen=True, slots=True)
class Listen:
    """A ``host:port`` to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """``[service]``: where state lives and which clock tickets use."""

    database: str
    timezone: str
    log_level: str = "INFO"
    #: Log level per component (``modem = "DEBUG"``), beside ``log_level`` for the rest.
    log_levels: Mapping[str, str] = field(default_factory=dict)
    #: An actor that does not answer the supervisor's ping this long is hung: it is
    #: restarted, and systemd's watchdog is not fed meanwhile.
    actor_hang_seconds: float = 90.0
    #: This instance's id among several sharing one database (None: ``<hostname>:<pid>``); see leases.py.
    instance: str | None = None
    #: A dead instance's roles (sending to a chat, getUpdates) are taken over after this.
    lease_seconds: float = 15.0
    #: A dead instance's in-flight outbox rows (notifications, SMS, chat answers) are sent again after this.
    claim_seconds: float = 120.0


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``[metrics]``: the Prometheus endpoint."""

    listen: Listen | None


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One ``[[api.webhooks]]`` entry: a website URL that receives signed ticket events."""

    name: str
    url: str
    #: The HMAC secret comes from this environment variable or file (never from config.toml).
    secret_env: str | None = None
    secret_file: str | None = None
    #: An event not delivered this long after it was queued is given up (``dead``); replay re-sends it.
    dead_after_hours: float = 24.0
    #: First retry after this many seconds, doubling up to ``max_backoff_seconds``.
    initial_backoff_seconds: float = 5.0
    max_backoff_seconds: float = 600.0
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """``[api]``: the website HTTP API (docs/api.md) and its webhooks."""

    listen: Listen | None = None
    #: Largest request body accepted, in bytes (413 above it).
    max_body_bytes: int = 65536
    #: Requests per minute per API key (429 with Retry-After above it); bursts up to the same number.
    rate_limit_per_minute: int = 120
    webhooks: tuple[WebhookConfig, ...] = ()
    #: A request's line and headers must arrive within this after the connection (or its first byte on a
    #: kept-alive one), its body within body_timeout_seconds after the headers; else the connection is closed.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    #: A kept-alive connection idle this long is closed.
    keepalive_timeout_seconds: float = 5.0
    #: Open connections at most; one more is answered 503 and closed (keep well below LimitNOFILE).
    max_connections: int = 256


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """``[telegram]``: Bot API endpoint, where the token is, admin chat, pacing."""

    base_url: str
    admin_chat_id: int
    token_env: str | None = None
    token_file: str | None = None
    parse_mode: str = "HTML"  # "HTML" or "none"
    base_file_url: str | None = None
    #: Telegram allows about 20 messages a minute into one group, as a sliding
    #: window: pacing evenly (one every 3.2 s, a margin for jitter) avoids retry_after penalties.
    group_interval_seconds: float = 3.2
    private_interval_seconds: float = 1.0
    request_timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class SlaConfig:
    """``[sla]``: the SOP's time limits per stage, in seconds."""

    register_seconds: float = 9.0
    filter_seconds: float = 27.0
    notify_seconds: float = 9.0
    deliver_seconds: float = 3.0

    def as_dict(self) -> dict[str, float]:
        """Return ``{stage: seconds}`` for the four stages."""
        return {
            "register": self.register_seconds,
            "filter": self.filter_seconds,
            "notify": self.notify_seconds,
            "deliver": self.deliver_seconds,
        }


@dataclass(frozen=True, slots=True)
class ModemConfig:
    """One ``[[modems]]`` entry."""

    name: str
    port: str
    baudrate: int = 115200
    pin_env: str | None = None  # name of an environment variable holding the SIM PIN
    storage: str = "SM"
    #: Safety net for +CMTI indications lost while the port was closed or busy.
    sweep_interval_seconds: float = 30.0
    command_timeout_seconds: float = 10.0
    #: After this many failed connections in a row, the admin chat is told (once until it recovers).
    failures_before_alert: int = 5


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """One ``[groups.<key>]`` table."""

    key: str
    name: str
    chat_id: int
    keywords: tuple[str, ...] = ()
    negative_keywords: tuple[str, ...] = ()
    #: Factor on this group's keyword evidence (above 1 matches more readily).
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class PicConfig:
    """One ``[[pics]]`` entry: a person in charge who answers in Telegram."""

    telegram_id: int
    name: str
    agency: str
    surat_tugas: str
    groups: tuple[str, ...]
    admin: bool = False


@dataclass(frozen=True, slots=True)
class LeaderConfig:
    """One ``[[leaders]]`` entry: a chat that receives complaints of its groups and regencies."""

    name: str
    chat_id: int
    groups: tuple[str, ...] = ()  # "*" means every group
    regencies: tuple[str, ...] = ()

    def wants(self, groups: tuple[str, ...], regency: str | None) -> bool:
        """Whether a complaint routed to ``groups`` and naming ``regency`` goes to this leader."""
        if "*" in self.groups or any(g in self.groups for g in groups):
            return True
        return regency is not None and regency in self.regencies


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """``[intake]``: how inbound SMS become tickets."""

    #: An incomplete multipart SMS is registered anyway after this wait.
    concat_wait_minutes: float = 10.0
    #: Flood control: more than flood_count SMS from one number within
    #: flood_window_minutes become follow-ups of its latest open ticket.
    flood_count: int = 5
    flood_window_minutes: float = 10.0
    #: Follow-ups of one ticket are posted together, at most this often.
    followup_interval_minutes: float = 3.0
    #: Fewer meaningful words than this make an SMS "too short".
    min_words: int = 2
    #: Typo tolerance: words shorter than this are never read as a misspelt keyword (0: off) ...
    typo_min_length: int = 6
    #: ... and from this length on, two typing errors are forgiven.
    typo_two_edit_length: int = 9


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """``[abbreviations]``: SMS spellings to read as words, added to the shipped dictionary;
    ``[routing]``: the learned model beside the keyword rules."""

    abbreviations: Mapping[str, str] = field(default_factory=dict)
    #: The learned model chooses the groups of a complaint no keyword routes (instead of
    #: pelayanan_publik) and drops a group resting on one shipped keyword it finds unlikely.
    model: bool = True


@dataclass(frozen=True, slots=True)
class SpamConfig:
    """``[spam]``: phrases that mark promotions and fraud."""

    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FollowupConfig:
    """``[followup]``: monitoring of follow-up and completion (the SOP asks PICs and admins to watch it)."""

    #: A complaint without a PIC response this long gets a reminder in its groups (0: no reminders).
    reminder_hours: float = 24.0
    #: ... and this long, it is escalated to its leaders' chats and the admin chat (0: no escalation).
    escalate_hours: float = 72.0
    #: Daily digest of each group's unfinished tickets at this service-time ``HH:MM`` ("off": none).
    digest_time: str = "07:00"
    #: At most this many tickets listed per digest (the rest are counted).
    digest_max_tickets: int = 50
    #: How often the monitor looks for due steps.
    check_interval_seconds: float = 60.0

    @property
    def digest_at(self) -> tuple[int, int] | None:
        """``(hour, minute)`` of the digest, or None when it is off."""
        if self.digest_time.strip().lower() == "off":
            return None
        hour, minute = self.digest_time.strip().split(":")
        return int(hour), int(minute)


@dataclass(frozen=True, slots=True)
class SmsConfig:
    """``[sms]``: what the centre may send by SMS (only to Indonesian mobile numbers; see laporgub/smsguard.py)."""

    #: SMS to one number within 24 hours; further ones are refused (logged, counted, admins told once a day).
    max_per_number_per_day: int = 20
    #: SMS in total within 24 hours.
    max_per_day: int = 2000
    #: Every SMS is cut to at most this many parts.
    max_parts: int = 6
    #: A PIC's reply to the citizen is cut to this many parts; its end tells the citizen to send CEK <ticket>.
    reply_max_parts: int = 3


@dataclass(frozen=True, slots=True)
class IncidentsConfig:
    """``[incidents]``: complaints about one event linked into one incident (laporgub/incidents.py)."""

    #: Link complaints at all (false: every complaint is notified on its own, as before).
    enabled: bool = True
    #: An incident takes reports for this long after its latest one; then it ends.
    window_hours: float = 6.0
    #: How alike a report must be to one of the incident's (0..1; higher links less).
    similarity: float = 0.55
    #: The incident's message in a group is edited at most this often.
    edit_interval_seconds: float = 30.0
    #: A short new message when the number of reports reaches each of these.
    thresholds: tuple[int, ...] = (5, 20, 50, 100)


@dataclass(frozen=True, slots=True)
class ConversationsConfig:
    """``[conversations]``: a citizen's SMS answering a PIC joins that ticket (laporgub/conversations.py)."""

    #: Thread answers at all (false: every SMS is judged on its own, as before).
    enabled: bool = True
    #: An SMS joins the open ticket a PIC wrote to within this many hours (0: never).
    window_hours: float = 72.0
    #: A citizen asked a question (``/tanya``, a reply ending in "?") is reminded once by SMS after this
    #: many hours without an answer (0: no reminder).
    remind_citizen_hours: float = 24.0


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    """``[privacy]``: personal data (UU 27/2022): how long citizens' numbers are kept."""

    #: A closed ticket last updated this many months ago loses the citizen's number (figures stay for reports).
    retention_months: int = 24
    #: Audit log entries older than this many months are deleted (0: kept for ever).
    audit_retention_months: int = 0
    #: The secret keying stored request hashes comes from this environment variable or file (never from
    #: config.toml); without either, the systemd credential ``request_hash_key``, else one derived from the token.
    hash_key_env: str | None = None
    hash_key_file: str | None = None


def _check_clock_time(text: str) -> str | None:
    if text.strip().lower() == "off":
        return None
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return f'must be a time HH:MM (e.g. "07:00") or "off", not {text!r}'
    return None


#: Template variables each text may use (``$name``), checked at load.
TEXT_VARIABLES: dict[str, frozenset[str]] = {
    "ack_sms": frozenset({"ticket", "centre_number"}),
    "help_sms": frozenset({"centre_number"}),
    "status_sms": frozenset({"ticket", "status", "response", "agency", "received"}),
    "status_unknown_sms": frozenset({"ticket", "centre_number"}),
    "telegram_notification": frozenset(
        {"marker", "ticket", "hashtag", "groups", "regency", "sender", "received", "text", "kind", "keywords"}
    ),
    "telegram_operator": frozenset({"sender", "modem", "received", "text"}),
    "telegram_followup": frozenset({"ticket", "hashtag", "sender", "received", "text"}),
    "telegram_batch_item": frozenset(
        {"marker", "ticket", "hashtag", "groups", "regency", "sender", "received", "text", "kind", "keywords"}
    ),
    "response_sms": frozenset({"ticket", "agency", "response", "centre_number"}),
    "closed_sms": frozenset({"ticket", "agency", "response", "centre_number"}),
    "telegram_rerouted": frozenset({"ticket", "hashtag", "from_groups", "to_group", "pic", "agency"}),
    "telegram_reminder": frozenset(
        {"ticket", "hashtag", "groups", "regency", "sender", "received", "hours", "text"}
    ),
    "telegram_escalation": frozenset(
        {"ticket", "hashtag", "groups", "regency", "sender", "received", "hours", "text"}
    ),
    "telegram_digest": frozenset({"group", "date", "count", "items", "more"}),
    "telegram_digest_item": frozenset({"ticket", "hashtag", "status", "received", "days", "text"}),
}

#: Texts of conversations (issue 19), with defaults: a config.toml written before them stays valid.
CONVERSATION_TEXTS: dict[str, tuple[frozenset[str], str]] = {
    "answer_ack_sms": (frozenset({"ticket", "centre_number"}),
                       "Terima kasih, jawaban Anda diteruskan ke petugas (tiket $ticket)."),
    "question_sms": (frozenset({"ticket", "agency", "response", "centre_number"}),
                     "LAPOR GUB! Pertanyaan $agency atas tiket $ticket: $response (balas SMS ini untuk menjawab)"),
    "citizen_reminder_sms": (frozenset({"ticket", "agency", "response", "centre_number"}),
                             "LAPOR GUB! Petugas $agency masih menunggu jawaban Anda atas tiket $ticket: $response "
                             "(balas SMS ini untuk menjawab)"),
    "telegram_answer": (frozenset({"ticket", "hashtag", "sender", "received", "text", "note"}),
                        "💬 <b>Jawaban pelapor</b> untuk tiket <b>$ticket</b> $hashtag dari $sender "
                        "($received WIB):\n$text$note"),
}


@dataclass(frozen=True, slots=True)
class TextsConfig:
    """``[texts]``: what the service says, as ``string.Template`` texts (``$ticket``)."""

    centre_number: str
    ack_sms: str
    help_sms: str
    status_sms: str
    status_unknown_sms: str
    telegram_notification: str
    telegram_operator: str
    telegram_followup: str
    telegram_batch_item: str
    response_sms: str
    closed_sms: str
    telegram_rerouted: str
    telegram_reminder: str
    telegram_escalation: str
    telegram_digest: str
    telegram_digest_item: str
    answer_ack_sms: str = CONVERSATION_TEXTS["answer_ack_sms"][1]
    question_sms: str = CONVERSATION_TEXTS["question_sms"][1]
    citizen_reminder_sms: str = CONVERSATION_TEXTS["citizen_reminder_sms"][1]
    telegram_answer: str = CONVERSATION_TEXTS["telegram_answer"][1]


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    service: ServiceConfig
    metrics: MetricsConfig
    api: ApiConfig
    telegram: TelegramConfig
    sla: SlaConfig
    intake: IntakeConfig
    modems: tuple[ModemConfig, ...]
    groups: Mapping[str, GroupConfig]
    pics: tuple[PicConfig, ...]
    leaders: tuple[LeaderConfig, ...]
    spam: SpamConfig
    texts: TextsConfig
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    followup: FollowupConfig = field(default_factory=FollowupConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    incidents: IncidentsConfig = field(default_factory=IncidentsConfig)
    conversations: ConversationsConfig = field(default_factory=ConversationsConfig)
    path: str | None = field(default=None, compare=False)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        """The service's time zone (ticket dates, times shown to people)."""
        return zoneinfo.ZoneInfo(self.service.timezone)

    def group_name(self, key: str) -> str:
        """Human name of a group key (falls back to the key)."""
        group = self.groups.get(key)
        return group.name if group else key


# --------------------------------------------------------------------------
# The validating reader: every problem is collected, with the key's path.

_MISSING: Any = object()


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")


class _Table:
    """A TOML table being read; reports problems under its dotted path."""

    def __init__(self, data: Mapping[str, Any], path: str, problems: _Problems) -> None:
        self.data = data
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self.problems.add(self._key(key), "missing (required)")
        return default

    def str(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        choices: tuple[str, ...] | None = None,
        nonempty: bool = True,
        check: Callable[[str], str | None] | None = None,
    ) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if not isinstance(value, str):
            self.problems.add(self._key(key), f"must be a string, not {_tname(value)}")
            return default if default is not _MISSING else ""
        if nonempty and not value.strip():
            self.problems.add(self._key(key), "must not be empty")
        if choices is not None and value not in choices:
            self.problems.add(
                self._key(key), f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}"
            )
        if check is not None:
            message = check(value)
            if message:
                self.problems.add(self._key(key), message)
        return value

    def int(self, key: str, default: Any = _MISSING, *, min: int | None = None, max: int | None = None,
            choices: tuple[int, ...] | None = None, nonzero: bool = False, telegram_id: bool = False) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(self._key(key), f"must be an integer, not {_tname(value)}")
            return 0 if default is _MISSING else default
        if telegram_id and not _telegram_id_ok(value):
            self.problems.add(self._key(key), _TELEGRAM_ID_PROBLEM.format(value=value))
            return value
        if choices is not None and value not in choices:
            self.problems.add(
                self._key(key), f"must be one of {', '.join(str(c) for c in choices)}, not {value}"
            )
        if min is not None and value < min:
            self.problems.add(self._key(key), f"must be at least {min}, not {value}")
        if max is not None and value > max:
            self.problems.add(self._key(key), f"must be at most {max}, not {value}")
        if nonzero and value == 0:
            self.problems.add(self._key(key), "must not be 0")
        return value

    def float(self, key: str, default: Any = _MISSING, *, min: float | None = None,
              max: float | None = None, positive: bool = False) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problems.add(self._key(key), f"must be a number, not {_tname(value)}")
            return 0.0 if default is _MISSING else default
        value = float(value)
        if positive and value <= 0:
            self.problems.add(self._key(key), f"must be greater than 0, not {value:g}")
        if min is not None and value < min:
            self.problems.add(self._key(key), f"must be at least {min:g}, not {value:g}")
        if max is not None and value > max:
            self.problems.add(self._key(key), f"must be at most {max:g}, not {value:g}")
        return value

    def bool(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if not isinstance(value, bool):
            self.problems.add(self._key(key), f"must be true or false, not {_tname(value)}")
            return False
        return value

    def str_list(self, key: str, default: Any = _MISSING, *, lower: bool = False) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if not isinstance(value, list):
            self.problems.add(self._key(key), f"must be a list of strings, not {_tname(value)}")
            return ()
        items: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.problems.add(f"{self._key(key)}[{i}]", f"must be a string, not {_tname(item)}")
            elif not item.strip():
                self.problems.add(f"{self._key(key)}[{i}]", "must not be empty")
            else:
                items.append(item.strip().lower() if lower else item.strip())
        return tuple(items)

    def table(self, key: str, *, required: bool = True) -> _Table:
        value = self._get(key, _MISSING if required else {})
        if value is _MISSING:
            return _Table({}, self._key(key), _Problems())  # already reported
        if not isinstance(value, dict):
            self.problems.add(self._key(key), f"must be a table, not {_tname(value)}")
            value = {}
        return _Table(value, self._key(key), self.problems)

    def array_of_tables(self, key: str, *, required: bool = True) -> Iterator[_Table]:
        value = self._get(key, _MISSING if required else [])
        if value is _MISSING:
            return
        if not isinstance(value, list):
            self.problems.add(self._key(key), f"must be an array of tables ([[{key}]]), not {_tname(value)}")
            return
        if required and not value:
            self.problems.add(self._key(key), "needs at least one entry")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.problems.add(f"{self._key(key)}[{i}]", f"must be a table, not {_tname(item)}")
                continue
            yield _Table(item, f"{self._key(key)}[{i}]", self.problems)

    def finish(self, *, secrets: Mapping[str, str] | None = None) -> None:
        """Report keys nobody asked for: typos get a "Did you mean" hint."""
        for key in self.data:
            if key in self.seen:
                continue
            if secrets and key in secrets:
                self.problems.add(self._key(key), secrets[key])
                continue
            hint = difflib.get_close_matches(key, sorted(self.seen), n=1, cutoff=0.6)
            suffix = f" Did you mean '{hint[0]}'?" if hint else ""
            self.problems.add(self._key(key), f"unknown config key.{suffix}")


#: Telegram user and chat ids have at most 52 significant bits (the Bot API's own promise).
TELEGRAM_ID_LIMIT = 2**52
_TELEGRAM_ID_PROBLEM = ("not a Telegram id: {value} has more than 52 bits (chat ids look like -1001234567890, "
                        "user ids like 123456789; the bot's getUpdates or @RawDataBot shows them)")


def _telegram_id_ok(value: int) -> bool:
    return 0 < abs(value) < TELEGRAM_ID_LIMIT


def _tname(value: Any) -> str:
    return {
        str: "a string", int: "an integer", float: "a number", bool: "a boolean",
        list: "a list", dict: "a table",
    }.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------
# Checks for single values.


def _check_listen(text: str) -> str | None:
    try:
        _parse_listen(text)
    except ValueError as exc:
        return str(exc)
    return None


def _parse_listen(text: str) -> Listen:
    match = re.fullmatch(r"\[?([^\[\]]*?)\]?:(\d{1,5})", text.strip())
    if not match:
        raise ValueError(f"must be host:port, not {text!r}")
    host, port = match.group(1), int(match.group(2))
    if not 0 <= port < 65536:  # 0: any free port (tests)
        raise ValueError(f"port must be 0-65535, not {port}")
    if host not in ("localhost", "") and not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"host {host!r} is not a host name or an IP address") from None
    return Listen(host or "0.0.0.0", port)


def _check_timezone(name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (e.g. 'Asia/Jakarta')"
    return None


def _check_database(url: str) -> str | None:
    if url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    if re.match(r"(postgres(ql)?|postgresext|psycopg3|postgres\+pool|psycopg3\+pool)://", url):
        return _url_password(url, "give the password in ~/.pgpass (or PGPASSFILE) of the service user")
    return "must be a sqlite:///PATH or postgresql://... URL"


#: A Telegram bot token: ``<bot id>:<35 characters>``.
_BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")


def _url_password(url: str, instead: str) -> str | None:
    """A problem when ``url`` carries a password (``user:secret@host`` or ``?password=``); never the value."""
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return None
    if password or any(k.lower() in ("password", "passwd") for k in parse_qs(parts.query)):
        return f"contains a password; secrets do not belong in config.toml ({instead})"
    return None


def _check_secret_path(text: str) -> str | None:
    """A ``*_file`` key must name a file, not hold the secret itself (a bot token, for one)."""
    if _BOT_TOKEN.search(text):
        return ("holds a bot token, not a file name; put the token in a file (mode 0600) or a systemd "
                "credential and name that here")
    return None


def _check_url(url: str) -> str | None:
    if _BOT_TOKEN.search(url):
        return "contains a bot token; the token is read from token_env or token_file and appended, never written here"
    if not re.match(r"https?://[^\s/]+", url):
        return f"must be an http(s) URL, not {url!r}"
    return _url_password(url, "name the secret with an *_env or *_file key")


def _check_env_name(name: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        # Not echoed: a secret put here by mistake must not reach a terminal or a log.
        return ("must be the name of an environment variable (letters, digits and _, not starting with a "
                "digit); the value is not shown, as it may be the secret itself")
    return None


def _check_template(key: str, allowed: frozenset[str]) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        template = string.Template(text)
        if not template.is_valid():
            return "invalid template: a '$' must start $name or ${name} (write $$ for a dollar sign)"
        unknown = sorted(set(template.get_identifiers()) - allowed)
        if unknown:
            return (
                f"unknown template variable(s) {', '.join('$' + u for u in unknown)}; "
                f"allowed: {', '.join('$' + a for a in sorted(allowed))}"
            )
        return None

    return check


# --------------------------------------------------------------------------
# The schema.


def parse_config(data: Mapping[str, Any], *, path: str | None = None) -> Config:
    """Validate parsed TOML into a :class:`Config`.

    Raises:
        ConfigError: with one line per problem, each naming its key.
    """
    problems = _Problems()
    root = _Table(data, "", problems)

    t = root.table("service")
    service = ServiceConfig(
        database=t.str("database", check=_check_database),
        timezone=t.str("timezone", check=_check_timezone),
        log_level=t.str("log_level", "INFO", choices=_LOG_LEVELS),
        actor_hang_seconds=t.float("actor_hang_seconds", 90.0, min=1.0, max=3600.0),
        log_levels=_log_levels(t),
        instance=t.str("instance", None, check=lambda v: None if re.fullmatch(r"[A-Za-z0-9._:@-]{1,48}", v)
                       else "must be 1-48 letters, digits or . _ : @ -"),
        lease_seconds=t.float("lease_seconds", 15.0, min=1.0, max=600.0),
        claim_seconds=t.float("claim_seconds", 120.0, min=5.0, max=3600.0),
    )
    t.finish()

    t = root.table("metrics")
    listen = t.str("listen", check=_check_listen)
    metrics = MetricsConfig(listen=_safe_listen(listen))
    t.finish()

    t = root.table("api", required=False)
    api_listen = t.str("listen", None, check=_check_listen)
    webhooks: list[WebhookConfig] = []
    for w in t.array_of_tables("webhooks", required=False):
        hook = WebhookConfig(
            name=w.str("name", check=lambda v: None if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", v)
                       else "use up to 64 letters, digits, '.', '_' and '-'"),
            url=w.str("url", check=_check_url),
            secret_env=w.str("secret_env", None, check=_check_env_name),
            secret_file=w.str("secret_file", None, check=_check_secret_path),
            dead_after_hours=w.float("dead_after_hours", 24.0, positive=True, max=24.0 * 30),
            initial_backoff_seconds=w.float("initial_backoff_seconds", 5.0, positive=True, max=3600.0),
            max_backoff_seconds=w.float("max_backoff_seconds", 600.0, positive=True, max=86400.0),
            timeout_seconds=w.float("timeout_seconds", 10.0, positive=True, max=60.0),
        )
        if hook.secret_env is None and hook.secret_file is None:
            problems.add(w.path, "set secret_env (an environment variable name) or secret_file (a path)")
        if hook.name in {h.name for h in webhooks}:
            problems.add(f"{w.path}.name", f"duplicate webhook name {hook.name!r}")
        w.finish(secrets={"secret": "secrets do not belong in config.toml; name them with secret_env or secret_file"})
        webhooks.append(hook)
    api = ApiConfig(
        listen=_safe_listen(api_listen),
        max_body_bytes=t.int("max_body_bytes", 65536, min=1024, max=10 * 1024 * 1024),
        rate_limit_per_minute=t.int("rate_limit_per_minute", 120, min=1, max=1_000_000),
        webhooks=tuple(webhooks),
        header_timeout_seconds=t.float("header_timeout_seconds", 10.0, positive=True, max=300.0),
        body_timeout_seconds=t.float("body_timeout_seconds", 30.0, positive=True, max=600.0),
        keepalive_timeout_seconds=t.float("keepalive_timeout_seconds", 5.0, positive=True, max=300.0),
        max_connections=t.int("max_connections", 256, min=1, max=100_000),
    )
    t.finish()

    t = root.table("telegram")
    telegram = TelegramConfig(
        base_url=t.str("base_url", check=_check_url),
        base_file_url=t.str("base_file_url", None, check=_check_url),
        token_env=t.str("token_env", None, check=_check_env_name),
        token_file=t.str("token_file", None, check=_check_secret_path),
        admin_chat_id=t.int("admin_chat_id", nonzero=True, telegram_id=True),
        parse_mode=t.str("parse_mode", "HTML", choices=("HTML", "none")),
        group_interval_seconds=t.float("group_interval_seconds", 3.2, min=0.0, max=60.0),
        private_interval_seconds=t.float("private_interval_seconds", 1.0, min=0.0, max=60.0),
        request_timeout_seconds=t.float("request_timeout_seconds", 5.0, positive=True, max=120.0),
    )
    if telegram.token_env is None and telegram.token_file is None:
        problems.add("telegram", "set token_env (an environment variable name) or token_file (a path)")
    t.finish(secrets={"token": "secrets do not belong in config.toml; name them with token_env or token_file"})

    t = root.table("sla", required=False)
    sla = SlaConfig(
        register_seconds=t.float("register_seconds", 9.0, positive=True),
        filter_seconds=t.float("filter_seconds", 27.0, positive=True),
        notify_seconds=t.float("notify_seconds", 9.0, positive=True),
        deliver_seconds=t.float("deliver_seconds", 3.0, positive=True),
    )
    t.finish()

    t = root.table("intake", required=False)
    intake = IntakeConfig(
        concat_wait_minutes=t.float("concat_wait_minutes", 10.0, positive=True),
        flood_count=t.int("flood_count", 5, min=1),
        flood_window_minutes=t.float("flood_window_minutes", 10.0, positive=True),
        followup_interval_minutes=t.float("followup_interval_minutes", 3.0, min=0.0, max=120.0),
        min_words=t.int("min_words", 2, min=1, max=10),
        typo_min_length=t.int("typo_min_length", 6, min=0, max=30),
        typo_two_edit_length=t.int("typo_two_edit_length", 9, min=2, max=40),
    )
    t.finish()

    modems: list[ModemConfig] = []
    names: set[str] = set()
    for m in root.array_of_tables("modems"):
        modem = ModemConfig(
            name=m.str("name", check=lambda v: None if re.fullmatch(r"[A-Za-z0-9_.-]+", v)
                       else "use letters, digits, '.', '_' and '-' only"),
            port=m.str("port"),
            baudrate=m.int("baudrate", 115200, choices=_BAUDRATES),
            pin_env=m.str("pin_env", None, check=_check_env_name),
            storage=m.str("storage", "SM", choices=("SM", "ME", "MT", "SR", "BM")),
            sweep_interval_seconds=m.float("sweep_interval_seconds", 30.0, min=0.2, max=600.0),
            command_timeout_seconds=m.float("command_timeout_seconds", 10.0, positive=True, max=120.0),
            failures_before_alert=m.int("failures_before_alert", 5, min=1, max=1000),
        )
        if modem.name in names:
            problems.add(f"{m.path}.name", f"duplicate modem name {modem.name!r}")
        names.add(modem.name)
        same = [other for other in modems if _same_port(other.port, modem.port)]
        if isinstance(modem.port, str) and modem.port.strip() and same:
            problems.add(f"{m.path}.port", f"{modem.port!r} is also the port of modem {same[0].name!r}: two "
                                           "readers on one modem take each other's SMS and answers; give each modem "
                                           "its own port")
        m.finish(secrets={"pin": "secrets do not belong in config.toml; name an environment variable with pin_env"})
        modems.append(modem)

    groups: dict[str, GroupConfig] = {}
    t = root.table("groups")
    for key in GROUP_KEYS:
        if key not in t.data:
            t.seen.add(key)
            problems.add(f"groups.{key}", f"missing: every group needs a table (the {len(GROUP_KEYS)} groups are "
                                          f"{', '.join(GROUP_KEYS)}; see docs/sop.md)")
            continue
        g = t.table(key)
        keywords = g.str_list("keywords", () if key in _KEYWORDLESS_GROUPS else _MISSING, lower=True)
        groups[key] = GroupConfig(
            key=key,
            name=g.str("name"),
            chat_id=g.int("chat_id", nonzero=True, telegram_id=True),
            keywords=keywords if isinstance(keywords, tuple) else (),
            negative_keywords=g.str_list("negative_keywords", (), lower=True),
            weight=g.float("weight", 1.0, positive=True, max=10.0),
        )
        g.finish()
    for key in t.data:
        if key not in GROUP_KEYS:
            t.seen.add(key)
            hint = difflib.get_close_matches(key, GROUP_KEYS, n=1, cutoff=0.6)
            suffix = f" Did you mean '{hint[0]}'?" if hint else ""
            problems.add(f"groups.{key}", f"unknown group; the {len(GROUP_KEYS)} group keys are fixed: "
                                          f"{', '.join(GROUP_KEYS)}.{suffix}")
    t.finish()

    pics: list[PicConfig] = []
    pic_ids: set[int] = set()
    for p in root.array_of_tables("pics", required=False):
        pic = PicConfig(
            telegram_id=p.int("telegram_id", min=1, telegram_id=True),
            name=p.str("name"),
            agency=p.str("agency"),
            surat_tugas=p.str("surat_tugas"),
            groups=p.str_list("groups"),
            admin=p.bool("admin", False),
        )
        _check_group_refs(p, "groups", pic.groups, problems, allow_star=False)
        if pic.telegram_id in pic_ids:
            problems.add(f"{p.path}.telegram_id", f"duplicate PIC telegram_id {pic.telegram_id}")
        pic_ids.add(pic.telegram_id)
        p.finish()
        pics.append(pic)

    leaders: list[LeaderConfig] = []
    for ld in root.array_of_tables("leaders", required=False):
        leader = LeaderConfig(
            name=ld.str("name"),
            chat_id=ld.int("chat_id", nonzero=True, telegram_id=True),
            groups=ld.str_list("groups", ()),
            regencies=ld.str_list("regencies", ()),
        )
        _check_group_refs(ld, "groups", leader.groups, problems, allow_star=True)
        _check_regencies(ld, leader.regencies, problems)
        ld.finish()
        leaders.append(leader)

    t = root.table("spam", required=False)
    spam = SpamConfig(keywords=t.str_list("keywords", (), lower=True))
    t.finish()

    t = root.table("abbreviations", required=False)
    abbreviations = {}
    for key in list(t.data):
        value = t.str(key)
        if isinstance(value, str) and value.strip():
            abbreviations[key.strip().lower()] = value.strip().lower()
    t = root.table("routing", required=False)
    routing = RoutingConfig(abbreviations=abbreviations, model=t.bool("model", True))
    t.finish()

    t = root.table("report", required=False)
    extra_ids = t.data.get("extra_chat_ids", [])
    t.seen.add("extra_chat_ids")
    extra: list[int] = []
    if not isinstance(extra_ids, list):
        problems.add("report.extra_chat_ids", f"must be a list of chat ids, not {_tname(extra_ids)}")
    else:
        for i, chat in enumerate(extra_ids):
            if isinstance(chat, bool) or not isinstance(chat, int) or chat == 0:
                problems.add(f"report.extra_chat_ids[{i}]", "must be a non-zero integer chat id")
            elif not _telegram_id_ok(chat):
                problems.add(f"report.extra_chat_ids[{i}]", _TELEGRAM_ID_PROBLEM.format(value=chat))
            else:
                extra.append(chat)
    formats = t.str_list("formats", FORMATS, lower=True)
    for i, fmt in enumerate(formats if isinstance(formats, tuple) else ()):
        if fmt not in FORMATS:
            problems.add(f"report.formats[{i}]", f"must be one of {', '.join(repr(f) for f in FORMATS)}, not {fmt!r}")
    if isinstance(formats, tuple) and not formats:
        problems.add("report.formats", "must not be empty")
    report = ReportConfig(
        enabled=t.bool("enabled", True),
        day=t.int("day", 1, min=1, max=28), hour=t.int("hour", 8, min=0, max=23),
        minute=t.int("minute", 0, min=0, max=59),
        response_target_days=t.float("response_target_days", 3.0, positive=True, max=60.0),
        send_to_leaders=t.bool("send_to_leaders", True),
        extra_chat_ids=tuple(extra),
        formats=formats if isinstance(formats, tuple) else FORMATS,
        retry_minutes=t.float("retry_minutes", 10.0, positive=True, max=1440.0),
        catch_up_days=t.float("catch_up_days", 7.0, min=0.0, max=27.0),
    )
    if report.enabled and not ((report.send_to_leaders and leaders) or report.extra_chat_ids):
        problems.add("report", "no recipients: add [[leaders]] or report.extra_chat_ids, or set enabled = false")
    t.finish()

    t = root.table("followup", required=False)
    followup = FollowupConfig(
        reminder_hours=t.float("reminder_hours", 24.0, min=0.0, max=24.0 * 60),
        escalate_hours=t.float("escalate_hours", 72.0, min=0.0, max=24.0 * 60),
        digest_time=t.str("digest_time", "07:00", check=_check_clock_time),
        digest_max_tickets=t.int("digest_max_tickets", 50, min=1, max=500),
        check_interval_seconds=t.float("check_interval_seconds", 60.0, min=1.0, max=3600.0),
    )
    if 0 < followup.escalate_hours <= followup.reminder_hours:
        problems.add("followup.escalate_hours",
                     f"must be greater than reminder_hours ({followup.reminder_hours:g}), "
                     f"not {followup.escalate_hours:g}")
    t.finish()

    t = root.table("privacy", required=False)
    privacy = PrivacyConfig(
        retention_months=t.int("retention_months", 24, min=1, max=240),
        audit_retention_months=t.int("audit_retention_months", 0, min=0, max=600),
        hash_key_env=t.str("hash_key_env", None, check=_check_env_name),
        hash_key_file=t.str("hash_key_file", None, check=_check_secret_path),
    )
    if 0 < privacy.audit_retention_months < privacy.retention_months:
        problems.add("privacy.audit_retention_months",
                     f"must be 0 or at least retention_months ({privacy.retention_months}), "
                     f"not {privacy.audit_retention_months}")
    t.finish(secrets={"hash_key": "secrets do not belong in config.toml; name them with hash_key_env or "
                                  "hash_key_file"})

    t = root.table("sms", required=False)
    sms = SmsConfig(
        max_per_number_per_day=t.int("max_per_number_per_day", 20, min=1, max=10_000),
        max_per_day=t.int("max_per_day", 2000, min=1, max=10_000_000),
        max_parts=t.int("max_parts", 6, min=1, max=20),
        reply_max_parts=t.int("reply_max_parts", 3, min=1, max=20),
    )
    if sms.reply_max_parts > sms.max_parts:
        problems.add("sms.reply_max_parts", f"must be at most max_parts ({sms.max_parts}), not {sms.reply_max_parts}")
    t.finish()

    t = root.table("incidents", required=False)
    incidents = IncidentsConfig(
        enabled=t.bool("enabled", True),
        window_hours=t.float("window_hours", 6.0, min=0.25, max=72.0),
        similarity=t.float("similarity", 0.55, min=0.1, max=1.0),
        edit_interval_seconds=t.float("edit_interval_seconds", 30.0, min=5.0, max=3600.0),
        thresholds=_thresholds(t, problems),
    )
    t.finish()

    t = root.table("conversations", required=False)
    conversations = ConversationsConfig(
        enabled=t.bool("enabled", True),
        window_hours=t.float("window_hours", 72.0, min=0.0, max=24.0 * 30),
        remind_citizen_hours=t.float("remind_citizen_hours", 24.0, min=0.0, max=24.0 * 30),
    )
    t.finish()

    t = root.table("texts")
    texts = TextsConfig(
        centre_number=t.str("centre_number"),
        **{key: t.str(key, check=_check_template(key, allowed)) for key, allowed in TEXT_VARIABLES.items()},
        **{key: t.str(key, default, check=_check_template(key, allowed))
           for key, (allowed, default) in CONVERSATION_TEXTS.items()},
    )
    t.finish()

    root.finish()
    if problems.lines:
        raise ConfigError(problems.lines)
    return Config(
        service=service, metrics=metrics, api=api, telegram=telegram, sla=sla, intake=intake,
        modems=tuple(modems), groups=groups, pics=tuple(pics), leaders=tuple(leaders),
        spam=spam, texts=texts, routing=routing, report=report, followup=followup, privacy=privacy,
        sms=sms, incidents=incidents, conversations=conversations, path=path,
    )


def _thresholds(t: _Table, problems: _Problems) -> tuple[int, ...]:
    """``[incidents] thresholds``: increasing report counts of at least 2."""
    value = t._get("thresholds", [5, 20, 50, 100])
    key = t._key("thresholds")
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        problems.add(key, f"must be a list of integers, not {_tname(value)}")
        return (5, 20, 50, 100)
    if any(v < 2 for v in value) or list(value) != sorted(set(value)):
        problems.add(key, f"must be increasing counts of at least 2, not {value}")
        return (5, 20, 50, 100)
    return tuple(value)


#: Short component names for ``[service.log_levels]``; full logger names work too.
LOG_COMPONENTS: dict[str, str] = {
    "modem": "laporgub.actors.modem", "at": "laporgub.at", "registry": "laporgub.actors.registry",
    "intake": "laporgub.intake", "filter": "laporgub.actors.keyword_filter", "routing": "laporgub.routing",
    "dispatcher": "laporgub.actors.dispatcher", "outbox": "laporgub.outbox", "telegram": "laporgub.telegram_gateway",
    "responder": "laporgub.actors.responder", "monitor": "laporgub.actors.monitor", "supervisor": "laporgub.supervisor",
    "report": "laporgub.report", "app": "laporgub.app",
}


def _log_levels(t: _Table) -> dict[str, str]:
    table = t.table("log_levels", required=False)
    levels: dict[str, str] = {}
    for key in list(table.data):
        level = table.str(key, choices=_LOG_LEVELS)
        if key not in LOG_COMPONENTS and not key.startswith("laporgub"):
            # Any other logger name is a library's (third-party loggers log at WARNING unless named
            # here); a name close to one of ours is a typo.
            hint = difflib.get_close_matches(key, LOG_COMPONENTS, n=1, cutoff=0.75)
            if hint or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key):
                suffix = f" Did you mean '{hint[0]}'?" if hint else ""
                t.problems.add(f"{table.path}.{key}", f"unknown component (one of {', '.join(LOG_COMPONENTS)}, "
                                                     f"or a logger name such as 'laporgub.intake' or "
                                                     f"'fontTools').{suffix}")
                continue
        levels[LOG_COMPONENTS.get(key, key)] = level
    return levels


def _same_port(a: Any, b: Any) -> bool:
    """Whether two modem ports name one device (a /dev/serial/by-id link and its ttyUSB count as one)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    a, b = a.strip(), b.strip()
    if a.startswith("loop://"):  # pyserial's loopback: every open is a port of its own
        return False
    if a == b:
        return True
    if a.startswith("/") and b.startswith("/"):
        return os.path.realpath(a) == os.path.realpath(b)
    return False


def _safe_listen(text: Any) -> Listen | None:
    if not isinstance(text, str):
        return None
    try:
        return _parse_listen(text)
    except ValueError:
        return None


def _check_group_refs(t: _Table, key: str, values: Any, problems: _Problems, *, allow_star: bool) -> None:
    if not isinstance(values, tuple):
        return
    for i, value in enumerate(values):
        if value == "*" and allow_star:
            continue
        if value not in GROUP_KEYS:
            hint = difflib.get_close_matches(value, GROUP_KEYS, n=1, cutoff=0.6)
            suffix = f" Did you mean '{hint[0]}'?" if hint else ""
            allowed = ", ".join((*GROUP_KEYS, "'*' (all)") if allow_star else GROUP_KEYS)
            problems.add(f"{t.path}.{key}[{i}]", f"unknown group {value!r} (one of {allowed}).{suffix}")


def _check_regencies(t: _Table, values: Any, problems: _Problems) -> None:
    if not isinstance(values, tuple):
        return
    try:
        from laporgub.gazetteer import REGENCIES
    except ImportError:  # pragma: no cover - the gazetteer ships with the package
        return
    for i, value in enumerate(values):
        if value not in REGENCIES:
            hints = regency_hints(value, REGENCIES)
            suffix = f" Did you mean {' or '.join(repr(h) for h in hints)}?" if hints else ""
            problems.add(f"{t.path}.regencies[{i}]", f"unknown regency/city {value!r}; write the full name as "
                                                     f"'Kabupaten X' or 'Kota X' (docs/sop.md lists the 35).{suffix}")


def regency_hints(value: str, regencies: Iterable[str]) -> list[str]:
    """The regency names an admin most likely meant by ``value`` ("Kab. Semarang" -> "Kabupaten Semarang")."""
    names = list(regencies)
    words = re.sub(r"[.,]", " ", value).split()
    if not words:
        return []
    kind = {"kab": "Kabupaten", "kabupaten": "Kabupaten", "kb": "Kabupaten", "kota": "Kota", "kot": "Kota",
            "kodya": "Kota", "kt": "Kota"}.get(words[0].lower())
    rest = " ".join(words[1:] if kind else words).lower()
    by_rest = [n for n in names if n.split(" ", 1)[1].lower() == rest]
    if kind:
        exact = [n for n in by_rest if n.startswith(kind)]
        if exact:
            return exact
    if by_rest:
        return sorted(by_rest)  # "Semarang": both the Kabupaten and the Kota
    close = difflib.get_close_matches(f"{kind or ''} {rest}".strip().lower(), [n.lower() for n in names], n=1,
                                      cutoff=0.6)
    return [n for n in names if n.lower() in close]


# --------------------------------------------------------------------------
# Loading.


def default_config_path() -> str:
    """``$LAPORGUB_CONFIG``, else ``./config.toml``."""
    return os.environ.get("LAPORGUB_CONFIG") or "config.toml"


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or is invalid.
    """
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{name}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{name}: cannot read: {exc.strerror or exc}"]) from None
    # Notepad and some editors start UTF-8 files with a byte order mark; TOML does not allow it,
    # and nothing is lost by reading past it.
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start]
        guess = bytes([byte]).decode("cp1252", "replace")
        raise ConfigError([f"{name}: line {line}, column {column}: not UTF-8 text (byte 0x{byte:02x}, "
                           f"{guess!r} in Windows-1252/Latin-1): save the file as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{name}: TOML syntax error: {exc}"]) from None
    return parse_config(data, path=name)


def exposed_secret_file(key: str, file: Path) -> str | None:
    """A problem line when a secret file can be read (or written) by every user on the host; None otherwise.

    Group access is allowed (``0640 root:laporgub`` is a sound way to hand a root-owned
    secret to the service user); others' access is not. A missing file is not judged here.
    """
    try:
        mode = file.stat().st_mode
    except OSError:
        return None
    if mode & 0o006:
        return (f"{key}: {file} is readable or writable by every user (mode {mode & 0o777:04o}); "
                f"chmod o-rwx it (0600 or 0640) or use a systemd credential")
    return None


def check_secret_files(config: Config) -> list[str]:
    """``check-config``: every configured secret file that others may read (see :func:`exposed_secret_file`)."""
    found = []
    files = [("telegram.token_file", config.telegram.token_file),
             ("privacy.hash_key_file", config.privacy.hash_key_file),
             *((f"api.webhooks[{i}].secret_file", h.secret_file) for i, h in enumerate(config.api.webhooks))]
    for key, name in files:
        if name and Path(name).is_absolute():
            problem = exposed_secret_file(key, Path(name))
            if problem:
                found.append(problem)
    return found


def read_webhook_secrets(api: ApiConfig, environ: Mapping[str, str] | None = None) -> dict[str, Secret]:
    """Fetch each webhook's signing secret (``secret_env``, else ``secret_file``), by webhook name.

    A relative ``secret_file`` names a systemd credential when ``$CREDENTIALS_DIRECTORY`` is set.

    Raises:
        ConfigError: naming each webhook whose secret is missing or empty.
    """
    env = os.environ if environ is None else environ
    secrets: dict[str, Secret] = {}
    problems = []
    for i, hook in enumerate(api.webhooks):
        path = f"api.webhooks[{i}]"
        value = ""
        if hook.secret_env:
            value = env.get(hook.secret_env, "").strip()
            if not value and not hook.secret_file:
                problems.append(f"{path}.secret_env: environment variable {hook.secret_env} is not set or empty")
        if not value and hook.secret_file:
            file = Path(hook.secret_file)
            exposed = exposed_secret_file(f"{path}.secret_file", file) if file.is_absolute() else None
            if not file.is_absolute() and env.get("CREDENTIALS_DIRECTORY"):
                # systemd's LoadCredential=<name>:/etc/laporgub/... : readable by the service user only.
                file = Path(env["CREDENTIALS_DIRECTORY"]) / file
            if exposed:
                problems.append(exposed)
                continue
            try:
                value = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"{path}.secret_file: cannot read {hook.secret_file}: {exc.strerror or exc}")
                continue
            if not value:
                problems.append(f"{path}.secret_file: {hook.secret_file} is empty")
        if value:
            secrets[hook.name] = Secret(value)
    if problems:
        raise ConfigError(problems)
    return secrets


def read_token(telegram: TelegramConfig, environ: Mapping[str, str] | None = None) -> Secret:
    """Fetch the bot token from where the config says it is.

    Order: the systemd credential ``telegram_token`` (``$CREDENTIALS_DIRECTORY``),
    then ``token_env``, then ``token_file``.

    Raises:
        ConfigError: naming the key whose token source is empty or missing.
    """
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / "telegram_token").is_file():
        token = (Path(cred_dir) / "telegram_token").read_text(encoding="utf-8").strip()
        if token:
            return Secret(token)
    problems = []
    if telegram.token_env:
        token = env.get(telegram.token_env, "").strip()
        if token:
            return Secret(token)
        problems.append(f"telegram.token_env: environment variable {telegram.token_env} is not set or empty")
    if telegram.token_file:
        exposed = exposed_secret_file("telegram.token_file", Path(telegram.token_file))
        if exposed:
            raise ConfigError([exposed])
        try:
            token = Path(telegram.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(f"telegram.token_file: cannot read {telegram.token_file}: {exc.strerror or exc}")
        else:
            if token:
                return Secret(token)
            problems.append(f"telegram.token_file: {telegram.token_file} is empty")
    raise ConfigError(problems or ["telegram: no token source configured"])
