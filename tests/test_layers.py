"""The layers hold: `lint-imports` passes on the package, and fails when a module crosses one.

The contracts are pyproject.toml's ``[tool.importlinter]``: domain modules import no actor, no
command and no web framework; actors and the service import no command; only the entry points
import ``laporgub.cli``; only the demo imports the emulators; no import cycles. Running them here
makes the README's test command (and so CI) check them; the violations below show that each
contract would catch the change it is there for, on a copy of the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def lint_imports(cwd: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the pyproject.toml in ``cwd``; the package found first on ``extra_path``."""
    exe = Path(sys.executable).with_name("lint-imports")
    command = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    env = {**os.environ, "COLUMNS": "200"}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([*command, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_layers_hold() -> None:
    result = lint_imports(ROOT)
    out = _flat(result.stdout + result.stderr)
    assert result.returncode == 0, out
    assert "Contracts: 5 kept, 0 broken." in out


@pytest.mark.parametrize(("module", "line", "broken", "culprit"), [
    ("actors/registry.py", "from laporgub.cli import main as _main",
     ["Actors and the service import no command BROKEN", "Only the entry points import the commands BROKEN"],
     "laporgub.actors.registry -> laporgub.cli"),
    ("routing.py", "import fastapi as _fastapi",
     ["Domain modules import no actor, no command, no web framework, no emulator BROKEN"],
     "laporgub.routing -> fastapi"),
    ("outbox.py", "from laporgub.sim import modem as _modem",
     ["Only the demo imports the emulators", "Domain modules import no actor"], "laporgub.outbox -> laporgub.sim"),
    ("masking.py", "from laporgub import tickets as _tickets", ["No import cycles BROKEN"],
     "acyclic by removing 1 dependency"),
], ids=["actor-imports-cli", "domain-imports-fastapi", "domain-imports-sim", "cycle"])
def test_a_module_crossing_a_layer_fails(tmp_path: Path, module: str, line: str, broken: list[str],
                                         culprit: str) -> None:
    shutil.copytree(ROOT / "laporgub", tmp_path / "laporgub", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "laporgub" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # the deliberate violation\n", encoding="utf-8")

    result = lint_imports(tmp_path, extra_path=tmp_path)
    out = _flat(result.stdout + result.stderr)
    assert result.returncode == 1, out
    for contract in broken:
        assert contract in out
    assert culprit in out
    assert "0 broken" not in out
