"""The atheris targets in fuzz/ run for a short budget each in CI (a crash fails the test, its input is printed).

Each target runs as its own process on a copy of its committed seed corpus (libFuzzer
adds what it finds to the corpus directory; the committed seeds stay small). Longer:
``python fuzz/<name>_target.py DIR -max_total_time=600``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
BUDGET_SECONDS = 2

try:
    import atheris  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"atheris cannot be imported ({exc}); pip install -e '.[test]' installs it", allow_module_level=True)

TARGETS = ["pdu", "at", "config", "commands", "api"]


@pytest.mark.parametrize("name", TARGETS)
def test_atheris_target_finds_no_crash_in_its_budget(name: str, tmp_path: Path) -> None:
    script = FUZZ / f"{name}_target.py"
    seeds = FUZZ / "seeds" / name
    assert script.is_file() and any(seeds.iterdir()), "target and seeds are committed"
    if name == "api":
        pytest.importorskip("laporgub.api.app", reason="the website API (laporgub/api/) is not there")
    corpus = tmp_path / "corpus"
    shutil.copytree(seeds, corpus)
    proc = subprocess.run(
        [sys.executable, str(script), str(corpus), f"-max_total_time={BUDGET_SECONDS}", "-rss_limit_mb=2048",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    assert proc.returncode == 0 and not crashes, f"{name}: {crashes}\n{proc.stderr[-4000:]}"
    runs = [line for line in proc.stderr.splitlines() if line.startswith("stat::number_of_executed_units")]
    assert runs and int(runs[0].split(":")[-1]) > 100, proc.stderr[-2000:]  # it really ran
