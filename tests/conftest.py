"""Shared fixtures: the real emulators (pty modem, Bot API stand-in) and configs pointing at them."""

from __future__ import annotations

import copy
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from laporgub import db
from laporgub.config import Config, parse_config
from laporgub.sim.botapi import BotApiServer
from laporgub.sim.modem import ModemEmulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-TOKEN-laporgub"
TOKEN_ENV = "LAPORGUB_TEST_TOKEN"

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
def make_service(tmp_path: Path, token_env: str) -> Iterator[Callable[..., Any]]:
    """Start an in-process Service on the given emulators; stopped at teardown."""
    from laporgub.app import Service
    from laporgub.config import Secret

    services: list[Any] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(modems: list[ModemEmulator], server: BotApiServer, *, tweak: Callable[[dict[str, Any]], None] | None = None,
              **kwargs: Any) -> Any:
        data = make_config_data(tmp_path, [m.port for m in modems], server.base_url, **kwargs)
        if tweak is not None:
            tweak(data)
        config: Config = parse_config(data)
        service = Service(config, Secret(token_env), metrics_server=False)
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

def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` (a database or emulator condition) until true or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()

def db_count(query: Callable[[], Any]) -> int:
    """Run a count in a connection of the test's own thread."""
    with db.database.connection_context():
        return int(query())

