"""What the actors share in their base class and the directory of names: dispatch, database, names."""

from __future__ import annotations

import ast
import importlib
import logging
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import laporgub
import laporgub.actors
from laporgub import actor_names, db
from laporgub.actors._base import Directory, LaporgubActor, Scheduler, handles
from laporgub.config import LOG_COMPONENTS
from laporgub.messages import NotificationsQueued, Tick

ACTOR_MODULES = sorted(m.name for m in pkgutil.iter_modules(laporgub.actors.__path__) if not m.name.startswith("_"))


class Echo(LaporgubActor):
    actor_name = "echo"

    @handles(Tick)
    def _on_tick(self, message: Tick) -> str:
        return f"tick {message.reason}"

    @handles(NotificationsQueued)
    def _on_queued(self, message: NotificationsQueued) -> str:
        return f"queued {message.destination}"


class LoudEcho(Echo):
    @handles(Tick)
    def _on_loud_tick(self, message: Tick) -> str:
        return f"TICK {message.reason}"


def test_messages_go_to_the_method_marked_for_their_type(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler()
    ref = Echo.start(directory=Directory(), scheduler=scheduler)
    loud = LoudEcho.start(directory=Directory(), scheduler=scheduler)
    try:
        assert ref.ask(Tick("now")) == "tick now"
        assert ref.ask(NotificationsQueued("kesehatan")) == "queued kesehatan"
        # A subclass overrides one handler and inherits the others.
        assert loud.ask(Tick("now")) == "TICK now" and loud.ask(NotificationsQueued("x")) == "queued x"
        with caplog.at_level(logging.WARNING):
            assert ref.ask("stray") is None
        record = next(r for r in caplog.records if "event=unknown_message" in r.getMessage())
        assert record.getMessage() == "event=unknown_message actor=echo message='str'"
        assert record.name == __name__  # the actor's own module: its [service.log_levels] component applies
    finally:
        ref.stop()
        loud.stop()
        scheduler.stop()


def test_an_actor_that_uses_the_database_opens_and_closes_its_connection(tmp_path: Path) -> None:
    db.open_database(f"sqlite:///{tmp_path / 'plumbing.db'}")
    seen: dict[str, Any] = {}

    class Reader(LaporgubActor):
        actor_name = "reader"
        uses_database = True

        def on_start(self) -> None:
            super().on_start()
            seen["open_at_start"] = not db.database.is_closed()

        def release(self) -> None:
            seen["open_in_release"] = not db.database.is_closed()  # the subclass still has it here

        def on_stop(self) -> None:
            super().on_stop()
            seen["closed_after_stop"] = db.database.is_closed()

    scheduler = Scheduler()
    try:
        ref = Reader.start(directory=Directory(), scheduler=scheduler)
        assert ref.proxy().ping().get(timeout=5)
        ref.stop()
        assert seen == {"open_at_start": True, "open_in_release": True, "closed_after_stop": True}
    finally:
        scheduler.stop()
        db.close_all()


def test_every_actor_module_is_listed_and_has_a_log_component() -> None:
    doc = laporgub.actors.__doc__ or ""
    components = set(LOG_COMPONENTS.values())
    for name in ACTOR_MODULES:
        module = importlib.import_module(f"laporgub.actors.{name}")
        actors = [v for v in vars(module).values()
                  if isinstance(v, type) and issubclass(v, LaporgubActor) and v.__module__ == module.__name__]
        assert actors, f"laporgub.actors.{name} defines no actor"
        for actor in actors:
            assert f"{name}.{actor.__name__}" in doc, f"laporgub/actors/__init__.py does not list {actor.__name__}"
        assert module.__name__ in components, f"no [service.log_levels] component for {module.__name__}"


def test_no_actor_method_is_defined_twice() -> None:
    # A handler named like another method of its class would be silently replaced by it (the later
    # ``def`` wins), and its message type would fall through to event=unknown_message.
    for name in ACTOR_MODULES:
        tree = ast.parse((Path(laporgub.actors.__file__).parent / f"{name}.py").read_text())
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            methods = [f.name for f in cls.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
            assert sorted(set(methods)) == sorted(methods), f"{name}.{cls.__name__} defines a method twice"


def test_every_handled_message_type_reaches_its_handler() -> None:
    for name in ACTOR_MODULES:
        module = importlib.import_module(f"laporgub.actors.{name}")
        for actor in (v for v in vars(module).values() if isinstance(v, type) and issubclass(v, LaporgubActor)):
            for message_type, method in actor._handlers.items():
                assert message_type in getattr(getattr(actor, method), "_laporgub_handles", ()), \
                    f"{actor.__name__}.{method} does not handle {message_type.__name__}"


def test_actor_names_are_built_only_in_the_directory_of_names() -> None:
    # A sender and its receiver cannot drift apart when the name is built in one place.
    root = Path(laporgub.__file__).parent
    pattern = re.compile(r"""f?["'](dispatcher|modem):""")
    offenders = [f"{path.relative_to(root)}:{n}" for path in root.rglob("*.py") if path.name != "actor_names.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line) and not line.lstrip().startswith("#")]
    assert offenders == []
    assert actor_names.dispatcher("admin") == "dispatcher:admin" and actor_names.modem("m1") == "modem:m1"
