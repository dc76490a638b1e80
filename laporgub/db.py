"""Storage: peewee models, the database from its URL, and schema migrations.

Every hand-off that must survive a crash goes through these tables (docs/sop.md):
the inbound SMS row (raw PDU kept), the ticket, the notification outbox and
the outbound SMS outbox. Times are stored as UNIX epoch seconds (double precision: PostgreSQL's REAL
would lose minutes), so
stage durations are plain subtraction in SQL and in Python on every backend.

peewee keeps one connection per thread; each actor connects in its own
``on_start`` and closes in ``on_stop``/``on_failure``. SQLite runs in WAL mode
with ``synchronous=FULL`` (a committed SMS survives power loss before it is
deleted from the modem) and ``BEGIN IMMEDIATE`` write transactions, so that
concurrent writers wait on the busy timeout instead of failing on a lock
upgrade. ``secure_delete`` is on, so what an update or delete frees is zeroed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeAlias, cast

import peewee
from playhouse import db_url
from playhouse.pool import PooledPostgresqlDatabase

from laporgub.clock import SYSTEM, Clock

logger = logging.getLogger(__name__)

#: Models are bound to this proxy; :func:`open_database` points it at the real database.
database = peewee.DatabaseProxy()


class BaseModel(peewee.Model):
    """The models' base. peewee adds ``id`` (when no field is the primary key) and ``<fk>_id``
    at run time; the models declare them as annotations, so the type checker knows them
    (an annotation alone adds nothing at run time)."""

    class Meta:
        database = database
        legacy_table_names = False


#: One row of a ``.tuples()`` query.
Row: TypeAlias = tuple[Any, ...]


def save_changes(row: peewee.Model) -> None:
    """Write only the fields set since ``row`` was read. A whole-row ``save()`` would write back every
    column as it was read, undoing what another transaction committed meanwhile: an erasure's
    anonymised sender and redacted text, put back by an actor that had read the ticket before it."""
    changed = row.dirty_fields
    if changed:
        row.save(only=changed)


def tuples(query: peewee.BaseQuery) -> Iterable[Row]:
    """``query.tuples()``, typed as the tuples it yields (peewee's stubs keep the model as the row type)."""
    return cast("Iterable[Row]", query.tuples())


def tuple_get(query: peewee.SelectBase) -> Row:
    """``query.tuples().get()``: the first row as a tuple (``peewee.DoesNotExist`` when there is none)."""
    return cast(Row, query.tuples().get())


def dicts(query: peewee.BaseQuery) -> Iterable[dict[str, Any]]:
    """``query.dicts()``, typed as the dicts it yields."""
    return cast("Iterable[dict[str, Any]]", query.dicts())


class SchemaVersion(BaseModel):
    """One row per applied migration."""

    version = peewee.IntegerField(primary_key=True)
    applied_at = peewee.DoubleField()


class Incident(BaseModel):
    """Several complaints about one event (laporgub/incidents.py): PICs see one message and answer once.

    ``anchor`` is the first report: its notifications in the category groups are the
    incident's messages, edited as reports join (or, when they cannot be edited, the
    incident's own ``incident`` notifications). Not a foreign key, like ``merged_into``:
    tickets point at incidents (``Ticket.incident``), and a cycle of constraints would stop
    ``laporgub db copy`` from copying the tables one after the other.
    """

    id: peewee.AutoField[int]

    anchor = peewee.IntegerField(null=True)  # ticket id of the first report
    # open: reports may join | expired: the window passed with no new report | closed: a PIC closed it
    # merged: moved into ``merged_into`` (/gabung) | dissolved: fewer than two reports left (/pisah)
    status = peewee.CharField(max_length=16, default="open", index=True)
    regency = peewee.CharField(max_length=64, null=True)
    groups = peewee.TextField(default="")  # comma-separated topic groups of its reports
    opened_at = peewee.DoubleField()
    last_report_at = peewee.DoubleField(index=True)
    closed_at = peewee.DoubleField(null=True)
    closed_by = peewee.CharField(max_length=64, null=True)  # "window", "pic:<telegram id>", "merged"
    merged_into = peewee.IntegerField(null=True)
    threshold = peewee.IntegerField(default=0)  # the highest report count announced with a new message
    updated_at = peewee.DoubleField()


class Ticket(BaseModel):
    """A registered complaint (or suspected spam kept for a human to re-route)."""

    id: peewee.AutoField[int]

    number = peewee.CharField(max_length=24, unique=True)
    day = peewee.CharField(max_length=6)
    four = peewee.CharField(max_length=4)
    seq = peewee.IntegerField()
    sender = peewee.CharField(max_length=32, null=True, index=True)
    channel = peewee.CharField(max_length=8, default="sms")  # sms | web
    modem = peewee.CharField(max_length=64, null=True)
    kind = peewee.CharField(max_length=16, default="complaint")  # complaint | spam
    text = peewee.TextField()
    missing_parts = peewee.CharField(max_length=64, null=True)  # "2,3" when registered incomplete
    regency = peewee.CharField(max_length=64, null=True)
    status = peewee.CharField(max_length=16, default="open", index=True)  # open | responded | closed
    received_at = peewee.DoubleField(index=True)  # stage register starts
    registered_at = peewee.DoubleField()  # ticket committed
    filtered_at = peewee.DoubleField(null=True, index=True)  # categories committed
    notified_at = peewee.DoubleField(null=True)  # the Bot API accepted its last group notification
    updated_at = peewee.DoubleField()
    #: When the citizen's number was removed (retention policy or an erasure request); None: not anonymised.
    anonymised_at = peewee.DoubleField(null=True)
    #: The incident this complaint was linked to (one at most; schema version 4).
    incident = peewee.ForeignKeyField(Incident, null=True, backref="tickets", on_delete="SET NULL", index=True)
    #: Since when a PIC's question waits for the citizen's answer (``/tanya``, a reply ending in "?");
    #: None: not waiting (schema version 6, laporgub/conversations.py).
    waiting_since = peewee.DoubleField(null=True, index=True)
    incident_id: peewee.ForeignKeyField[int | None]
    categories: peewee.ModelSelect[TicketCategory]  # backref of TicketCategory.ticket

    class Meta:
        indexes = ((("day", "four", "seq"), True),)


class InboundSms(BaseModel):
    """Every SMS a modem gave us, stored before anything else happens."""

    id: peewee.AutoField[int]

    modem = peewee.CharField(max_length=64)
    dedupe_key = peewee.CharField(max_length=64, unique=True)  # sha256 of the raw PDU
    pdu = peewee.TextField()  # raw, as the modem printed it: kept even when undecodable
    sender_raw = peewee.CharField(max_length=64, null=True)
    sender = peewee.CharField(max_length=32, null=True, index=True)  # E.164 for subscribers
    text = peewee.TextField(null=True)
    encoding = peewee.CharField(max_length=8, null=True)
    sent_at = peewee.DoubleField(null=True)  # service-centre timestamp
    concat_ref = peewee.IntegerField(null=True)
    concat_total = peewee.IntegerField(null=True)
    concat_seq = peewee.IntegerField(null=True)
    reported_at = peewee.DoubleField()  # +CMTI or found in storage: the register stage starts here
    stored_at = peewee.DoubleField()
    # part: waiting for the other parts; done: handled; undecodable: kept raw and reported
    state = peewee.CharField(max_length=16, default="done", index=True)
    kind = peewee.CharField(max_length=16, null=True)
    error = peewee.TextField(null=True)
    ticket = peewee.ForeignKeyField(Ticket, null=True, backref="inbound", on_delete="SET NULL")
    ticket_id: peewee.ForeignKeyField[int | None]


class TicketCategory(BaseModel):
    """A group a ticket was routed to, with the keywords that matched (explainability).

    A re-routed ticket keeps the row of the group it left (``active`` false,
    ``removed_at`` set), so reports can count every group it passed through.
    """

    id: peewee.AutoField[int]

    ticket = peewee.ForeignKeyField(Ticket, backref="categories", on_delete="CASCADE")
    ticket_id: peewee.ForeignKeyField[int]
    group = peewee.CharField(max_length=32, index=True)
    keywords = peewee.TextField(default="")  # comma-separated
    source = peewee.CharField(max_length=16, default="filter")  # filter | reroute
    active = peewee.BooleanField(default=True)
    created_at = peewee.DoubleField()
    removed_at = peewee.DoubleField(null=True)

    class Meta:
        indexes = ((("ticket", "group"), True),)


class Notification(BaseModel):
    """The Telegram outbox: one row per (ticket or event, destination chat)."""

    id: peewee.AutoField[int]

    ticket = peewee.ForeignKeyField(Ticket, null=True, backref="notifications", on_delete="CASCADE")
    ticket_id: peewee.ForeignKeyField[int | None]
    inbound = peewee.ForeignKeyField(InboundSms, null=True, on_delete="SET NULL")
    inbound_id: peewee.ForeignKeyField[int | None]
    destination = peewee.CharField(max_length=64, index=True)  # group key, leader-<n>, admin
    chat_id = peewee.BigIntegerField()
    # ticket | spam | followup | operator | undecodable | alert | note | reminder | escalation | digest
    kind = peewee.CharField(max_length=16)
    text = peewee.TextField(null=True)  # ready-made text (alerts to the admin chat)
    status = peewee.CharField(max_length=16, default="pending", index=True)  # pending | sent | failed
    queued_at = peewee.DoubleField()  # notify starts
    sent_at = peewee.DoubleField(null=True)  # request sent: deliver starts
    acked_at = peewee.DoubleField(null=True)  # Bot API answered ok
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DoubleField(default=0.0)
    last_error = peewee.TextField(null=True)
    message_id = peewee.BigIntegerField(null=True, index=True)  # a PIC's reply names it: maps back to tickets
    #: Which instance is sending the row, since when (a lease: a dead instance's claim expires); see outbox.py.
    claimed_by = peewee.CharField(max_length=128, null=True)
    claimed_at = peewee.DoubleField(null=True)
    #: Rows of an incident (schema version 4): its own message (kind ``incident``, no text), a notice
    #: when its count crosses a threshold (kind ``incident``, with text), or an edit (kind ``edit``).
    incident = peewee.ForeignKeyField(Incident, null=True, on_delete="CASCADE", index=True)
    incident_id: peewee.ForeignKeyField[int | None]
    #: An ``edit`` row that rewrites one message only: the message of this row (else: the incident's).
    edit_of = peewee.ForeignKeyField("self", null=True, on_delete="CASCADE")
    edit_of_id: peewee.ForeignKeyField[int | None]


class Pic(BaseModel):
    """A person in charge, mirrored from config.toml at start-up."""

    id: peewee.AutoField[int]

    telegram_id = peewee.BigIntegerField(unique=True)
    name = peewee.CharField(max_length=128)
    agency = peewee.CharField(max_length=128)
    surat_tugas = peewee.CharField(max_length=64)
    groups = peewee.TextField(default="")  # comma-separated group keys
    admin = peewee.BooleanField(default=False)
    active = peewee.BooleanField(default=True)
    updated_at = peewee.DoubleField()


class PicResponse(BaseModel):
    """A PIC's answer to a ticket, recorded with who and when."""

    id: peewee.AutoField[int]

    ticket = peewee.ForeignKeyField(Ticket, backref="responses", on_delete="CASCADE")
    ticket_id: peewee.ForeignKeyField[int]
    pic_telegram_id = peewee.BigIntegerField()
    pic_name = peewee.CharField(max_length=128)
    agency = peewee.CharField(max_length=128, null=True)
    text = peewee.TextField()
    action = peewee.CharField(max_length=16, default="response")  # response | close | reroute
    chat_id = peewee.BigIntegerField(null=True)
    message_id = peewee.BigIntegerField(null=True)
    created_at = peewee.DoubleField()
    #: A response that asks the citizen something (schema version 6): the ticket then waits for the answer.
    question = peewee.BooleanField(default=False)


class OutboundSms(BaseModel):
    """The outbound SMS outbox: acknowledgements, help texts, status answers, PIC responses."""

    id: peewee.AutoField[int]

    destination = peewee.CharField(max_length=32)  # E.164
    text = peewee.TextField()
    purpose = peewee.CharField(max_length=16)  # ack | help | status | response
    ticket = peewee.ForeignKeyField(Ticket, null=True, backref="outbound", on_delete="SET NULL")
    ticket_id: peewee.ForeignKeyField[int | None]
    inbound = peewee.ForeignKeyField(InboundSms, null=True, on_delete="SET NULL")
    inbound_id: peewee.ForeignKeyField[int | None]
    status = peewee.CharField(max_length=16, default="pending", index=True)  # pending | sending | sent | failed
    created_at = peewee.DoubleField()
    claimed_by = peewee.CharField(max_length=64, null=True)
    claimed_at = peewee.DoubleField(null=True)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DoubleField(default=0.0)
    sent_at = peewee.DoubleField(null=True)
    modem = peewee.CharField(max_length=64, null=True)
    message_refs = peewee.CharField(max_length=64, null=True)  # +CMGS references, comma-separated
    last_error = peewee.TextField(null=True)


class ReportRun(BaseModel):
    """One monthly report delivery to one chat; the unique key makes it happen once."""

    id: peewee.AutoField[int]

    month = peewee.CharField(max_length=7)  # YYYY-MM, the month reported on
    chat_id = peewee.BigIntegerField()
    status = peewee.CharField(max_length=16, default="claimed")  # claimed | sent | failed
    claimed_by = peewee.CharField(max_length=64, null=True)
    claimed_at = peewee.DoubleField()
    sent_at = peewee.DoubleField(null=True)
    files = peewee.TextField(null=True)  # comma-separated file names sent
    last_error = peewee.TextField(null=True)

    class Meta:
        indexes = ((("month", "chat_id"), True),)


class TelegramState(BaseModel):
    """Small durable facts about the Bot API session, e.g. the getUpdates offset."""

    key = peewee.CharField(max_length=64, primary_key=True)
    value = peewee.TextField()
    updated_at = peewee.DoubleField()


class ChatReply(BaseModel):
    """The bot's answers in Telegram chats (acknowledgements, refusals, status), sent by the Responder.

    Queued in the same transaction as the action they confirm, so an answer is
    neither lost nor sent for an action that was rolled back.
    """

    id: peewee.AutoField[int]

    chat_id = peewee.BigIntegerField()
    reply_to_message_id = peewee.BigIntegerField(null=True)
    ticket = peewee.ForeignKeyField(Ticket, null=True, backref="chat_replies", on_delete="SET NULL")
    ticket_id: peewee.ForeignKeyField[int | None]
    text = peewee.TextField()
    status = peewee.CharField(max_length=16, default="pending", index=True)  # pending | sent | failed
    created_at = peewee.DoubleField()
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DoubleField(default=0.0)
    sent_at = peewee.DoubleField(null=True)
    message_id = peewee.BigIntegerField(null=True, index=True)  # replies to it map back to the ticket too
    last_error = peewee.TextField(null=True)
    claimed_by = peewee.CharField(max_length=128, null=True)  # the sending instance (a lease, as for notifications)
    claimed_at = peewee.DoubleField(null=True)


class FollowupEvent(BaseModel):
    """A follow-up step done for a ticket (``reminder``, ``escalation``); the unique key makes it happen once."""

    id: peewee.AutoField[int]

    ticket = peewee.ForeignKeyField(Ticket, backref="followups", on_delete="CASCADE")
    ticket_id: peewee.ForeignKeyField[int]
    step = peewee.CharField(max_length=16)
    created_at = peewee.DoubleField()

    class Meta:
        indexes = ((("ticket", "step"), True),)


class DigestRun(BaseModel):
    """One daily digest of one group; the unique key makes it happen once a day."""

    id: peewee.AutoField[int]

    group = peewee.CharField(max_length=32)
    day = peewee.CharField(max_length=10)  # YYYY-MM-DD in the service's time zone
    tickets = peewee.IntegerField(default=0)
    created_at = peewee.DoubleField()

    class Meta:
        indexes = ((("group", "day"), True),)


class AuditLog(BaseModel):
    """Every display or removal of a citizen's number in clear (UU 27/2022): who, when, what, whose (masked)."""

    id: peewee.AutoField[int]

    at = peewee.DoubleField(index=True)
    actor = peewee.CharField(max_length=64)  # the OS user of an admin command, or "service"
    action = peewee.CharField(max_length=32, index=True)  # export | erase | retention | read:personal
    subject = peewee.CharField(max_length=32, null=True)  # the number, masked (0811****0200)
    detail = peewee.TextField(default="")


class RetentionRun(BaseModel):
    """One daily run of the retention policy; the unique day makes it happen once a day."""

    id: peewee.AutoField[int]

    day = peewee.CharField(max_length=10, unique=True)  # YYYY-MM-DD in the service's time zone
    tickets = peewee.IntegerField(default=0)
    created_at = peewee.DoubleField()


class ApiKey(BaseModel):
    """A website API key: only its SHA-256 is stored (the key itself is shown once, at creation)."""

    id: peewee.AutoField[int]

    name = peewee.CharField(max_length=64, index=True)
    key_hash = peewee.CharField(max_length=64, unique=True)  # sha256 hex of the whole key
    prefix = peewee.CharField(max_length=16)  # the key's first characters, to recognise it in listings
    scopes = peewee.CharField(max_length=128)  # space-separated: submit read read:personal admin
    created_at = peewee.DoubleField()
    revoked_at = peewee.DoubleField(null=True)
    last_used_at = peewee.DoubleField(null=True)


class IdempotencyKey(BaseModel):
    """A web complaint's ``Idempotency-Key``, committed in the transaction that created its ticket."""

    id: peewee.AutoField[int]

    api_key = peewee.ForeignKeyField(ApiKey, on_delete="CASCADE")
    api_key_id: peewee.ForeignKeyField[int]
    key = peewee.CharField(max_length=128)
    request_hash = peewee.CharField(max_length=64)  # sha256 of the request body: a reuse must match
    ticket = peewee.ForeignKeyField(Ticket, on_delete="CASCADE")
    ticket_id: peewee.ForeignKeyField[int]
    created_at = peewee.DoubleField()

    class Meta:
        indexes = ((("api_key", "key"), True),)


class WebComplaint(BaseModel):
    """What a web complaint carried beyond the ticket's text (reporter name, hint, location)."""

    id: peewee.AutoField[int]

    ticket = peewee.ForeignKeyField(Ticket, unique=True, backref="web", on_delete="CASCADE")
    ticket_id: peewee.ForeignKeyField[int]
    api_key = peewee.ForeignKeyField(ApiKey, null=True, on_delete="SET NULL")
    api_key_id: peewee.ForeignKeyField[int | None]
    text = peewee.TextField()  # as submitted; the ticket's text adds location and hint for routing
    reporter_name = peewee.CharField(max_length=128, null=True)
    category_hint = peewee.CharField(max_length=128, null=True)
    location = peewee.CharField(max_length=500, null=True)
    created_at = peewee.DoubleField()


class WebhookDelivery(BaseModel):
    """The webhook outbox: one row per (ticket event, endpoint), written with the state change.

    Rows of one ticket go to one endpoint in id order: a row is claimed only when every
    earlier row of its ticket for that endpoint is ``delivered`` or ``dead``.
    """

    id: peewee.AutoField[int]

    event_id = peewee.CharField(max_length=36)  # the same for every endpoint: receivers dedupe on it
    endpoint = peewee.CharField(max_length=64)
    event = peewee.CharField(max_length=32)  # ticket.created | ticket.routed | ticket.rerouted | ...
    ticket_number = peewee.CharField(max_length=24)
    payload = peewee.TextField()  # the JSON body, fixed when the event happened
    status = peewee.CharField(max_length=16, default="pending", index=True)  # pending|sending|delivered|dead
    created_at = peewee.DoubleField(index=True)
    queued_at = peewee.DoubleField()  # created, or re-queued by a replay: dead-letter time counts from here
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DoubleField(default=0.0)
    claimed_by = peewee.CharField(max_length=64, null=True)
    claimed_at = peewee.DoubleField(null=True)
    delivered_at = peewee.DoubleField(null=True)
    last_status = peewee.IntegerField(null=True)  # the receiver's last HTTP status
    last_error = peewee.TextField(null=True)

    class Meta:
        indexes = (
            (("event_id", "endpoint"), True),
            (("endpoint", "ticket_number", "id"), False),
        )


class LinkProfile(BaseModel):
    """What linking compares of a complaint (laporgub/incidents.py), written when it is routed."""

    id: peewee.AutoField[int]

    ticket = peewee.ForeignKeyField(Ticket, unique=True, backref="link_profile", on_delete="CASCADE")
    ticket_id: peewee.ForeignKeyField[int]
    at = peewee.DoubleField(index=True)  # when it was routed (the incident window counts from here)
    regency = peewee.CharField(max_length=64, null=True, index=True)
    groups = peewee.TextField()  # topic groups matched by keyword, comma-separated
    primary = peewee.TextField()  # the groups with the most keywords among them
    villages = peewee.TextField(default="")  # named after desa/kelurahan/kampung/dusun/dukuh
    districts = peewee.TextField(default="")  # named after kecamatan
    names = peewee.TextField(default="")  # every place-like name (unknown words, towns)
    words = peewee.TextField(default="")  # stems of the other content words
    keywords = peewee.TextField(default="")  # stems of the matched keywords


class IncidentEvent(BaseModel):
    """Everything that happened to an incident, with who and when (an audit trail of links, merges, splits)."""

    id: peewee.AutoField[int]

    incident = peewee.ForeignKeyField(Incident, backref="events", on_delete="CASCADE")
    incident_id: peewee.ForeignKeyField[int]
    ticket = peewee.ForeignKeyField(Ticket, null=True, on_delete="SET NULL")
    ticket_id: peewee.ForeignKeyField[int | None]
    # open | link | merge | split | respond | close | expire | dissolve
    action = peewee.CharField(max_length=16)
    actor = peewee.CharField(max_length=64)  # "service" or "pic:<telegram id>"
    detail = peewee.TextField(default="")
    at = peewee.DoubleField(index=True)


#: Tables added by schema version 4 (incidents).
INCIDENT_MODELS: tuple[type[BaseModel], ...] = (Incident, LinkProfile, IncidentEvent)


#: Tables added by schema version 2 (the website API and webhooks).
V2_MODELS: tuple[type[BaseModel], ...] = (ApiKey, IdempotencyKey, WebComplaint, WebhookDelivery)


class Lease(BaseModel):
    """A named role only one instance plays at a time (``dispatch:<dest>``, ``getupdates``); see leases.py.

    The holder renews it well before ``expires_at``; another instance takes it over once expired.
    """

    name = peewee.CharField(max_length=96, primary_key=True)
    holder = peewee.CharField(max_length=128)
    acquired_at = peewee.DoubleField()
    renewed_at = peewee.DoubleField()
    expires_at = peewee.DoubleField()


MODELS: tuple[type[BaseModel], ...] = (
    SchemaVersion,
    Ticket,
    InboundSms,
    TicketCategory,
    Notification,
    Pic,
    PicResponse,
    OutboundSms,
    ReportRun,
    TelegramState,
    ChatReply,
    FollowupEvent,
    DigestRun,
    AuditLog,
    RetentionRun,
    *V2_MODELS,
    Lease,
    *INCIDENT_MODELS,
)


# --------------------------------------------------------------------------
# Opening and migrating.


def make_database(url: str) -> peewee.Database:
    """Build (not connect) the database for a ``[service] database`` URL."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return peewee.SqliteDatabase(
            path or ":memory:",
            pragmas={
                "journal_mode": "wal",
                "synchronous": "full",
                "busy_timeout": 10000,
                "foreign_keys": 1,
                "cache_size": -16000,
                # Freed space (an updated or deleted row's old bytes) is zeroed, not left for a file
                # reader to find: an erased number must not survive in a page (docs/privacy.md).
                "secure_delete": 1,
            },
            timeout=10,
            lock_type="IMMEDIATE",
        )
    if url.startswith(("postgresql://", "postgres://")):
        # psycopg2 (or psycopg 3) takes the URL as its DSN, query-string options included.
        # No cap: the pool only lets threads that work in short bursts (dispatchers) share
        # idle connections; a connection idle for 10 minutes is closed when next touched.
        return ReconnectingPostgresqlDatabase("postgresql://" + url.split("://", 1)[1],
                                              max_connections=None, stale_timeout=600)
    return db_url.connect(url)


def release_connection() -> None:
    """Hand this thread's connection back to the pool between bursts of work (PostgreSQL only).

    The next query checks one out again (peewee connects on use). On SQLite, where a
    connection is a file handle, the thread keeps its own.
    """
    target = database.obj
    if isinstance(target, PooledPostgresqlDatabase) and not target.is_closed() and not target.in_transaction():
        target.close()


def close_all() -> None:
    """Close this thread's connection and every idle pooled one (at the service's stop)."""
    target = database.obj
    if target is None:
        return
    if not target.is_closed():
        target.close()
    if isinstance(target, PooledPostgresqlDatabase):
        target.close_idle()


class ReconnectingPostgresqlDatabase(PooledPostgresqlDatabase):
    """PostgreSQL with a connection per actor thread (pooled) that survives a database restart.

    A connection the server closed (a restart, a failover, ``pg_terminate_backend``,
    an idle timeout in a pooler) is noticed by the driver as a closed connection. Outside a
    transaction (a single autocommit statement, or the ``BEGIN`` that opens one) it is
    replaced at once and the statement retried. Inside a transaction nothing is retried
    silently: the transaction's statements fail, its rollback drops the dead connection
    instead of failing again, and the caller's own retry (every actor's work is durable
    and retried from the database) runs on a fresh connection.
    """

    def _connection_lost(self) -> bool:
        conn = None if self._state.closed else self._state.conn
        return conn is not None and bool(getattr(conn, "closed", False))

    def _reopen(self) -> None:
        logger.warning("event=database_reconnect reason=connection_lost")
        self.close()  # the pool discards the dead connection; checkout skips other dead ones (SELECT 1)
        self.connect()

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        try:
            return super().execute_sql(sql, params)
        except (peewee.OperationalError, peewee.InterfaceError):
            if self.in_transaction() or not self._connection_lost():
                raise
        self._reopen()
        return super().execute_sql(sql, params)

    def begin(self, *args: Any, **kwargs: Any) -> None:
        try:
            return super().begin(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError):
            if self.in_transaction() or not self._connection_lost():
                raise
        self._reopen()
        return super().begin(*args, **kwargs)

    def rollback(self) -> None:
        if self._connection_lost():
            # The server ended the transaction with the connection: nothing to roll back.
            self.close()
            return
        super().rollback()


#: PostgreSQL advisory lock key held while migrating, so instances starting together migrate once.
_MIGRATION_LOCK = 0x4C475542  # "LGUB"


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///PATH`` URL (None for other databases and ``:memory:``)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):]
    return path if path and path != ":memory:" else None


def require_existing(url: str, key: str = "service.database") -> None:
    """Raise :class:`RegistryError` naming the path when a SQLite database file does not exist.

    Every command but ``run`` reads a database the service made: a typo in
    ``[service] database`` must not look like an empty month.
    """
    from laporgub.exceptions import RegistryError

    path = sqlite_path(url)
    if path is not None and not Path(path).is_file():
        raise RegistryError(f"{key}: no database file at {Path(path).absolute()} "
                            "(a typo in the path? `laporgub run` creates it on its first start)")


def open_database(url: str, *, create: bool = True, clock: Clock = SYSTEM) -> peewee.Database:
    """Point the models at ``url``, create or migrate the schema, and return the database.

    Args:
        create: make the SQLite file (and its directory) when it does not exist; only
            ``laporgub run`` does, every other command wants an existing database.
        clock: dates the migrations (the first one is the installation's birth, see
            :func:`installed_at`).
    """
    if not create:
        require_existing(url)
    db = make_database(url)
    database.initialize(db)
    with db.connection_context():
        if isinstance(db, peewee.PostgresqlDatabase):
            # DDL is transactional on PostgreSQL: the whole migration commits or nothing does,
            # and a second instance waits on the lock, then finds the schema current.
            with db.atomic():
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                migrate(db, clock)
        else:
            migrate(db, clock)
    return db


#: Ordered migrations: version -> function. Version 1 creates the first schema.
#: Later releases append ``(2, fn)``, ... ; each runs once, inside a transaction.
def _v1(db: peewee.Database) -> None:
    db.create_tables([m for m in MODELS if m is not SchemaVersion])


def _v2(db: peewee.Database) -> None:
    """The website API and webhooks: new tables, and ``ticket.change_seq`` for incremental sync.

    ``change_seq`` is not a model field (a stale ``save()`` must never write it back): a
    trigger sets it on every insert and update of a ticket to a number above every value
    committed before, and writers of tickets get it in commit order (laporgub/api/sync.py
    pages by it; :func:`install_change_seq` says how).
    """
    db.create_tables(list(V2_MODELS), safe=True)
    install_change_seq(db)


# ``ticket.change_seq`` (migration 2; laporgub/api/sync.py pages by it). SQLite: writers are
# serialised (one write transaction at a time, ``BEGIN IMMEDIATE``), so an ``AFTER
# INSERT/UPDATE`` trigger taking ``MAX + 1`` hands numbers out in commit order. PostgreSQL:
# a *deferred* constraint trigger takes the next value of a one-row counter at commit time;
# the counter's row lock is held until the commit ends, so numbers are handed out in commit
# order, and as it is the last lock a transaction takes, it cannot deadlock with row locks.
_CHANGE_SEQ_SQLITE = (
    "ALTER TABLE ticket ADD COLUMN change_seq INTEGER",
    "UPDATE ticket SET change_seq = id",
    "CREATE INDEX IF NOT EXISTS ticket_change_seq ON ticket (change_seq)",
    """CREATE TRIGGER IF NOT EXISTS ticket_change_seq_insert AFTER INSERT ON ticket
       BEGIN
         UPDATE ticket SET change_seq = (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM ticket) WHERE id = NEW.id;
       END""",
    # The trigger's own UPDATE changes change_seq, so it does not fire again.
    """CREATE TRIGGER IF NOT EXISTS ticket_change_seq_update AFTER UPDATE ON ticket
       WHEN NEW.change_seq IS OLD.change_seq
       BEGIN
         UPDATE ticket SET change_seq = (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM ticket) WHERE id = NEW.id;
       END""",
)

_CHANGE_SEQ_POSTGRES = (
    "ALTER TABLE ticket ADD COLUMN IF NOT EXISTS change_seq BIGINT",
    "UPDATE ticket SET change_seq = id",
    "CREATE INDEX IF NOT EXISTS ticket_change_seq ON ticket (change_seq)",
    "CREATE TABLE IF NOT EXISTS ticket_change_counter (id INTEGER PRIMARY KEY, value BIGINT NOT NULL)",
    "INSERT INTO ticket_change_counter (id, value) SELECT 1, COALESCE(MAX(id), 0) FROM ticket "
    "ON CONFLICT (id) DO NOTHING",
    """CREATE OR REPLACE FUNCTION laporgub_ticket_change_seq() RETURNS trigger AS $$
       DECLARE next_value BIGINT;
       BEGIN
         UPDATE ticket_change_counter SET value = value + 1 WHERE id = 1 RETURNING value INTO next_value;
         UPDATE ticket SET change_seq = next_value WHERE id = NEW.id;
         RETURN NULL;
       END
       $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS ticket_change_seq_insert ON ticket",
    """CREATE CONSTRAINT TRIGGER ticket_change_seq_insert AFTER INSERT ON ticket
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION laporgub_ticket_change_seq()""",
    "DROP TRIGGER IF EXISTS ticket_change_seq_update ON ticket",
    # Not queued by the trigger's own UPDATE (which changes change_seq): no loop at commit.
    """CREATE CONSTRAINT TRIGGER ticket_change_seq_update AFTER UPDATE ON ticket
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
       WHEN (NEW.change_seq IS NOT DISTINCT FROM OLD.change_seq)
       EXECUTE FUNCTION laporgub_ticket_change_seq()""",
)


def install_change_seq(database: peewee.Database) -> None:
    """Add ``ticket.change_seq`` and the triggers that maintain it (schema migration 2)."""
    statements: tuple[str, ...] = (
        _CHANGE_SEQ_SQLITE if isinstance(database, peewee.SqliteDatabase) else _CHANGE_SEQ_POSTGRES)
    if isinstance(database, peewee.SqliteDatabase):
        columns = {c.name for c in database.get_columns("ticket")}
        if "change_seq" in columns:
            statements = statements[2:]
    for sql in statements:
        database.execute_sql(sql)


def _v3(db: peewee.Database) -> None:
    """Several instances on one database: leases, and claims on the notification and chat-answer outboxes.

    Idempotent: a database created by version 1 of this release already has them.
    """
    from playhouse.migrate import PostgresqlMigrator, SqliteMigrator
    from playhouse.migrate import migrate as apply

    migrator = SqliteMigrator(db) if isinstance(db, peewee.SqliteDatabase) else PostgresqlMigrator(db)
    for model in (Notification, ChatReply):
        table = model._meta.table_name
        have = {c.name for c in db.get_columns(table)}
        fresh = {"claimed_by": lambda: peewee.CharField(max_length=128, null=True),
                 "claimed_at": lambda: peewee.DoubleField(null=True)}
        apply(*[migrator.add_column(table, name, make()) for name, make in fresh.items() if name not in have])
    db.create_tables([Lease], safe=True)


def _v4(db: peewee.Database) -> None:
    """Web request hashes were a plain SHA-256 of the request, the reporter's number in it: with four of
    its digits in the ticket number, brute-forced in seconds. They are keyed now (HMAC, laporgub/api/complaints.py);
    the old ones are dropped (``erased``: a repeat of such an Idempotency-Key gets its ticket without a comparison).
    """
    db.execute_sql("UPDATE idempotency_key SET request_hash = 'erased' WHERE request_hash <> 'erased'")




def _v5(db: peewee.Database) -> None:
    """Incidents: their tables, ``ticket.incident_id``, and ``notification.incident_id``/``edit_of_id``.

    Idempotent, like version 3: a database created by version 1 of this release has them.
    """
    from playhouse.migrate import PostgresqlMigrator, SqliteMigrator
    from playhouse.migrate import migrate as apply

    db.create_tables([Incident], safe=True)
    migrator = SqliteMigrator(db) if isinstance(db, peewee.SqliteDatabase) else PostgresqlMigrator(db)
    wanted = {
        Ticket: ("incident_id", Ticket.incident),
        Notification: ("incident_id", Notification.incident),
    }
    steps = []
    for model, (column, field) in wanted.items():
        if column not in {c.name for c in db.get_columns(model._meta.table_name)}:
            steps.append(migrator.add_column(model._meta.table_name, column, field))
    if "edit_of_id" not in {c.name for c in db.get_columns(Notification._meta.table_name)}:
        steps.append(migrator.add_column(Notification._meta.table_name, "edit_of_id", Notification.edit_of))
    apply(*steps)
    db.create_tables([LinkProfile, IncidentEvent], safe=True)


def _v6(db: peewee.Database) -> None:
    """Conversations: ``ticket.waiting_since`` (a PIC's question waits for the citizen) and
    ``pic_response.question``. A citizen's answer is an inbound SMS of kind ``answer`` on its ticket,
    posted as a notification of kind ``answer``: no new table.

    Idempotent, like version 3: a database created by version 1 of this release has them.
    """
    from playhouse.migrate import PostgresqlMigrator, SqliteMigrator
    from playhouse.migrate import migrate as apply

    migrator = SqliteMigrator(db) if isinstance(db, peewee.SqliteDatabase) else PostgresqlMigrator(db)
    steps = []
    for model, column, field in ((Ticket, "waiting_since", Ticket.waiting_since),
                                 (PicResponse, "question", PicResponse.question)):
        if column not in {c.name for c in db.get_columns(model._meta.table_name)}:
            steps.append(migrator.add_column(model._meta.table_name, column, field))
    apply(*steps)
    indexes = {i.name for i in db.get_indexes(Ticket._meta.table_name)}
    if "ticket_waiting_since" not in indexes:
        apply(migrator.add_index(Ticket._meta.table_name, ("waiting_since",), False))


MIGRATIONS: tuple[tuple[int, Callable[[peewee.Database], None]], ...] = (
    (1, _v1), (2, _v2), (3, _v3), (4, _v4), (5, _v5), (6, _v6))
SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(db: peewee.Database, clock: Clock = SYSTEM) -> int:
    """Apply the migrations this database lacks; return the schema version."""
    db.create_tables([SchemaVersion], safe=True)
    current = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar() or 0
    if current > SCHEMA_VERSION:
        from laporgub.exceptions import RegistryError

        raise RegistryError(
            f"database schema version {current} is newer than this release ({SCHEMA_VERSION}); upgrade LaporGub"
        )
    for version, step in MIGRATIONS:
        if version <= current:
            continue
        with db.atomic():
            step(db)
            SchemaVersion.create(version=version, applied_at=clock.time())
        logger.info("event=schema_migrated version=%s", version)
        current = version
    return current


def installed_at() -> float | None:
    """When this database was created (its first migration), epoch seconds; None if unknown."""
    return SchemaVersion.select(peewee.fn.MIN(SchemaVersion.applied_at)).scalar()


def is_sqlite(db: peewee.Database | None = None) -> bool:
    """Whether the bound database is SQLite (write claims differ per backend)."""
    target = db if db is not None else database.obj
    return isinstance(target, peewee.SqliteDatabase)
