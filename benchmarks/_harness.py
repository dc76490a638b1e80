"""What the benchmarks share: the real service in-process on the emulators, and percentiles."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from laporgub.app import Service  # noqa: E402
from laporgub.config import Secret, parse_config  # noqa: E402
from laporgub.sim.botapi import BotApiServer  # noqa: E402
from laporgub.sim.modem import ModemEmulator  # noqa: E402
from tests.conftest import make_config_data  # noqa: E402

TOKEN = "123456:BENCHMARK"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


def start_service(
    workdir: Path, modem: ModemEmulator, botapi: BotApiServer, *, tweak: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Service, threading.Event]:
    """The whole service on ``modem`` and ``botapi`` with the repository's config.toml, supervised, ready."""
    data = make_config_data(workdir, [modem.port], botapi.base_url, group_interval=3.2, sweep=30.0)
    if tweak is not None:
        tweak(data)
    os.environ["LAPORGUB_TEST_TOKEN"] = TOKEN
    service = Service(parse_config(data), Secret(TOKEN), metrics_server=False)
    service.start()
    stop = threading.Event()
    threading.Thread(target=service.run, args=(stop,), daemon=True).start()
    if not service.wait_ready(30):
        raise SystemExit("service not ready")
    return service, stop
