"""The type checker runs with the tests, so CI runs it: mypy, as ``[tool.mypy]`` in pyproject.toml sets it up.

The whole package passes mypy's default checks, function bodies without annotations
included; the domain modules (plain functions the actors call) pass the flags of
``--strict``. A cold run (a fresh cache in ``tmp_path``) takes 30-60 s on one core:
conftest.py orders this test first, so it runs beside the rest of the suite, not after it.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Checked with the flags of --strict (issue: routing, tickets, pdu, AT parsing, render, intake, outbox, report).
STRICT = {
    "laporgub.routing", "laporgub.tickets", "laporgub.pdu", "laporgub.at", "laporgub.render", "laporgub.intake",
    "laporgub.outbox", "laporgub.report.*", "laporgub.masking", "laporgub.clock",
}


@pytest.mark.timeout(600)
@pytest.mark.runs_first
def test_mypy_passes_on_the_package(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=540,
    )
    assert proc.returncode == 0, f"mypy (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"


def test_domain_modules_are_checked_strictly() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["files"] == ["laporgub"] and config["check_untyped_defs"] is True
    strict = [o for o in config.get("overrides", []) if o.get("disallow_untyped_defs")]
    assert strict, "an override turns the flags of --strict on for the domain modules"
    modules = {m for o in strict for m in o["module"]}
    assert STRICT <= modules, f"not checked strictly: {sorted(STRICT - modules)}"
    for flag in ("disallow_any_generics", "disallow_untyped_calls", "disallow_incomplete_defs", "warn_return_any",
                 "no_implicit_reexport", "strict_equality"):
        assert all(o.get(flag) is True for o in strict), flag
