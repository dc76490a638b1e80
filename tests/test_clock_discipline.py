"""Nothing in the service reads the wall clock on its own: it asks the one Clock it was built with.

Then a test can put the whole service at 00:05 WIB on the 1st of a month, on 31 December
or on 29 February (laporgub/clock.py), and every ticket date, report month, lease and
retry follows. Monotonic time (I/O timeouts, the stop budget) is allowed: it measures
the machine, not the service's day.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "laporgub"
#: The clock itself; the emulators stand for the outside world (a modem stamps SMS with its own clock).
EXEMPT = {ROOT / "clock.py"}
EXEMPT_DIRS = {ROOT / "sim"}
WALL = {("time", "time"), ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}


def wall_clock_reads(source: str, filename: str = "<src>") -> list[str]:
    """``time.time`` (called or passed as a default), ``datetime.now()``, ``date.today()`` ... in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", None)
        if (owner, node.attr) in WALL:
            found.append(f"{filename}:{node.lineno}: {owner}.{node.attr}")
    return found


def _no_argument_calls(source: str, filename: str) -> list[str]:
    """``time.gmtime()``/``localtime()``/``ctime()`` without an argument read the wall clock too."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                and node.func.attr in ("gmtime", "localtime", "ctime") and getattr(node.func.value, "id", "") == "time":
            found.append(f"{filename}:{node.lineno}: time.{node.func.attr}()")
    return found


def scan(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    name = str(path.relative_to(ROOT.parent))
    return wall_clock_reads(source, name) + _no_argument_calls(source, name)


def test_only_the_clock_reads_the_wall_clock() -> None:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        if path in EXEMPT or any(d in path.parents for d in EXEMPT_DIRS):
            continue
        problems += scan(path)
    assert problems == []


def test_the_check_sees_each_way_of_reading_the_wall_clock() -> None:
    assert wall_clock_reads("import time\nnow = time.time()\n")
    assert wall_clock_reads("import time\ndef f(clock=time.time): pass\n")
    assert wall_clock_reads("from datetime import datetime\nd = datetime.now()\n")
    assert wall_clock_reads("import datetime\nd = datetime.date.today()\n")
    assert wall_clock_reads("import time\nt = time.monotonic()\n") == []
    assert wall_clock_reads("x = self.clock.time()\n") == []
