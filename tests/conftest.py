"""Shared fixtures: the real emulators (pty modem, Bot API stand-in) and configs pointing at them."""

from __future__ import annotations

import copy
import os
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee
import pykka
import pytest

from laporgub import db
from laporgub.config import Config, parse_config
from laporgub.sim.botapi import BotApiServer
from laporgub.sim.modem import ModemEmulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-TOKEN-laporgub"
TOKEN_ENV = "LAPORGUB_TEST_TOKEN"

# -- PostgreSQL --------------------------------------------------------------------------
# Tests marked ``both_backends`` run twice: on a SQLite file and on a fresh PostgreSQL
# database (``CREATE DATABASE lg_<random>``, dropped after the test) on the server named by
# $LAPORGUB_TEST_POSTGRES (default: the local one, trust auth). Without a reachable server
# the PostgreSQL variants are skipped with the reason; with LAPORGUB_REQUIRE_POSTGRES=1 (CI)
# they fail instead.

PG_ADMIN_URL = os.environ.get("LAPORGUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")
_pg_state: dict[str, str | None] = {}


def pg_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server answers."""
    if "reason" not in _pg_state:
        try:
            import psycopg2

            psycopg2.connect(PG_ADMIN_URL, connect_timeout=3).close()
            _pg_state["reason"] = None
        except Exception as exc:  # no driver, no server, refused
            _pg_state["reason"] = f"PostgreSQL at {PG_ADMIN_URL} unreachable ({type(exc).__name__}: " \
                                  f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
    return _pg_state["reason"]


def require_postgres() -> None:
    """Skip (or, under LAPORGUB_REQUIRE_POSTGRES=1, fail) when PostgreSQL is unreachable."""
    reason = pg_unavailable()
    if reason is None:
        return
    if os.environ.get("LAPORGUB_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason}; LAPORGUB_REQUIRE_POSTGRES=1 makes this a failure")
    pytest.skip(reason)


def _pg_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_URL, connect_timeout=5)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def pg_url_for(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    base, _, _old = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    require_postgres()
    name = f"lg_{uuid.uuid4().hex[:16]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url_for(name)
    finally:
        if isinstance(db.database.obj, peewee.PostgresqlDatabase):
            try:
                if not db.database.is_closed():
                    db.database.close()
            except Exception:
                pass
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def db_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the test is marked ``both_backends`` (then both, one run each)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture()
def db_url(db_backend: str, request: pytest.FixtureRequest) -> str | None:
    """The database URL a test's service uses: None (a SQLite file in tmp_path) or a fresh PostgreSQL database."""
    if db_backend == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_backends: run the test on SQLite and on PostgreSQL")
    config.addinivalue_line("markers", "runs_first: a long test (the type check) starts first, beside the others")


#: Files of long tests (processes killed and restarted, faults that last seconds): 20 to 55 s each.
LONG_FILES = ("tests/chaos/", "tests/test_incidents_process.py", "tests/test_modem_faults.py",
              "tests/test_sdnotify.py", "tests/test_incidents_pipeline.py", "tests/test_scale.py",
              "tests/test_process.py", "tests/test_demo.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A long test collected last would run alone at the end. The long ones go first, dealt out to
    # the heads of the workers' shares (pytest-xdist gives each worker a consecutive share of this
    # order and lets an idle one steal from the others' tails), so every worker starts on one.
    def is_long(item: pytest.Item) -> bool:
        return item.get_closest_marker("runs_first") is not None or item.nodeid.startswith(LONG_FILES)

    long = [item for item in items if is_long(item)]
    long.sort(key=lambda item: item.get_closest_marker("runs_first") is None)
    rest = [item for item in items if not is_long(item)]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    share = -(-len(items) // workers)
    dealt: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for i, item in enumerate(long):
        dealt[i % workers].append(item)
    ordered: list[pytest.Item] = []
    for head in dealt:
        take = max(0, share - len(head))
        ordered += head + rest[:take]
        rest = rest[take:]
    items[:] = ordered + rest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_backends") and "db_backend" in metafunc.fixturenames:
        metafunc.parametrize("db_backend", BACKENDS, indirect=True)

#: A PIC of the infrastruktur group whom config.toml does not have (tests add them with add_pics).
PIC_PU = 333333333


def add_pics(data: dict[str, Any]) -> None:
    """Add :data:`PIC_PU` (Dinas PU Bina Marga, infrastruktur) to a config's ``[[pics]]``."""
    data["pics"].append({"telegram_id": PIC_PU, "name": "Ir. Budi Santoso", "agency": "Dinas PU Bina Marga",
                         "surat_tugas": "600/77/2026", "groups": ["infrastruktur"], "admin": False})


def default_data() -> dict[str, Any]:
    return tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))

def make_config_data(
    tmp_path: Path, modem_ports: list[str], base_url: str, *, group_interval: float = 0.2, sweep: float = 2.0,
    database: str | None = None,
) -> dict[str, Any]:
    """The repository's config.toml pointed at the test's emulators, database and ports."""
    data = copy.deepcopy(default_data())
    data["service"]["database"] = database or f"sqlite:///{tmp_path / 'laporgub.db'}"
    data["metrics"]["listen"] = "127.0.0.1:0"
    data.pop("api", None)
    data["telegram"].update(
        base_url=base_url, token_env=TOKEN_ENV, group_interval_seconds=group_interval,
        private_interval_seconds=group_interval, request_timeout_seconds=3.0,
    )
    data["modems"] = [
        {"name": f"modem-{i}", "port": port, "sweep_interval_seconds": sweep, "command_timeout_seconds": 5}
        for i, port in enumerate(modem_ports, 1)
    ]
    return data

def write_config(path: Path, data: dict[str, Any]) -> Path:
    """Write a config dict as TOML (enough of TOML for our config's shapes)."""
    import json

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(type(v))

    lines: list[str] = []

    def table(name: str, content: dict[str, Any], array: bool = False) -> None:
        lines.append(f"[[{name}]]" if array else f"[{name}]")
        nested = []
        for k, v in content.items():
            if isinstance(v, dict):
                nested.append((k, v))
            else:
                lines.append(f"{k} = {value(v)}")
        lines.append("")
        for k, v in nested:
            table(f"{name}.{k}", v)

    for key, content in data.items():
        if isinstance(content, dict):
            table(key, content)
        elif isinstance(content, list):
            for item in content:
                table(key, item, array=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

@pytest.fixture()
def modem() -> Iterator[ModemEmulator]:
    emulator = ModemEmulator(name="test-modem", storage_size=30).start()
    yield emulator
    emulator.stop()

@pytest.fixture()
def botapi() -> Iterator[BotApiServer]:
    server = BotApiServer(token=TOKEN).start()
    yield server
    server.stop()

@pytest.fixture()
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN

@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=5)

@pytest.fixture()
def make_service(tmp_path: Path, token_env: str, db_url: str | None) -> Iterator[Callable[..., Any]]:
    """Start an in-process Service on the given emulators; stopped at teardown.

    On the backend of the test (``db_url``): SQLite unless marked ``both_backends``.
    """
    from laporgub.app import Service
    from laporgub.config import Secret

    services: list[Any] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(modems: list[ModemEmulator], server: BotApiServer, *, tweak: Callable[[dict[str, Any]], None] | None = None,
              clock: Any = None, **kwargs: Any) -> Any:
        if db_url is not None:
            kwargs.setdefault("database", db_url)
        data = make_config_data(tmp_path, [m.port for m in modems], server.base_url, **kwargs)
        if tweak is not None:
            tweak(data)
        config: Config = parse_config(data)
        service = Service(config, Secret(token_env), metrics_server=False,
                          **({"clock": clock} if clock is not None else {}))
        services.append(service)
        service.start()
        # The supervision loop, as the main thread runs it in `laporgub run`.
        thread = threading.Thread(target=service.run, args=(stop,), name="test-supervisor", daemon=True)
        thread.start()
        threads.append(thread)
        assert service.wait_ready(20), "service not ready"
        return service

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    for service in services:
        service.stop()

class Waited:
    """What :func:`wait_until` saw: true when the condition held; when not, its repr says what was observed.

    ``assert wait_until(...)`` then fails with the observation in pytest's message, not a bare ``False``.
    """

    def __init__(self, ok: bool, timeout: float, what: str, observed: str) -> None:
        self.ok, self.timeout, self.what, self.observed = ok, timeout, what, observed

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        if self.ok:
            return "<condition met>"
        return f"<condition {self.what} not met within {self.timeout:g} s; observed: {self.observed}>"


def _describe(predicate: Callable[[], object]) -> str:
    import inspect

    try:
        source = inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return getattr(predicate, "__name__", repr(predicate))
    start = source.find("lambda")
    return " ".join((source[start:] if start >= 0 else source).split())[:300]


def observe_database() -> str:
    """Counts that explain most stuck pipeline waits (tickets, routing, outboxes by status); never raises."""
    try:
        if db.database.obj is None:
            return "no database bound"
        with db.database.connection_context():
            parts = [f"inbound_sms={db.InboundSms.select().count()}",
                     f"tickets={db.Ticket.select().count()}",
                     f"unrouted={db.Ticket.select().where(db.Ticket.filtered_at.is_null()).count()}"]
            for model, name in ((db.Notification, "notifications"), (db.OutboundSms, "sms_out"),
                                (db.ChatReply, "chat_replies")):
                rows = model.select(model.status, peewee.fn.COUNT(model.id).alias("n")).group_by(model.status)
                parts.append(f"{name}={{{', '.join(f'{r.status}: {r.n}' for r in rows)}}}")
        return " ".join(parts)
    except Exception as exc:  # noqa: BLE001 - an observation must not hide the real failure
        return f"(database not readable: {type(exc).__name__}: {exc})"


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05,
               observe: Callable[[], object] | None = None) -> Waited:
    """Poll ``predicate`` (a database or emulator condition) until true or ``timeout`` seconds pass.

    A condition with a deadline, never a fixed sleep. Returns a :class:`Waited` that is
    truthy when the condition held; when it did not, its repr names the condition and what
    ``observe`` (default: the database's counts) returned at the deadline.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return Waited(True, timeout, "", "")
        time.sleep(interval)
    if predicate():
        return Waited(True, timeout, "", "")
    try:
        seen = observe() if observe is not None else observe_database()
    except Exception as exc:  # noqa: BLE001
        seen = f"(observation failed: {exc!r})"
    return Waited(False, timeout, _describe(predicate), str(seen)[:2000])

def outboxes_settled(*, sms: bool = True, chat_replies: bool = False) -> bool:
    """Every ticket routed and every notification (and outbound SMS, chat answer) sent, read in ONE statement.

    Do not split this into one COUNT per table: each statement reads its own snapshot (PostgreSQL's
    READ COMMITTED, SQLite's autocommit), so the notification count could run just before the filter
    commits a ticket's routing (no rows yet: 0 pending) and the "unrouted tickets" count just after
    (0 unrouted), and the check would pass while the new rows were still pending, nothing sent yet.
    That flaked test_telegram_errors_keep_rows_pending_until_accepted[postgresql] in CI. One SELECT of
    scalar subqueries reads one snapshot on both backends.
    """
    n, o, t, c = db.Notification, db.OutboundSms, db.Ticket, db.ChatReply
    unsettled = [
        n.select(peewee.fn.COUNT(n.id)).where(n.status != "sent"),
        t.select(peewee.fn.COUNT(t.id)).where(t.filtered_at.is_null()),
    ]
    if sms:
        unsettled.append(o.select(peewee.fn.COUNT(o.id)).where(o.status != "sent"))
    if chat_replies:
        unsettled.append(c.select(peewee.fn.COUNT(c.id)).where(c.status != "sent"))
    query = peewee.Select(columns=[q.alias(f"u{i}") for i, q in enumerate(unsettled)]).bind(db.database)
    with db.database.connection_context():
        counts = query.tuples().first()
    return counts is not None and not any(counts)

@contextmanager
def memory_intake() -> Iterator[Any]:
    """An Intake of the default config on an in-memory SQLite database (no service, no threads)."""
    from laporgub.intake import Intake, build_classifier
    from laporgub.render import Renderer

    config = parse_config(default_data())
    database = peewee.SqliteDatabase(":memory:", pragmas={"foreign_keys": 1})
    db.database.initialize(database)
    try:
        with database.connection_context():
            db.migrate(database)
            yield Intake(config, build_classifier(config), Renderer(config))
    finally:
        db.database.initialize(None)


def db_count(query: Callable[[], Any]) -> int:
    """Run a count in a connection of the test's own thread."""
    with db.database.connection_context():
        return int(query())

