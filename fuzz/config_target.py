"""atheris target: the config loader. Any bytes as config.toml -> Config or ConfigError, never another exception.

    python fuzz/config_target.py CORPUS_DIR [-max_total_time=60]   (copy fuzz/seeds/config to CORPUS_DIR first)
"""

import os
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["laporgub"]):
    from laporgub.config import Config, ConfigError, load_config

_FD, _PATH = tempfile.mkstemp(suffix=".toml", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)


def test_one_input(data: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(data)
    try:
        config = load_config(_PATH)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) for p in exc.problems)
        return
    assert isinstance(config, Config)


if __name__ == "__main__":
    try:
        atheris.Setup(sys.argv, test_one_input)
        atheris.Fuzz()
    finally:
        os.unlink(_PATH)
