"""``laporgub run``: the service in the foreground, stopped by SIGTERM/SIGINT, reloaded by SIGHUP."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
from types import FrameType

from laporgub.cli._common import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, load
from laporgub.config import Config, read_token
from laporgub.exceptions import ConfigError, LaporgubError

logger = logging.getLogger("laporgub.cli")

#: Names a module (e.g. ``tests.chaos.faults``) whose ``install(service)`` runs once the service is built,
#: before it starts: how the chaos suite reaches inside a running process. A production unit never sets it;
#: the package itself contains no test code.
TEST_HOOK_ENV = "LAPORGUB_TEST_HOOK"


def run(path: str) -> int:
    """``laporgub run``: the service in the foreground."""
    from laporgub.logsetup import setup_logging

    config = load(path)
    if config is None:
        return EXIT_CONFIG
    try:
        token = read_token(config.telegram)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.service.log_level, components=dict(config.service.log_levels))
    should_exit = threading.Event()
    reload_requested = threading.Event()
    install_signal_handlers(should_exit, reload_requested)
    return serve(config, token, should_exit, reload_requested)


def serve(config: Config, token: str, should_exit: threading.Event,
          reload_requested: threading.Event | None = None) -> int:
    """Start the service, supervise until ``should_exit``, stop in order."""
    from laporgub.app import Service
    from laporgub.config import Secret
    from laporgub.supervisor import SupervisorGaveUp

    service = Service(config, Secret(token))
    if reload_requested is not None:
        service.reload_requested = reload_requested
    hook = os.environ.get(TEST_HOOK_ENV)
    if hook and threading.current_thread() is threading.main_thread():
        importlib.import_module(hook).install(service)  # signal handlers need the main thread
    code = EXIT_OK
    try:
        service.start()
        service.run(should_exit)
    except SupervisorGaveUp as exc:
        logger.critical("event=service_failed reason=%s", exc)
        code = EXIT_FAILURE
    except LaporgubError as exc:
        logger.error("event=startup_failed reason=%s", exc)
        code = EXIT_FAILURE
    except Exception:
        logger.exception("event=service_crashed")
        code = EXIT_FAILURE
    finally:
        service.stop()
    return code


def install_signal_handlers(should_exit: threading.Event, reload_requested: threading.Event | None = None) -> None:
    """Handlers only set flags: SIGTERM/SIGINT stop (a second SIGINT forces it), SIGHUP reloads the config,
    SIGUSR1 dumps thread stacks."""

    def on_exit(signum: int, frame: FrameType | None) -> None:
        if should_exit.is_set() and signum == signal.SIGINT:
            raise SystemExit(EXIT_FAILURE)
        logger.info("event=signal_received signal=%s", signal.Signals(signum).name)
        should_exit.set()

    signal.signal(signal.SIGTERM, on_exit)
    signal.signal(signal.SIGINT, on_exit)
    if reload_requested is not None:
        signal.signal(signal.SIGHUP, lambda signum, frame: reload_requested.set())
    try:
        import pykka.debug

        signal.signal(signal.SIGUSR1, pykka.debug.log_thread_tracebacks)
    except (ImportError, AttributeError, ValueError):
        pass
