"""The configuration schema, declared once, and its loader.

config.toml is parsed with the standard library's :mod:`tomllib` and validated
into frozen dataclasses at load. Every problem is collected and reported as
one line naming the key (``groups.kesehatan.chat_id: must be an integer``),
as Mopidy's ``ConfigSchema.deserialize`` does; nothing is read piecemeal at the
point of use.

Each key is declared once, as a dataclass field: its type is the annotation,
its default the field's default (none: the operator must set it), and its doc,
bounds and checks the field's metadata (:func:`option`). One generic reader
(:func:`_read_fields`) validates any table against its dataclass, and
:data:`SECTIONS` lists the top-level tables in the order they are read (the
order problems are reported in). What one key cannot say for itself (the
eleven fixed group tables, the template variables of ``[texts]``, two modems
on one port, a reminder after its escalation) is a named check attached to its
section. :func:`schema` lists every key, for docs and for the test that holds
``config.toml`` and the README's table to the code.

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from laporgub.exceptions import ConfigError
from laporgub.report.settings import ReportConfig
from laporgub.types import GROUP_KEYS
from laporgub.wording import fixed_texts

__all__ = [
    "Config",
    "ConfigError",
    "FollowupConfig",
    "GroupConfig",
    "Key",
    "LeaderConfig",
    "ModemConfig",
    "PicConfig",
    "REQUIRED",
    "SECTIONS",
    "Secret",
    "Section",
    "SmsConfig",
    "default_config_path",
    "load_config",
    "option",
    "parse_config",
    "schema",
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


# --------------------------------------------------------------------------
# Declaring a key.


class _Required:
    """The default of a key the operator must set (it has none)."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: The "default" of a key that has none; :func:`schema` shows it as ``REQUIRED``.
REQUIRED: Any = _Required()
_MISSING: Any = REQUIRED

#: The metadata :func:`option` accepts besides ``doc``, as the readers take them.
_OPTION_KEYS = ("kind", "min", "max", "positive", "choices", "check", "nonempty", "nonzero", "telegram_id", "lower",
                "min_items", "item", "item_check", "secrets", "derived")


def option(default: Any = _MISSING, *, doc: str, default_factory: Callable[[], Any] | None = None,
           **meta: Any) -> Any:
    """A config key: a dataclass field with its default, its doc and how it is checked.

    ``meta`` (all optional, read by the loader):

    - ``min``, ``max``: bounds of a number; ``positive``: greater than 0; ``nonzero``: not 0;
      ``telegram_id``: a Telegram user or chat id (52 bits);
    - ``choices``: the allowed values (of a string or an integer; of each item of a list);
    - ``check``: ``f(value) -> problem or None`` for a string;
    - ``nonempty``: a string must not be blank (default true);
    - ``lower``: list items are lower-cased; ``min_items``: a list must have at least this many;
    - ``kind``: a reader other than the annotation's (``listen``, ``log_levels``, ``chat_ids``,
      ``thresholds``, ``tables``); for ``tables`` (``[[api.webhooks]]``): ``item`` (the dataclass of one
      entry), ``item_check`` (``f(entry, table, earlier, problems)``), ``secrets`` (keys refused, with why);
    - ``derived``: not a key of this table (filled by the loader; the text says from where).
    """
    unknown = set(meta) - set(_OPTION_KEYS)
    if unknown:
        raise TypeError(f"unknown option metadata {sorted(unknown)}")
    metadata = {"doc": doc, **meta}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    if default is _MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


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


def _safe_listen(text: Any) -> Listen | None:
    if not isinstance(text, str):
        return None
    try:
        return _parse_listen(text)
    except ValueError:
        return None


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


def _check_instance(name: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9._:@-]{1,48}", name):
        return None
    return "must be 1-48 letters, digits or . _ : @ -"


def _check_webhook_name(name: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        return None
    return "use up to 64 letters, digits, '.', '_' and '-'"


def _check_modem_name(name: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        return None
    return "use letters, digits, '.', '_' and '-' only"


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


def _check_clock_time(text: str) -> str | None:
    if text.strip().lower() == "off":
        return None
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return f'must be a time HH:MM (e.g. "07:00") or "off", not {text!r}'
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
# The schema: one dataclass per table, one field per key. Fields are in the
# order they are read, which is the order their problems are reported in.


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """``[service]``: where state lives and which clock tickets use."""

    database: str = option(doc="Where everything the service writes lives: sqlite:///PATH (one server) or "
                               "postgresql://... (several instances).", check=_check_database)
    timezone: str = option(doc="Ticket dates and the times people see are in this zone (e.g. Asia/Jakarta).",
                           check=_check_timezone)
    log_level: str = option("INFO", doc="DEBUG, INFO, WARNING or ERROR; logs go to stderr, one line per event.",
                            choices=_LOG_LEVELS)
    actor_hang_seconds: float = option(
        90.0, doc="An actor that does not answer the supervisor's ping this long is hung: it is restarted, and "
                  "systemd's watchdog is not fed meanwhile.", min=1.0, max=3600.0)
    log_levels: Mapping[str, str] = option(
        doc="Log level per component (modem = \"DEBUG\"), beside log_level for the rest.",
        default_factory=dict, kind="log_levels")
    instance: str | None = option(
        None, doc="This instance's id among several sharing one database (unset: <hostname>:<pid>); see leases.py.",
        check=_check_instance)
    lease_seconds: float = option(
        15.0, doc="A dead instance's roles (sending to a chat, getUpdates) are taken over after this.",
        min=1.0, max=600.0)
    claim_seconds: float = option(
        120.0, doc="A dead instance's in-flight outbox rows (notifications, SMS, chat answers) are sent again "
                   "after this.", min=5.0, max=3600.0)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``[metrics]``: the Prometheus endpoint."""

    listen: Listen | None = option(doc="host:port of GET /metrics.", kind="listen")


#: Cross-field checks of one ``[[api.webhooks]]`` entry (``earlier``: the entries before it).
def _check_webhook(hook: WebhookConfig, t: _Table, earlier: Sequence[WebhookConfig], problems: _Problems) -> None:
    if hook.secret_env is None and hook.secret_file is None:
        problems.add(t.path, "set secret_env (an environment variable name) or secret_file (a path)")
    if hook.name in {h.name for h in earlier}:
        problems.add(f"{t.path}.name", f"duplicate webhook name {hook.name!r}")


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One ``[[api.webhooks]]`` entry: a website URL that receives signed ticket events."""

    name: str = option(doc="The webhook's name (replay --endpoint NAME).", check=_check_webhook_name)
    url: str = option(doc="The http(s) URL the events are POSTed to.", check=_check_url)
    secret_env: str | None = option(
        None, doc="The HMAC secret comes from this environment variable (never from config.toml).",
        check=_check_env_name)
    secret_file: str | None = option(None, doc="... or from this file.", check=_check_secret_path)
    dead_after_hours: float = option(
        24.0, doc="An event not delivered this long after it was queued is given up (dead); replay re-sends it.",
        positive=True, max=24.0 * 30)
    initial_backoff_seconds: float = option(
        5.0, doc="First retry after this many seconds, doubling up to max_backoff_seconds.",
        positive=True, max=3600.0)
    max_backoff_seconds: float = option(600.0, doc="The longest wait between retries.", positive=True, max=86400.0)
    timeout_seconds: float = option(10.0, doc="One delivery attempt's timeout.", positive=True, max=60.0)


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """``[api]``: the website HTTP API (docs/api.md) and its webhooks."""

    listen: Listen | None = option(None, doc="host:port of the website API (unset: no API).", kind="listen")
    webhooks: tuple[WebhookConfig, ...] = option(
        (), doc="Signed webhooks to the website, one [[api.webhooks]] table per receiving URL.", kind="tables",
        item=WebhookConfig, item_check=_check_webhook,
        secrets={"secret": "secrets do not belong in config.toml; name them with secret_env or secret_file"})
    max_body_bytes: int = option(65536, doc="Largest request body accepted, in bytes (413 above it).",
                                 min=1024, max=10 * 1024 * 1024)
    rate_limit_per_minute: int = option(
        120, doc="Requests per minute per API key (429 with Retry-After above it); bursts up to the same number.",
        min=1, max=1_000_000)
    header_timeout_seconds: float = option(
        10.0, doc="A request's line and headers must arrive within this after the connection (or its first byte "
                  "on a kept-alive one); else the connection is closed.", positive=True, max=300.0)
    body_timeout_seconds: float = option(
        30.0, doc="A request's body must arrive within this after its headers.", positive=True, max=600.0)
    keepalive_timeout_seconds: float = option(5.0, doc="A kept-alive connection idle this long is closed.",
                                              positive=True, max=300.0)
    max_connections: int = option(
        256, doc="Open connections at most; one more is answered 503 and closed (keep well below LimitNOFILE).",
        min=1, max=100_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramConfig:
    """``[telegram]``: Bot API endpoint, where the token is, admin chat, pacing."""

    base_url: str = option(doc="python-telegram-bot's base_url; the token is appended.", check=_check_url)
    base_file_url: str | None = option(
        None, doc="Where files sent to the bot are downloaded from (unset: base_url with /bot replaced by /file/bot).",
        check=_check_url)
    token_env: str | None = option(None, doc="The bot token comes from this environment variable ...",
                                   check=_check_env_name)
    token_file: str | None = option(None, doc="... or from this file (or the systemd credential telegram_token).",
                                    check=_check_secret_path)
    admin_chat_id: int = option(doc="The admins' chat: operator SMS, unreadable SMS, alerts.",
                                nonzero=True, telegram_id=True)
    parse_mode: str = option("HTML", doc='"HTML" (SMS text is escaped) or "none"; never Markdown.',
                             choices=("HTML", "none"))
    group_interval_seconds: float = option(
        3.2, doc="Telegram allows about 20 messages a minute into one group, as a sliding window: pacing evenly "
                 "(one every 3.2 s, a margin for jitter) avoids retry_after penalties.", min=0.0, max=60.0)
    private_interval_seconds: float = option(1.0, doc="Pacing of private chats.", min=0.0, max=60.0)
    request_timeout_seconds: float = option(5.0, doc="A Bot API request that takes longer than this is retried.",
                                            positive=True, max=120.0)


@dataclass(frozen=True, slots=True)
class SlaConfig:
    """``[sla]``: the SOP's time limits per stage, in seconds."""

    register_seconds: float = option(9.0, doc="Modem reports the SMS -> ticket committed.", positive=True)
    filter_seconds: float = option(27.0, doc="Ticket committed -> categories committed.", positive=True)
    notify_seconds: float = option(9.0, doc="Categories committed -> Bot API request sent.", positive=True)
    deliver_seconds: float = option(3.0, doc="Bot API request sent -> Bot API answered ok.", positive=True)

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

    name: str = option(doc="The modem's name in logs, metrics and operator messages.", check=_check_modem_name)
    port: str = option(doc="A device path (/dev/serial/by-id/...) or any pyserial URL (socket://host:port).")
    baudrate: int = option(115200, doc="Serial speed.", choices=_BAUDRATES)
    pin_env: str | None = option(None, doc="Name of an environment variable holding the SIM PIN (only if the SIM "
                                           "asks for one).", check=_check_env_name)
    storage: str = option("SM", doc="Message storage: SM (SIM), ME (modem), MT (both), SR or BM.",
                          choices=("SM", "ME", "MT", "SR", "BM"))
    sweep_interval_seconds: float = option(
        30.0, doc="Safety net for +CMTI indications lost while the port was closed or busy.", min=0.2, max=600.0)
    command_timeout_seconds: float = option(10.0, doc="An AT command not answered this long has failed.",
                                            positive=True, max=120.0)
    failures_before_alert: int = option(
        5, doc="After this many failed connections in a row, the admin chat is told (once until it recovers).",
        min=1, max=1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupConfig:
    """One ``[groups.<key>]`` table."""

    key: str = option(doc="The group's key, one of the eleven of docs/sop.md.", derived="the table's name")
    keywords: tuple[str, ...] = option(
        doc="Topic keywords, lower case (channel and kabkota need none).", lower=True)
    name: str = option(doc="The group's human name.")
    chat_id: int = option(doc="The group's Telegram chat.", nonzero=True, telegram_id=True)
    negative_keywords: tuple[str, ...] = option((), doc="Phrases that stop the group from matching.", lower=True)
    weight: float = option(1.0, doc="Factor on this group's keyword evidence (above 1 matches more readily).",
                           positive=True, max=10.0)


@dataclass(frozen=True, slots=True)
class PicConfig:
    """One ``[[pics]]`` entry: a person in charge who answers in Telegram."""

    telegram_id: int = option(doc="The PIC's Telegram user id.", min=1, telegram_id=True)
    name: str = option(doc="The PIC's name.")
    agency: str = option(doc="The PIC's agency, named to the citizen.")
    surat_tugas: str = option(doc="The PIC's assignment letter (surat tugas).")
    groups: tuple[str, ...] = option(doc="The groups whose tickets the PIC may answer (may include channel).")
    admin: bool = option(False, doc="May act on any ticket.")


@dataclass(frozen=True, slots=True)
class LeaderConfig:
    """One ``[[leaders]]`` entry: a chat that receives complaints of its groups and regencies."""

    name: str = option(doc="The leader's name.")
    chat_id: int = option(doc="The leader's Telegram chat.", nonzero=True, telegram_id=True)
    groups: tuple[str, ...] = option((), doc='Groups whose complaints this chat receives ("*" means every group).')
    regencies: tuple[str, ...] = option((), doc="Regencies/cities whose complaints this chat receives "
                                                "(Kabupaten X, Kota X).")

    def wants(self, groups: tuple[str, ...], regency: str | None) -> bool:
        """Whether a complaint routed to ``groups`` and naming ``regency`` goes to this leader."""
        if "*" in self.groups or any(g in self.groups for g in groups):
            return True
        return regency is not None and regency in self.regencies


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """``[intake]``: how inbound SMS become tickets."""

    concat_wait_minutes: float = option(10.0, doc="An incomplete multipart SMS is registered anyway after this wait.",
                                        positive=True)
    flood_count: int = option(5, doc="Flood control: more than flood_count SMS from one number within "
                                     "flood_window_minutes become follow-ups of its latest open ticket.", min=1)
    flood_window_minutes: float = option(10.0, doc="See flood_count.", positive=True)
    followup_interval_minutes: float = option(
        3.0, doc="Follow-ups of one ticket are posted together, at most this often.", min=0.0, max=120.0)
    min_words: int = option(2, doc='Fewer meaningful words than this make an SMS "too short".', min=1, max=10)
    typo_min_length: int = option(
        6, doc="Typo tolerance: words shorter than this are never read as a misspelt keyword (0: off).",
        min=0, max=30)
    typo_two_edit_length: int = option(9, doc="From this length on, two typing errors are forgiven.", min=2, max=40)


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """``[abbreviations]``: SMS spellings to read as words, added to the shipped dictionary;
    ``[routing]``: the learned model beside the keyword rules."""

    abbreviations: Mapping[str, str] = option(doc="SMS spellings to read as words.", default_factory=dict,
                                              derived="the [abbreviations] table")
    model: bool = option(True, doc="The learned model chooses the groups of a complaint no keyword routes (instead "
                                   "of pelayanan_publik) and drops a group resting on one shipped keyword it finds "
                                   "unlikely.")


@dataclass(frozen=True, slots=True)
class SpamConfig:
    """``[spam]``: phrases that mark promotions and fraud."""

    keywords: tuple[str, ...] = option((), doc="Phrases that mark promotions and fraud.", lower=True)


@dataclass(frozen=True, slots=True)
class FollowupConfig:
    """``[followup]``: monitoring of follow-up and completion (the SOP asks PICs and admins to watch it)."""

    reminder_hours: float = option(
        24.0, doc="A complaint without a PIC response this long gets a reminder in its groups (0: no reminders).",
        min=0.0, max=24.0 * 60)
    escalate_hours: float = option(
        72.0, doc="... and this long, it is escalated to its leaders' chats and the admin chat (0: no escalation).",
        min=0.0, max=24.0 * 60)
    digest_time: str = option(
        "07:00", doc='Daily digest of each group\'s unfinished tickets at this service-time HH:MM ("off": none).',
        check=_check_clock_time)
    digest_max_tickets: int = option(50, doc="At most this many tickets listed per digest (the rest are counted).",
                                     min=1, max=500)
    check_interval_seconds: float = option(60.0, doc="How often the monitor looks for due steps.",
                                           min=1.0, max=3600.0)

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

    max_per_number_per_day: int = option(
        20, doc="SMS to one number within 24 hours; further ones are refused (logged, counted, admins told once a "
                "day).", min=1, max=10_000)
    max_per_day: int = option(2000, doc="SMS in total within 24 hours.", min=1, max=10_000_000)
    max_parts: int = option(6, doc="Every SMS is cut to at most this many parts.", min=1, max=20)
    reply_max_parts: int = option(
        3, doc="A PIC's reply to the citizen is cut to this many parts; its end tells the citizen to send CEK "
               "<ticket>.", min=1, max=20)


@dataclass(frozen=True, slots=True)
class IncidentsConfig:
    """``[incidents]``: complaints about one event linked into one incident (laporgub/incidents.py)."""

    enabled: bool = option(True, doc="Link complaints at all (false: every complaint is notified on its own).")
    window_hours: float = option(6.0, doc="An incident takes reports for this long after its latest one; then it "
                                          "ends.", min=0.25, max=72.0)
    similarity: float = option(0.55, doc="How alike a report must be to one of the incident's (0..1; higher links "
                                         "less).", min=0.1, max=1.0)
    edit_interval_seconds: float = option(30.0, doc="The incident's message in a group is edited at most this often.",
                                          min=5.0, max=3600.0)
    thresholds: tuple[int, ...] = option(
        (5, 20, 50, 100), doc="A short new message when the number of reports reaches each of these (increasing, "
                              "at least 2).", kind="thresholds")


@dataclass(frozen=True, slots=True)
class ConversationsConfig:
    """``[conversations]``: a citizen's SMS answering a PIC joins that ticket (laporgub/conversations.py)."""

    enabled: bool = option(True, doc="Thread answers at all (false: every SMS is judged on its own, as before).")
    window_hours: float = option(72.0, doc="An SMS joins the open ticket a PIC wrote to within this many hours "
                                           "(0: never).", min=0.0, max=24.0 * 30)
    remind_citizen_hours: float = option(24.0, doc="A citizen asked a question (/tanya, a reply ending in \"?\") "
                                                   "is reminded once by SMS after this many hours without an "
                                                   "answer (0: no reminder).", min=0.0, max=24.0 * 30)


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    """``[privacy]``: personal data (UU 27/2022): how long citizens' numbers are kept."""

    retention_months: int = option(
        24, doc="A closed ticket last updated this many months ago loses the citizen's number (figures stay for "
                "reports).", min=1, max=240)
    audit_retention_months: int = option(
        0, doc="Audit log entries older than this many months are deleted (0: kept for ever; else at least "
               "retention_months).", min=0, max=600)
    hash_key_env: str | None = option(
        None, doc="The secret keying stored request hashes comes from this environment variable or file (never "
                  "from config.toml); without either, the systemd credential request_hash_key, else one derived "
                  "from the token.", check=_check_env_name)
    hash_key_file: str | None = option(None, doc="See hash_key_env.", check=_check_secret_path)


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
    "answer_ack_sms": frozenset({"ticket", "centre_number"}),
    "question_sms": frozenset({"ticket", "agency", "response", "centre_number"}),
    "citizen_reminder_sms": frozenset({"ticket", "agency", "response", "centre_number"}),
    "telegram_answer": frozenset({"ticket", "hashtag", "sender", "received", "text", "note"}),
}

#: The ``[texts]`` keys of conversations (docs/conversations.md) have defaults, in the package's texts
#: (``[conversations]`` of laporgub/data/texts.toml): a config.toml written before them stays valid.
CONVERSATION_TEXTS: dict[str, str] = {
    "answer_ack_sms": str(fixed_texts()["conversations.answer_ack_sms"]),
    "question_sms": str(fixed_texts()["conversations.question_sms"]),
    "citizen_reminder_sms": str(fixed_texts()["conversations.citizen_reminder_sms"]),
    "telegram_answer": str(fixed_texts()["conversations.telegram_answer"]),
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
    answer_ack_sms: str = CONVERSATION_TEXTS["answer_ack_sms"]
    question_sms: str = CONVERSATION_TEXTS["question_sms"]
    citizen_reminder_sms: str = CONVERSATION_TEXTS["citizen_reminder_sms"]
    telegram_answer: str = CONVERSATION_TEXTS["telegram_answer"]


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


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")


def did_you_mean(hints: Sequence[str]) -> str:
    """The hint after a problem with an unknown name: `` Did you mean 'x'?`` (or 'x' or 'y'), or nothing."""
    quoted = " or ".join(f"'{h}'" for h in hints)
    return f" Did you mean {quoted}?" if hints else ""


def _closest(word: str, names: Iterable[str], *, cutoff: float = 0.6) -> list[str]:
    """The one name most like ``word`` (a typo's likely intent), if any is close enough."""
    return difflib.get_close_matches(word, list(names), n=1, cutoff=cutoff)


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

    def read_str(
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

    def read_int(self, key: str, default: Any = _MISSING, *, min: int | None = None, max: int | None = None,
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

    def read_float(self, key: str, default: Any = _MISSING, *, min: float | None = None,
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

    def read_bool(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if not isinstance(value, bool):
            self.problems.add(self._key(key), f"must be true or false, not {_tname(value)}")
            return False
        return value

    def read_str_list(self, key: str, default: Any = _MISSING, *, lower: bool = False,
                      choices: tuple[str, ...] | None = None, min_items: int = 0) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        items: list[str] = []
        if not isinstance(value, list):
            self.problems.add(self._key(key), f"must be a list of strings, not {_tname(value)}")
        else:
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    self.problems.add(f"{self._key(key)}[{i}]", f"must be a string, not {_tname(item)}")
                elif not item.strip():
                    self.problems.add(f"{self._key(key)}[{i}]", "must not be empty")
                else:
                    items.append(item.strip().lower() if lower else item.strip())
        if choices is not None:
            for i, item in enumerate(items):  # i counts the items kept
                if item not in choices:
                    self.problems.add(f"{self._key(key)}[{i}]",
                                      f"must be one of {', '.join(repr(c) for c in choices)}, not {item!r}")
        if len(items) < min_items:
            self.problems.add(self._key(key), "must not be empty")
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
            self.problems.add(self._key(key), f"unknown config key.{did_you_mean(_closest(key, sorted(self.seen)))}")


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
# The generic reader: one per kind of key, chosen by the field's annotation
# (or its ``kind``), given the field's metadata.


_T = TypeVar("_T")


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return _MISSING


def _read_tables(t: _Table, key: str, item: type, *, required: bool, problems: _Problems,
                 check: Callable[..., None] | None = None, secrets: Mapping[str, str] | None = None) -> tuple[Any, ...]:
    """An array of tables (``[[modems]]``, ``[[api.webhooks]]``): each entry read, checked against the ones
    before it, and its unknown keys reported."""
    items: list[Any] = []
    for entry in t.array_of_tables(key, required=required):
        value: Any = _read_fields(item, entry)
        if check is not None:
            check(value, entry, items, problems)
        entry.finish(secrets=secrets)
        items.append(value)
    return tuple(items)


def _read_log_levels(t: _Table, key: str, default: Any, meta: Mapping[str, Any]) -> dict[str, str]:
    """``[service.log_levels]``: a level per component or logger name."""
    table = t.table(key, required=False)
    levels: dict[str, str] = {}
    for name in list(table.data):
        level = table.read_str(name, choices=_LOG_LEVELS)
        if name not in LOG_COMPONENTS and not name.startswith("laporgub"):
            # Any other logger name is a library's (third-party loggers log at WARNING unless named
            # here); a name close to one of ours is a typo.
            hint = _closest(name, LOG_COMPONENTS, cutoff=0.75)
            if hint or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", name):
                t.problems.add(f"{table.path}.{name}", f"unknown component (one of {', '.join(LOG_COMPONENTS)}, "
                                                       f"or a logger name such as 'laporgub.intake' or "
                                                       f"'fontTools').{did_you_mean(hint)}")
                continue
        levels[LOG_COMPONENTS.get(name, name)] = level
    return levels


def _read_thresholds(t: _Table, key: str, default: Any, meta: Mapping[str, Any]) -> tuple[int, ...]:
    """``[incidents] thresholds``: increasing report counts of at least 2."""
    value = t._get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        t.problems.add(t._key(key), f"must be a list of integers, not {_tname(value)}")
        return tuple(default)
    if any(v < 2 for v in value) or list(value) != sorted(set(value)):
        t.problems.add(t._key(key), f"must be increasing counts of at least 2, not {value}")
        return tuple(default)
    return tuple(value)


def _read_chat_ids(t: _Table, key: str, default: Any, meta: Mapping[str, Any]) -> tuple[int, ...]:
    """A list of Telegram chat ids (``[report] extra_chat_ids``)."""
    value = t._get(key, list(default))
    chats: list[int] = []
    if not isinstance(value, list):
        t.problems.add(t._key(key), f"must be a list of chat ids, not {_tname(value)}")
        return ()
    for i, chat in enumerate(value):
        if isinstance(chat, bool) or not isinstance(chat, int) or chat == 0:
            t.problems.add(f"{t._key(key)}[{i}]", "must be a non-zero integer chat id")
        elif not _telegram_id_ok(chat):
            t.problems.add(f"{t._key(key)}[{i}]", _TELEGRAM_ID_PROBLEM.format(value=chat))
        else:
            chats.append(chat)
    return tuple(chats)


def _read_listen(t: _Table, key: str, default: Any, meta: Mapping[str, Any]) -> Listen | None:
    return _safe_listen(t.read_str(key, default, check=_check_listen))


def _read_nested_tables(t: _Table, key: str, default: Any, meta: Mapping[str, Any]) -> tuple[Any, ...]:
    return _read_tables(t, key, meta["item"], required=default is _MISSING, problems=t.problems,
                        check=meta.get("item_check"), secrets=meta.get("secrets"))


def _simple(method: Callable[..., Any], *options: str) -> Callable[[_Table, str, Any, Mapping[str, Any]], Any]:
    def read(t: _Table, key: str, default: Any, meta: Mapping[str, Any]) -> Any:
        return method(t, key, default, **{name: meta[name] for name in options if name in meta})

    return read


#: The reader of each kind of key: the annotation's type, or the field's ``kind``.
_READERS: dict[str, Callable[[_Table, str, Any, Mapping[str, Any]], Any]] = {
    "str": _simple(_Table.read_str, "choices", "nonempty", "check"),
    "str | None": _simple(_Table.read_str, "choices", "nonempty", "check"),
    "int": _simple(_Table.read_int, "min", "max", "choices", "nonzero", "telegram_id"),
    "float": _simple(_Table.read_float, "min", "max", "positive"),
    "bool": _simple(_Table.read_bool),
    "tuple[str, ...]": _simple(_Table.read_str_list, "lower", "choices", "min_items"),
    "listen": _read_listen,
    "log_levels": _read_log_levels,
    "thresholds": _read_thresholds,
    "chat_ids": _read_chat_ids,
    "tables": _read_nested_tables,
}


def _kind(f: Field[Any]) -> str:
    return str(f.metadata.get("kind", f.type))


def _read_fields(schema_class: type[_T], t: _Table, given: Mapping[str, Any] | None = None,
                 defaults: Mapping[str, Any] | None = None) -> _T:
    """Read table ``t`` into ``schema_class``, one key per field, in field order.

    ``given``: values of fields that are not keys of the table (``derived``); ``defaults``: defaults that
    differ from the field's (the keyword list a keywordless group may omit).
    """
    values: dict[str, Any] = dict(given or {})
    for f in fields(cast(Any, schema_class)):
        if f.name in values:
            continue
        default = (defaults or {}).get(f.name, _default(f))
        values[f.name] = _READERS[_kind(f)](t, f.name, default, f.metadata)
    return schema_class(**values)


# --------------------------------------------------------------------------
# The top-level tables, in the order they are read, with the checks that
# concern more than one key.


@dataclass(frozen=True)
class Section:
    """A top-level table of config.toml (or an array of tables, ``[[modems]]``)."""

    key: str
    #: The dataclass whose fields are the table's keys (None: the table is free-form, read by ``read``).
    schema: type | None
    doc: str
    required: bool = False
    #: ``[[key]]``: an array of tables, each read into ``schema``.
    array: bool = False
    #: Keys refused with the reason (secrets never live in config.toml).
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: ``check(value, table, loaded, problems)`` after the keys are read (for an array, per entry, with
    #: ``loaded`` the entries before it); ``loaded`` holds the sections read so far, by key.
    check: Callable[..., None] | None = None
    #: Reads the whole table instead of the generic reader: ``read(table, loaded, problems)``.
    read: Callable[[_Table, Mapping[str, Any], _Problems], Any] | None = None


def _check_telegram(telegram: TelegramConfig, t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> None:
    if telegram.token_env is None and telegram.token_file is None:
        problems.add("telegram", "set token_env (an environment variable name) or token_file (a path)")


def _check_modem(modem: ModemConfig, m: _Table, earlier: Sequence[ModemConfig], problems: _Problems) -> None:
    if modem.name in {other.name for other in earlier}:
        problems.add(f"{m.path}.name", f"duplicate modem name {modem.name!r}")
    same = [other for other in earlier if _same_port(other.port, modem.port)]
    if isinstance(modem.port, str) and modem.port.strip() and same:
        problems.add(f"{m.path}.port", f"{modem.port!r} is also the port of modem {same[0].name!r}: two "
                                       "readers on one modem take each other's SMS and answers; give each modem "
                                       "its own port")


def _read_groups(t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> dict[str, GroupConfig]:
    """``[groups.<key>]``: exactly the eleven groups of docs/sop.md, each a table."""
    groups: dict[str, GroupConfig] = {}
    for key in GROUP_KEYS:
        if key not in t.data:
            t.seen.add(key)
            problems.add(f"groups.{key}", f"missing: every group needs a table (the {len(GROUP_KEYS)} groups are "
                                          f"{', '.join(GROUP_KEYS)}; see docs/sop.md)")
            continue
        g = t.table(key)
        group = _read_fields(GroupConfig, g, given={"key": key},
                             defaults={"keywords": ()} if key in _KEYWORDLESS_GROUPS else None)
        if not isinstance(group.keywords, tuple):  # missing, already reported
            group = replace(group, keywords=())
        groups[key] = group
        g.finish()
    for key in t.data:
        if key not in GROUP_KEYS:
            t.seen.add(key)
            problems.add(f"groups.{key}", f"unknown group; the {len(GROUP_KEYS)} group keys are fixed: "
                                          f"{', '.join(GROUP_KEYS)}.{did_you_mean(_closest(key, GROUP_KEYS))}")
    return groups


def _check_pic(pic: PicConfig, p: _Table, earlier: Sequence[PicConfig], problems: _Problems) -> None:
    _check_group_refs(p, "groups", pic.groups, problems, allow_star=False)
    if pic.telegram_id in {other.telegram_id for other in earlier}:
        problems.add(f"{p.path}.telegram_id", f"duplicate PIC telegram_id {pic.telegram_id}")


def _check_leader(leader: LeaderConfig, ld: _Table, earlier: Sequence[LeaderConfig], problems: _Problems) -> None:
    _check_group_refs(ld, "groups", leader.groups, problems, allow_star=True)
    _check_regencies(ld, leader.regencies, problems)


def _read_abbreviations(t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> dict[str, str]:
    """``[abbreviations]``: any SMS spelling (a key) = the words it stands for."""
    abbreviations = {}
    for key in list(t.data):
        value = t.read_str(key)
        if isinstance(value, str) and value.strip():
            abbreviations[key.strip().lower()] = value.strip().lower()
    return abbreviations


def _read_routing(t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> RoutingConfig:
    return _read_fields(RoutingConfig, t, given={"abbreviations": loaded["abbreviations"]})


def _check_report(report: ReportConfig, t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> None:
    if report.enabled and not ((report.send_to_leaders and loaded["leaders"]) or report.extra_chat_ids):
        problems.add("report", "no recipients: add [[leaders]] or report.extra_chat_ids, or set enabled = false")


def _check_followup(followup: FollowupConfig, t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> None:
    if 0 < followup.escalate_hours <= followup.reminder_hours:
        problems.add("followup.escalate_hours",
                     f"must be greater than reminder_hours ({followup.reminder_hours:g}), "
                     f"not {followup.escalate_hours:g}")


def _check_privacy(privacy: PrivacyConfig, t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> None:
    if 0 < privacy.audit_retention_months < privacy.retention_months:
        problems.add("privacy.audit_retention_months",
                     f"must be 0 or at least retention_months ({privacy.retention_months}), "
                     f"not {privacy.audit_retention_months}")


def _check_sms(sms: SmsConfig, t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> None:
    if sms.reply_max_parts > sms.max_parts:
        problems.add("sms.reply_max_parts", f"must be at most max_parts ({sms.max_parts}), not {sms.reply_max_parts}")


def _read_texts(t: _Table, loaded: Mapping[str, Any], problems: _Problems) -> TextsConfig:
    """``[texts]``: every template required, each checked against the variables it may use."""
    return TextsConfig(
        centre_number=t.read_str("centre_number"),
        **{key: t.read_str(key, CONVERSATION_TEXTS.get(key, _MISSING), check=_check_template(key, allowed))
           for key, allowed in TEXT_VARIABLES.items()},
    )


def _secret_refused(env: str, file: str) -> str:
    return f"secrets do not belong in config.toml; name them with {env} or {file}"


#: The tables of config.toml in the order they are read (and their problems reported). A new table is a
#: dataclass of :func:`option` fields, an entry here (with a check if its keys depend on each other) and a
#: field of :class:`Config` with that dataclass as default; tests/test_config_schema.py then asks for its
#: keys in config.toml and the README's table.
SECTIONS: tuple[Section, ...] = (
    Section("service", ServiceConfig, "Where state lives, the time zone, logging, several instances.", required=True),
    Section("metrics", MetricsConfig, "The Prometheus endpoint.", required=True),
    Section("api", ApiConfig, "The website HTTP API and its webhooks (docs/api.md)."),
    Section("telegram", TelegramConfig, "Bot API endpoint, where the token is, admin chat, pacing.", required=True,
            secrets={"token": _secret_refused("token_env", "token_file")}, check=_check_telegram),
    Section("sla", SlaConfig, "The SOP's time limits per stage, in seconds."),
    Section("intake", IntakeConfig, "How inbound SMS become tickets."),
    Section("modems", ModemConfig, "One table per GSM modem.", required=True, array=True,
            secrets={"pin": "secrets do not belong in config.toml; name an environment variable with pin_env"},
            check=_check_modem),
    Section("groups", GroupConfig, "The eleven Telegram groups of the SOP, [groups.<key>].", required=True,
            read=_read_groups),
    Section("pics", PicConfig, "Persons in charge who answer in Telegram.", array=True, check=_check_pic),
    Section("leaders", LeaderConfig, "Chats that receive the complaints of their groups and regencies.", array=True,
            check=_check_leader),
    Section("spam", SpamConfig, "Phrases that mark promotions and fraud."),
    Section("abbreviations", None, "SMS spellings to read as words (spelling = \"words\").",
            read=_read_abbreviations),
    Section("routing", RoutingConfig, "The learned model beside the keyword rules.", read=_read_routing),
    Section("report", ReportConfig, "The monthly report (docs/report.md).", check=_check_report),
    Section("followup", FollowupConfig, "Reminders, escalation and daily digests.", check=_check_followup),
    Section("privacy", PrivacyConfig, "Personal data (docs/privacy.md).",
            secrets={"hash_key": _secret_refused("hash_key_env", "hash_key_file")}, check=_check_privacy),
    Section("sms", SmsConfig, "What the centre may send by SMS.", check=_check_sms),
    Section("incidents", IncidentsConfig, "Complaints about one event linked into one incident (docs/incidents.md)."),
    Section("conversations", ConversationsConfig, "A citizen's SMS answering a PIC joins that ticket "
            "(docs/conversations.md)."),
    Section("texts", TextsConfig, "What the service says, as string.Template texts ($ticket).", required=True,
            read=_read_texts),
)


def _read_section(section: Section, root: _Table, loaded: Mapping[str, Any], problems: _Problems) -> Any:
    if section.array:
        assert section.schema is not None
        return _read_tables(root, section.key, section.schema, required=section.required, problems=problems,
                            check=section.check, secrets=section.secrets)
    t = root.table(section.key, required=section.required)
    if section.read is not None:
        value = section.read(t, loaded, problems)
    else:
        assert section.schema is not None
        value = _read_fields(section.schema, t)
    if section.check is not None:
        section.check(value, t, loaded, problems)
    t.finish(secrets=section.secrets)
    return value


def parse_config(data: Mapping[str, Any], *, path: str | None = None) -> Config:
    """Validate parsed TOML into a :class:`Config`.

    Raises:
        ConfigError: with one line per problem, each naming its key.
    """
    problems = _Problems()
    root = _Table(data, "", problems)
    loaded: dict[str, Any] = {}
    for section in SECTIONS:
        loaded[section.key] = _read_section(section, root, loaded, problems)
    root.finish()
    if problems.lines:
        raise ConfigError(problems.lines)
    keys = {f.name for f in fields(Config)}
    return Config(**{key: value for key, value in loaded.items() if key in keys}, path=path)


# --------------------------------------------------------------------------
# The schema, for docs and for the test that holds config.toml and the README to it.


@dataclass(frozen=True)
class Key:
    """One key of config.toml, as :func:`schema` lists it."""

    #: The table it is in: ``service``, ``api.webhooks`` (an array of tables), ``groups.<key>``.
    table: str
    #: The key; ``*`` for the free-form tables (``[abbreviations]``).
    name: str
    #: ``str``, ``int``, ``float``, ``bool``, ``tuple[str, ...]``, or a reader's kind (``listen``, ...).
    kind: str
    #: The value when the key is absent; :data:`REQUIRED` when the operator must set it.
    default: Any
    doc: str
    #: ``min``, ``max``, ``positive``, ``choices``, ... as the loader checks them.
    bounds: Mapping[str, Any]
    #: The table is an array of tables (``[[modems]]``).
    array: bool = False

    @property
    def path(self) -> str:
        return f"{self.table}.{self.name}"


_BOUND_KEYS = ("min", "max", "positive", "choices", "nonzero", "telegram_id", "lower", "min_items")


def _keys(table: str, schema_class: type, *, array: bool = False) -> Iterator[Key]:
    for f in fields(schema_class):
        if "derived" in f.metadata:
            continue
        if f.metadata.get("kind") == "tables":
            yield from _keys(f"{table}.{f.name}", f.metadata["item"], array=True)
            continue
        yield Key(table, f.name, _kind(f), _default(f), f.metadata.get("doc", ""),
                  {k: f.metadata[k] for k in _BOUND_KEYS if k in f.metadata}, array)


def _text_doc(name: str) -> str:
    if name not in TEXT_VARIABLES:
        return "The centre's SMS number ($centre_number in the texts)."
    return f"A string.Template text; variables: {' '.join('$' + v for v in sorted(TEXT_VARIABLES[name]))}."


def schema() -> tuple[Key, ...]:
    """Every key of config.toml with its type, default, bounds and doc, in the order they are read."""
    keys: list[Key] = []
    for section in SECTIONS:
        if section.key == "groups":
            keys.extend(_keys("groups.<key>", GroupConfig))
        elif section.key == "texts":
            keys.extend(Key("texts", f.name, "template" if f.name in TEXT_VARIABLES else _kind(f), _default(f),
                            _text_doc(f.name), {}) for f in fields(TextsConfig))
        elif section.schema is None:
            keys.append(Key(section.key, "*", "str", REQUIRED, section.doc, {}))
        else:
            keys.extend(_keys(section.key, section.schema, array=section.array))
    return tuple(keys)


# --------------------------------------------------------------------------
# Checks across keys and tables.


#: Short component names for ``[service.log_levels]``; full logger names work too.
LOG_COMPONENTS: dict[str, str] = {
    "modem": "laporgub.actors.modem", "at": "laporgub.at", "registry": "laporgub.actors.registry",
    "intake": "laporgub.intake", "filter": "laporgub.actors.keyword_filter", "routing": "laporgub.routing",
    "dispatcher": "laporgub.actors.dispatcher", "outbox": "laporgub.outbox", "telegram": "laporgub.telegram_gateway",
    "responder": "laporgub.actors.responder", "monitor": "laporgub.actors.monitor", "supervisor": "laporgub.supervisor",
    "report": "laporgub.report", "app": "laporgub.app", "reporter": "laporgub.actors.reporter",
    "webhooks": "laporgub.actors.webhooks", "api_server": "laporgub.actors.api_server", "api": "laporgub.api",
}


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


def _check_group_refs(t: _Table, key: str, values: Any, problems: _Problems, *, allow_star: bool) -> None:
    if not isinstance(values, tuple):
        return
    for i, value in enumerate(values):
        if value == "*" and allow_star:
            continue
        if value not in GROUP_KEYS:
            allowed = ", ".join((*GROUP_KEYS, "'*' (all)") if allow_star else GROUP_KEYS)
            problems.add(f"{t.path}.{key}[{i}]",
                         f"unknown group {value!r} (one of {allowed}).{did_you_mean(_closest(value, GROUP_KEYS))}")


def _check_regencies(t: _Table, values: Any, problems: _Problems) -> None:
    if not isinstance(values, tuple):
        return
    try:
        from laporgub.gazetteer import REGENCIES
    except ImportError:  # pragma: no cover - the gazetteer ships with the package
        return
    for i, value in enumerate(values):
        if value not in REGENCIES:
            problems.add(f"{t.path}.regencies[{i}]", f"unknown regency/city {value!r}; write the full name as "
                                                     f"'Kabupaten X' or 'Kota X' (docs/sop.md lists the 35)."
                                                     f"{did_you_mean(regency_hints(value, REGENCIES))}")


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
