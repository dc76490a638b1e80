"""Test-only fault injection: kill an actor from inside the running service.

Loaded only when ``LAPORGUB_TEST_HOOK=tests.chaos.faults`` (laporgub/cli/serve.py imports
the module that variable names and calls its ``install(service)``: the package ships no
test code, and a production unit sets neither variable). The chaos harness sets it with
``LAPORGUB_FAULT_INJECTION``, which names a file: ``SIGUSR2`` makes the service read that
file (one actor name per line, e.g. ``registry`` or ``dispatcher:channel``) and make each
named actor fail the way a bug would: a message whose handling raises, sent with ``tell``,
so pykka's own failure path runs (``on_failure``, the actor unregistered and
stopped) and the supervisor has to notice and restart it.

The signal handler only counts (it may interrupt the main thread while that
holds a queue lock); a daemon thread does the work.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pykka
from pykka.messages import ProxyCall

from laporgub.actors._base import Directory
from laporgub.app import Service

logger = logging.getLogger(__name__)

ENV = "LAPORGUB_FAULT_INJECTION"


def install(service: Service) -> bool:
    """The ``LAPORGUB_TEST_HOOK`` entry point: arm the hook for ``service``'s actors."""
    return install_from_env(service.directory)


def install_from_env(directory: Directory, environ: Mapping[str, str] = os.environ) -> bool:
    """Arm the SIGUSR2 hook if ``LAPORGUB_FAULT_INJECTION`` is set (main thread only); True if armed."""
    path = environ.get(ENV)
    if not path:
        return False
    requested = [0]

    def on_signal(signum: int, frame: object) -> None:
        requested[0] += 1

    signal.signal(signal.SIGUSR2, on_signal)

    def loop() -> None:
        seen = 0
        while True:
            time.sleep(0.05)
            if requested[0] == seen:
                continue
            seen = requested[0]
            try:
                names = [n.strip() for n in Path(path).read_text(encoding="utf-8").splitlines() if n.strip()]
            except OSError as exc:
                logger.error("event=fault_injection_unreadable path=%s error=%s", path, exc)
                continue
            for name in names:
                kill_actor(directory, name)

    threading.Thread(target=loop, name="fault-injection", daemon=True).start()
    logger.warning("event=fault_injection_armed signal=SIGUSR2 file=%s", path)
    return True


def kill_actor(directory: Directory, name: str) -> bool:
    """Make the actor ``name`` fail with an unhandled exception (a call its ``ping`` cannot take)."""
    ref = directory.get(name)
    if ref is None:
        logger.warning("event=fault_injected actor=%s result=absent", name)
        return False
    try:
        ref.tell(ProxyCall(attr_path=("ping",), args=(), kwargs={"injected_fault": True}))
    except pykka.ActorDeadError:
        logger.warning("event=fault_injected actor=%s result=already_dead", name)
        return False
    logger.warning("event=fault_injected actor=%s result=told", name)
    return True
