"""Copy the default keyword lists of ``laporgub/data/keywords.toml`` into the config files.

The service reads its keywords from config.toml; the package's defaults live in
``laporgub/data/keywords.toml``. After changing the defaults, run from the repository root::

    python tools/sync_keywords.py          # rewrite config.toml and laporgub/data/config.toml
    python tools/sync_keywords.py --check  # exit 1 when a config file differs from the defaults

Only the ``keywords`` and ``negative_keywords`` arrays of each ``[groups.<key>]`` table and
the ``keywords`` array of ``[spam]`` are replaced, as written in keywords.toml; every other
line (names, chat ids, comments) stays as it is.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = ROOT / "laporgub" / "data" / "keywords.toml"
CONFIGS = (ROOT / "config.toml", ROOT / "laporgub" / "data" / "config.toml")
_TABLE = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$", re.MULTILINE)
_ARRAY = re.compile(r"^(?P<key>keywords|negative_keywords) = \[.*?^\]\n", re.MULTILINE | re.DOTALL)


def _arrays(text: str) -> dict[tuple[str, str], str]:
    """(table, key) -> the array's text, for every keyword array of a TOML file."""
    found: dict[tuple[str, str], str] = {}
    tables = list(_TABLE.finditer(text))
    for i, table in enumerate(tables):
        end = tables[i + 1].start() if i + 1 < len(tables) else len(text)
        for array in _ARRAY.finditer(text, table.end(), end):
            found[(table.group("name"), array.group("key"))] = array.group(0)
    return found


def synced(config: str, defaults: str) -> str:
    """``config`` with its keyword arrays replaced by those of ``defaults``."""
    wanted = _arrays(defaults)
    out: list[str] = []
    tables = list(_TABLE.finditer(config))
    out.append(config[: tables[0].start()] if tables else config)
    for i, table in enumerate(tables):
        end = tables[i + 1].start() if i + 1 < len(tables) else len(config)
        body = config[table.start(): end]
        name = table.group("name")
        body = _ARRAY.sub(lambda m, name=name: wanted.get((name, m.group("key")), m.group(0)), body)
        out.append(body)
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file differs")
    args = parser.parse_args()
    defaults = DEFAULTS.read_text(encoding="utf-8")
    status = 0
    for path in CONFIGS:
        text = path.read_text(encoding="utf-8")
        new = synced(text, defaults)
        tomllib.loads(new)  # never write a file that does not parse
        if new == text:
            continue
        if args.check:
            print(f"{path.relative_to(ROOT)}: keyword lists differ from {DEFAULTS.relative_to(ROOT)}")
            status = 1
        else:
            path.write_text(new, encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: keyword lists updated")
    return status


if __name__ == "__main__":
    sys.exit(main())
