"""What every command shares: the exit codes, ``--config``, and loading the config with one line per problem."""

from __future__ import annotations

import argparse
import sys

from laporgub.config import Config, default_config_path, load_config
from laporgub.exceptions import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a subcommand the ``--config`` option."""
    p.add_argument("--config", default=default_config_path(),
                   help="config file (default: $LAPORGUB_CONFIG, then ./config.toml)")
    return p


def load(path: str) -> Config | None:
    """The config at ``path``, or None after printing every problem to stderr (the caller exits 2)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return None
