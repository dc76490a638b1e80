"""Chaos suite option: ``pytest tests/chaos --soak=600`` (or ``LAPORGUB_SOAK_SECONDS=600``) streams longer.

The option exists when pytest is pointed at ``tests/chaos`` (this conftest is then
loaded at start-up); the environment variable works in every invocation.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", type=float, default=None, metavar="SECONDS",
                     help="chaos suite: stream SMS and inject faults this many seconds more per test (soak)")


def pytest_configure(config: pytest.Config) -> None:
    try:
        soak = config.getoption("soak", default=None)
    except ValueError:
        soak = None
    if soak:
        os.environ["LAPORGUB_SOAK_SECONDS"] = str(soak)  # read by the chaos modules at import
