"""Fuzz (hypothesis): any bytes as config.toml give a Config or a ConfigError naming the problem, never another
exception (fuzz/config_target.py is the atheris twin)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from laporgub.config import Config, ConfigError, load_config, parse_config
from tests.conftest import ROOT, default_data

DEFAULT = (ROOT / "config.toml").read_bytes()
BASE = default_data()
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.text(max_size=20),
              st.sampled_from(["", "0", "-1", "abc", "sqlite:///", "127.0.0.1:99999", "*", "Asia/Nowhere"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8,
)


def load_bytes(raw: bytes) -> Config:
    with tempfile.NamedTemporaryFile(suffix=".toml", dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as f:
        f.write(raw)
        f.flush()
        return load_config(f.name)


def check(raw: bytes) -> None:
    try:
        config = load_bytes(raw)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert isinstance(config, Config)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(DEFAULT)))
def test_half_written_config_is_a_config_error_or_valid(cut: int) -> None:
    check(DEFAULT[:cut])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(DEFAULT) - 1), st.integers(0, 255)), min_size=1, max_size=5))
def test_corrupted_bytes_in_config_are_a_config_error_or_valid(flips: list[tuple[int, int]]) -> None:
    raw = bytearray(DEFAULT)
    for i, b in flips:
        raw[i] = b
    check(bytes(raw))


@given(st.binary(max_size=300))
def test_any_bytes_are_a_config_error(raw: bytes) -> None:
    check(raw)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data[:3]):
            out += paths(v, (*prefix, i))
    return out


PATHS = paths(BASE)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), VALUES, st.booleans()), min_size=1, max_size=4))
def test_any_value_at_any_key_is_a_config_error_or_valid(changes: list[tuple[tuple[Any, ...], Any, bool]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value, delete in changes:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            if delete:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        config = parse_config(data)
    except ConfigError as exc:
        assert exc.problems
        return
    assert isinstance(config, Config)
